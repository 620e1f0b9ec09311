// Clip editor: trim a clip to the words around it, fix caption words, switch aspect and layout, and render
// that clip again. The edit goes to POST /api/jobs/{job}/clips/{clip}/edit, travels to the job's worker as a
// clip_edit event, and shows in the job's `edits` until the new version is in the manifest.
// Uses app.js's api(), el() and clock(); loaded before it.
"use strict";

const EDIT_POLL_MS = 1000;
const EDIT_WAIT_MS = 10 * 60 * 1000;  // then the page stops waiting (the edit stays queued for the job's worker)
const NUDGE_S = 0.5;
const ASPECTS = ["9:16", "1:1", "4:5", "16:9"];
const CLIP_LAYOUTS = { auto: "auto (per shot)", crop: "crop (follow the speaker)", fit: "fit (whole frame)" };

class ClipEditor {
  // `onDone(edit)` runs once the worker has rendered the edit (state "done").
  constructor(jobId, clip, manifest, onDone) {
    this.jobId = jobId;
    this.clip = clip;
    this.jobAspect = (manifest.options && manifest.options.aspect) || "9:16";
    this.duration = (manifest.source && manifest.source.duration_s) || clip.end_s;
    this.onDone = onDone;
    this.words = [];
    this.fixes = new Map();  // word start (s, as text with 3 decimals) -> corrected text
    this.selected = null;    // the word picked in the transcript
    this.form = null;
  }

  url(tail) {
    return `/api/jobs/${encodeURIComponent(this.jobId)}/clips/${encodeURIComponent(this.clip.id)}/${tail}`;
  }

  async open(container) {
    try {
      this.words = (await api(this.url("words"))).words;
    } catch (error) {
      this.words = [];  // no transcript (a silent video): trimming and framing still work
    }
    for (const fix of this.clip.caption_fixes || []) this.fixes.set(fix.start_s.toFixed(3), fix.text);
    this.form = this.build();
    container.replaceChildren(this.form);
  }

  build() {
    const clip = this.clip;
    // step "any": clip times are frame times (12.033 at 30 fps), and the browser refuses values off the step.
    const time = (name, value) => el("input", { name, type: "number", step: "any", min: "0",
                                                max: String(this.duration), value: value.toFixed(3),
                                                "data-shown": value.toFixed(3) });
    const nudge = (name, delta) => el("button", {
      type: "button", class: "nudge", "data-nudge": `${name}:${delta}`, text: `${delta > 0 ? "+" : "−"}${NUDGE_S} s`,
      onclick: () => this.nudge(name, delta),
    });
    const select = (name, choices, current) => el("select", { name },
      ...Object.entries(choices).map(([value, label]) => el("option", { value, selected: value === current, text: label })));
    const aspects = Object.fromEntries(ASPECTS.map((a) => [a, a]));
    const form = el("form", { class: "clip-editor", onsubmit: (event) => this.submit(event) },
      el("div", { class: "edit-range" },
        el("label", {}, "Start ", time("start_s", clip.start_s)), nudge("start_s", -NUDGE_S), nudge("start_s", NUDGE_S),
        el("label", {}, "End ", time("end_s", clip.end_s)), nudge("end_s", -NUDGE_S), nudge("end_s", NUDGE_S)),
      el("div", { class: "edit-frame" },
        el("label", {}, "Aspect ", select("aspect", aspects, clip.aspect || this.jobAspect)),
        el("label", {}, "Layout ", select("layout", CLIP_LAYOUTS, clip.layout_choice || "auto"))),
      this.transcript(),
      el("div", { class: "edit-actions" },
        el("button", { type: "submit", class: "render-clip", text: "Re-render clip" }),
        el("button", { type: "button", class: "link", text: "close", onclick: () => form.remove() })),
      el("p", { class: "edit-status", role: "status" }));
    form.querySelectorAll("input[type=number]").forEach((input) => input.addEventListener("input", () => this.markRange()));
    return form;
  }

  // The words around the clip: click one to start or end the clip on it, or to correct it.
  transcript() {
    if (!this.words.length) return el("p", { class: "edit-hint", text: "No transcript: trim by time." });
    const list = el("div", { class: "words", "aria-label": "transcript around the clip" });
    for (const word of this.words) {
      const key = word.start_s.toFixed(3);
      list.append(el("button", { type: "button", class: "word", "data-start": key, "data-end": word.end_s.toFixed(3),
                                 text: this.fixes.get(key) ?? word.text, onclick: () => this.pick(word) }));
    }
    const fix = el("div", { class: "word-tools", hidden: true },
      el("input", { name: "word_text", type: "text", maxlength: "100", "aria-label": "the word as it should read" }),
      el("button", { type: "button", class: "fix-word", text: "Fix word", onclick: () => this.fixWord() }),
      el("button", { type: "button", class: "start-here", text: "Start here",
                     onclick: () => this.setTime("start_s", this.selected.start_s) }),
      el("button", { type: "button", class: "end-here", text: "End here",
                     onclick: () => this.setTime("end_s", this.selected.end_s) }));
    const box = el("div", { class: "edit-words" }, el("p", { class: "edit-hint",
      text: "Words around the clip (dimmed: outside it). Pick one to start or end there, or to correct it." }), list, fix);
    queueMicrotask(() => this.markRange());
    return box;
  }

  pick(word) {
    this.selected = word;
    const tools = this.form.querySelector(".word-tools");
    tools.hidden = false;
    const input = tools.querySelector("[name=word_text]");
    input.value = this.fixes.get(word.start_s.toFixed(3)) ?? word.text;
    this.form.querySelectorAll("button.word").forEach((b) => b.classList.toggle("picked", b.dataset.start === word.start_s.toFixed(3)));
    input.focus();
  }

  fixWord() {
    if (!this.selected) return;
    const key = this.selected.start_s.toFixed(3);
    const text = this.form.querySelector("[name=word_text]").value.trim();
    this.fixes.set(key, text);
    const chip = this.form.querySelector(`button.word[data-start="${key}"]`);
    chip.textContent = text || "∅";
    chip.classList.add("fixed");
  }

  value(name) {
    return parseFloat(this.form.querySelector(`[name=${name}]`).value);
  }

  setTime(name, seconds) {
    const bounded = Math.min(Math.max(0, seconds), this.duration);
    this.form.querySelector(`[name=${name}]`).value = bounded.toFixed(3);
    this.markRange();
  }

  nudge(name, delta) {
    this.setTime(name, this.value(name) + delta);
  }

  markRange() {
    if (!this.form) return;
    const start = this.value("start_s"), end = this.value("end_s");
    this.form.querySelectorAll("button.word").forEach((b) => {
      b.classList.toggle("outside", parseFloat(b.dataset.end) <= start || parseFloat(b.dataset.start) >= end);
    });
  }

  // Only what changed goes into the edit; the rest keeps the clip's values.
  changes() {
    const changes = {};
    for (const name of ["start_s", "end_s"]) {  // sent only when changed from what the editor first showed
      const input = this.form.querySelector(`[name=${name}]`);
      if (input.value !== input.dataset.shown) changes[name] = Math.round(parseFloat(input.value) * 1000) / 1000;
    }
    const aspect = this.form.querySelector("[name=aspect]").value;
    if (aspect !== (this.clip.aspect || this.jobAspect)) changes.aspect = aspect;
    const layout = this.form.querySelector("[name=layout]").value;
    if (layout !== (this.clip.layout_choice || "auto")) changes.layout = layout;
    const known = new Map((this.clip.caption_fixes || []).map((f) => [f.start_s.toFixed(3), f.text]));
    const fixes = [...this.fixes].filter(([key, text]) => known.get(key) !== text)
      .map(([key, text]) => ({ start_s: parseFloat(key), text }));
    if (fixes.length) changes.caption_fixes = fixes;
    return changes;
  }

  async submit(event) {
    event.preventDefault();
    const status = this.form.querySelector(".edit-status");
    const button = this.form.querySelector(".render-clip");
    button.disabled = true;
    status.className = "edit-status";
    try {
      const edit = await api(this.url("edit"), { method: "POST", headers: { "Content-Type": "application/json" },
                                                 body: JSON.stringify(this.changes()) });
      status.textContent = `Rendering version ${(this.clip.version || 1) + 1}…`;
      const outcome = await this.follow(edit.edit_id);
      if (outcome.state === "done") {
        status.className = "edit-status ok";
        status.textContent = `Version ${outcome.version} is ready.`;
        this.onDone(outcome);
      } else if (outcome.state === "pending") {
        status.className = "edit-status error";
        status.textContent = "No worker has rendered the edit yet; it stays queued. Reopen the job later.";
      } else {
        status.className = "edit-status error";
        status.textContent = `${outcome.error.code}: ${outcome.error.message}`;
      }
    } catch (error) {
      status.className = "edit-status error";
      status.textContent = `${error.code || "error"}: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  // Wait for the worker: the job's record shows the edit pending, then done or failed.
  async follow(editId) {
    for (const started = Date.now(); Date.now() - started < EDIT_WAIT_MS;) {
      await new Promise((resolve) => setTimeout(resolve, EDIT_POLL_MS));
      let job = null;
      try { job = await api(`/api/jobs/${encodeURIComponent(this.jobId)}`); } catch (error) { continue; }
      const edit = (job.edits || []).find((e) => e.edit_id === editId);
      if (edit && edit.state !== "pending") return edit;
    }
    return { state: "pending" };
  }
}
