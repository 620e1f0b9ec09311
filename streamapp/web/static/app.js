// streamapp web page: jobs with live progress, submit by path, clips with captions, and the score plot.
// Plain browser JavaScript, no build step and nothing fetched from outside this worker.
"use strict";

const STAGES = ["extract", "score", "export"];
const POLL_MS = 1000;
const TOKEN_KEY = "streamapp-token";
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  token: null,
  jobs: new Map(),      // job_id -> latest record
  selected: null,       // job_id shown in the detail panel
  loaded: new Map(),    // job id -> what of it is drawn ("done", or "live:N" for a live job with N clips)
  pollTimer: null,
};

// ---------------------------------------------------------------------------------------------
// Token: from the URL (#token=... or ?token=...) once, then kept in sessionStorage.

function readToken() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const query = new URLSearchParams(location.search);
  const given = hash.get("token") || query.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    hash.delete("token");
    query.delete("token");
    const rest = query.toString();
    const frag = hash.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + (frag ? "#" + frag : ""));
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function askForToken() {
  document.getElementById("token-panel").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!response.ok) {
    const error = (body && body.error) || { code: "http_" + response.status, message: response.statusText };
    if (response.status === 401) askForToken();
    throw new ApiError(response.status, error.code, error.message);
  }
  return body;
}

function fileUrl(jobId, name) {
  const url = `/api/jobs/${encodeURIComponent(jobId)}/files/${encodeURIComponent(name)}`;
  return state.token ? `${url}?token=${encodeURIComponent(state.token)}` : url;
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers (text always goes through textContent).

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function ago(epochSeconds) {
  if (!epochSeconds) return "";
  const d = Math.max(0, Date.now() / 1000 - epochSeconds);
  if (d < 60) return `${Math.round(d)} s ago`;
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  return new Date(epochSeconds * 1000).toLocaleString();
}

function jobName(job) {
  return job.name || basename(job.path);
}

function basename(path) {
  return (path || "").split(/[\\/]/).pop() || path || "";
}

// ---------------------------------------------------------------------------------------------
// Jobs table

// Fraction done of each stage, from the job's state, stage and that stage's progress.
function stageFractions(job) {
  if (job.state === "done") return STAGES.map(() => 1);
  const current = STAGES.indexOf(job.stage);
  if (job.state === "queued" || current < 0) return STAGES.map(() => 0);
  return STAGES.map((_, i) => (i < current ? 1 : i === current ? Number(job.progress) || 0 : 0));
}

function progressCell(job) {
  const fractions = stageFractions(job);
  const current = STAGES.indexOf(job.stage);
  const box = el("div", { class: "stages" });
  STAGES.forEach((stage, i) => {
    const pct = Math.round(fractions[i] * 100);
    let cls = "stage";
    if (fractions[i] >= 1) cls += " complete";
    if (job.state === "failed" && i === current) cls += " failed";
    const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
                            "aria-valuenow": String(pct), "aria-label": `${stage} progress` },
                   el("span", { style: `width: ${pct}%` }));
    box.append(el("div", { class: cls, "data-stage": stage }, el("span", { text: `${stage} ${pct}%` }), bar));
  });
  return box;
}

function renderJobRow(job) {
  const row = el("tr", { class: "job" + (job.job_id === state.selected ? " selected" : ""), "data-job-id": job.job_id,
                         "data-state": job.state, tabindex: "0" });
  const video = el("td", { class: "path", title: job.path || "" }, el("span", { text: jobName(job) }));
  if (job.priority && job.priority !== "normal") video.append(el("span", { class: `priority ${job.priority}`, text: job.priority }));
  if (job.error) video.append(el("div", { class: "error-line", text: `${job.error.code}: ${job.error.message}` }));
  row.append(
    el("td", { class: "mono", text: job.job_id }),
    video,
    el("td", {}, el("span", { class: `badge ${job.state}`,
                              text: job.error && job.error.code === "cancelled" ? "cancelled" : job.state })),
    el("td", {}, progressCell(job)),
    el("td", { text: ago(job.updated_at) }),
  );
  return row;
}

function renderJobs(jobs) {
  const body = document.getElementById("jobs-body");
  const rows = jobs.map(renderJobRow);
  if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: "5", text: "No jobs yet." })));
  body.replaceChildren(...rows);
}

async function poll() {
  const connection = document.getElementById("connection");
  try {
    const { jobs } = await api("/api/jobs?limit=200");
    state.jobs = new Map(jobs.map((job) => [job.job_id, job]));
    renderJobs(jobs);
    connection.textContent = `live · ${new Date().toLocaleTimeString()}`;
    connection.classList.remove("down");
    if (state.selected) await refreshDetail();
  } catch (error) {
    connection.textContent = error.status === 401 ? "token needed" : "connection lost, retrying…";
    connection.classList.add("down");
  } finally {
    state.pollTimer = setTimeout(poll, POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Job detail: status, score plot and clips

function selectJob(jobId) {
  state.selected = jobId;
  state.loaded.delete(jobId);
  document.querySelectorAll("#jobs-body tr.job").forEach((row) => {
    row.classList.toggle("selected", row.dataset.jobId === jobId);
  });
  const detail = document.getElementById("detail");
  detail.hidden = false;
  document.getElementById("detail-title").textContent = `Job ${jobId}`;
  document.getElementById("plot").replaceChildren();
  document.getElementById("clips").replaceChildren();
  refreshDetail();
  detail.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function refreshDetail() {
  const jobId = state.selected;
  let job = state.jobs.get(jobId);
  if (!job) {
    try { job = await api(`/api/jobs/${encodeURIComponent(jobId)}`); } catch (error) { return; }
  }
  const status = document.getElementById("detail-status");
  const ended = job.state === "done" || job.state === "failed";
  const cancelled = job.state === "failed" && job.error && job.error.code === "cancelled";
  const live = job.live;  // a live job: how much of its stream is analysed, and its clips so far
  const where = job.state === "done" ? "finished" : cancelled ? `cancelled in ${job.stage}`
    : job.state === "failed" ? `failed in ${job.stage}` : job.cancel_requested ? "cancelling"
    : job.state === "queued" ? "waiting for a worker"
    : live ? `live · ${Math.round(live.edge_s)} s analysed · ${live.clips} clip${live.clips === 1 ? "" : "s"}`
      + (job.stop_requested ? " · ending" : "")
    : `${job.stage} ${Math.round((job.progress || 0) * 100)}%`;
  status.textContent = `${jobName(job)} · ${where}` + (job.error && !cancelled ? ` · ${job.error.message}` : "");
  document.getElementById("detail-cancel").hidden = ended || Boolean(job.cancel_requested);
  document.getElementById("detail-stop").hidden = ended || !live || Boolean(job.stop_requested);
  // Clips are loaded once a job is done; a live job's each time it has made another.
  const made = job.state === "done" ? "done" : live && live.clips > 0 ? `live:${live.clips}` : null;
  if (made !== null && state.loaded.get(jobId) !== made) {
    state.loaded.set(jobId, made);
    await loadResults(jobId);
  } else if (made === null && !state.loaded.has(jobId)) {
    document.getElementById("clips").replaceChildren(el("p", { class: "detail-status",
      text: live ? "Clips appear here as the stream is clipped." : "Clips appear here when the job is done." }));
  }
}

async function loadResults(jobId) {
  let manifest;
  try {
    manifest = await api(`/api/jobs/${encodeURIComponent(jobId)}/manifest`);
  } catch (error) {
    state.loaded.delete(jobId);  // try again on the next poll
    return;
  }
  if (state.selected !== jobId) return;
  renderClips(jobId, manifest);
  let series = null;
  try { series = await api(`/api/jobs/${encodeURIComponent(jobId)}/signals`); } catch (error) { series = null; }
  if (state.selected !== jobId) return;
  renderPlot(document.getElementById("plot"), series, manifest);
}

function percent(value, all) {
  // subscores may be 0..1 or 0..100; show them on 0..100
  const fractional = all.every((v) => v <= 1);
  return Math.max(0, Math.min(100, fractional ? value * 100 : value));
}

function renderClips(jobId, manifest) {
  const cards = manifest.clips.map((clip, index) => {
    const video = el("video", {
      controls: true, preload: "metadata", playsinline: true, src: fileUrl(jobId, clip.file),
      poster: clip.thumbnail ? fileUrl(jobId, clip.thumbnail) : null,
    });
    if (clip.captions_vtt) {
      // Burned-in captions are already in the picture: the subtitle track starts off, or they would show twice.
      video.append(el("track", { kind: "captions", srclang: manifest.language || "en", label: "Captions",
                                 default: clip.captions_burned === false,
                                 src: fileUrl(jobId, clip.captions_vtt) }));
    }
    const values = Object.values(clip.subscores || {});
    const subscores = el("div", { class: "subscores" });
    for (const [name, value] of Object.entries(clip.subscores || {})) {
      const pct = percent(value, values);
      subscores.append(el("span", { text: name.replace(/_/g, " ") }),
                       el("div", { class: "bar" }, el("span", { style: `width: ${pct}%` })),
                       el("span", { text: String(Math.round(pct)) }));
    }
    const links = el("div", { class: "clip-links" },
                     el("a", { href: fileUrl(jobId, clip.file) + (state.token ? "&" : "?") + "download=1",
                               text: "download mp4" }));
    if (clip.captions_srt) links.append(el("a", { href: fileUrl(jobId, clip.captions_srt), text: "captions (srt)" }));
    const editorSlot = el("div", { class: "editor-slot" });
    links.append(el("button", { type: "button", class: "link edit-clip", text: "edit clip", onclick: () => {
      const reload = () => { state.loaded.delete(jobId); refreshDetail(); };
      new ClipEditor(jobId, clip, manifest, reload).open(editorSlot);
    } }));
    const version = clip.version > 1 ? ` · v${clip.version}` : "";
    return el("article", { class: "clip", id: `clip-${index + 1}`, "data-clip-id": clip.id,
                           "data-version": String(clip.version || 1) },
      el("div", { class: "clip-head" },
         el("h3", { text: `#${index + 1} · ${clock(clip.start_s)}–${clock(clip.end_s)}${version}` }),
         el("span", { class: "score", title: "score" }, String(Math.round(clip.score)), el("small", { text: " /100" }))),
      clip.title ? el("h4", { class: "clip-title", text: clip.title }) : null,
      video,
      el("p", { class: "reason", text: clip.reason }),
      subscores,
      links,
      editorSlot);
  });
  if (!cards.length) cards.push(el("p", { class: "detail-status", text: "This job produced no clips." }));
  document.getElementById("clips").replaceChildren(...cards);
}

// Keep at most `limit` points: the max of each bucket, so peaks survive.
function downsample(ts, ys, limit) {
  if (ts.length <= limit) return [ts, ys];
  const step = ts.length / limit;
  const outT = [], outY = [];
  for (let i = 0; i < limit; i++) {
    const a = Math.floor(i * step), b = Math.max(a + 1, Math.floor((i + 1) * step));
    let best = a;
    for (let j = a; j < b; j++) if (ys[j] > ys[best]) best = j;
    outT.push(ts[best]);
    outY.push(ys[best]);
  }
  return [outT, outY];
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

function renderPlot(container, series, manifest) {
  const ts = (series && series.t_s) || [];
  const ys = (series && series.score) || [];
  if (!ts.length || ts.length !== ys.length) {
    container.replaceChildren(el("p", { class: "empty-plot", text: "No score signal for this job." }));
    return;
  }
  const W = 1000, H = 220, L = 44, R = 12, T = 12, B = 28;
  const duration = Math.max(ts[ts.length - 1], (manifest.source && manifest.source.duration_s) || 0, 1e-6);
  const top = Math.max(...ys);
  const yMax = top <= 1 ? 1 : top <= 100 ? 100 : top;
  const x = (t) => L + (t / duration) * (W - L - R);
  const y = (v) => T + (1 - Math.max(0, v) / yMax) * (H - T - B);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "score over time",
                            class: "score-plot" });

  for (const frac of [0, 0.5, 1]) {
    root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(frac * yMax), y2: y(frac * yMax) }));
    root.append(svg("text", { class: "tick", x: L - 6, y: y(frac * yMax) + 4, "text-anchor": "end" },
                    String(Math.round(frac * yMax * 100) / 100)));
  }
  const step = niceStep(duration, 8);
  for (let t = 0; t <= duration + 1e-9; t += step) {
    root.append(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4 }));
    root.append(svg("text", { class: "tick", x: x(t), y: H - B + 17, "text-anchor": "middle" }, clock(t)));
  }

  // chosen clips: shaded spans under the curve
  manifest.clips.forEach((clip, index) => {
    const span = svg("rect", { class: "clip-span", x: x(clip.start_s), y: T, width: Math.max(1, x(clip.end_s) - x(clip.start_s)),
                               height: H - T - B, "data-clip-id": clip.id });
    span.append(svg("title", {}, `#${index + 1}: ${clock(clip.start_s)}–${clock(clip.end_s)}, score ${Math.round(clip.score)}`));
    span.addEventListener("click", () => {
      const card = document.getElementById(`clip-${index + 1}`);
      if (card) card.scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
    root.append(span, svg("text", { class: "clip-label", x: x(clip.start_s) + 4, y: T + 13 }, `#${index + 1}`));
  });

  const [pt, py] = downsample(ts, ys, 1500);
  const points = pt.map((t, i) => `${x(t).toFixed(1)},${y(py[i]).toFixed(1)}`);
  root.append(svg("polygon", { class: "area",
                               points: `${x(pt[0]).toFixed(1)},${y(0)} ${points.join(" ")} ${x(pt[pt.length - 1]).toFixed(1)},${y(0)}` }));
  root.append(svg("polyline", { class: "line", points: points.join(" ") }));
  root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  root.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  container.replaceChildren(root);
}

// ---------------------------------------------------------------------------------------------
// Forms

async function submitJob(event) {
  event.preventDefault();
  const result = document.getElementById("submit-result");
  const { priority, options } = formChoices();
  const body = { path: document.getElementById("submit-path").value.trim(), priority, options,
                 live: document.getElementById("submit-live").checked };
  try {
    const job = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify(body) });
    result.className = "form-result ok";
    result.textContent = `Queued job ${job.job_id}.`;
    document.getElementById("submit-path").value = "";
  } catch (error) {
    result.className = "form-result error";
    result.textContent = `${error.code || "error"}: ${error.message}`;
  }
}

function formChoices() {
  const options = {};
  const maxClips = parseInt(document.getElementById("submit-max-clips").value, 10);
  if (maxClips > 0) options.max_clips = maxClips;
  const aspect = document.getElementById("submit-aspect").value;
  if (aspect) options.aspect = aspect;
  return { priority: document.getElementById("submit-priority").value, options };
}

// An upload through XMLHttpRequest, the one browser API that reports upload progress.
function uploadFile(event) {
  event.preventDefault();
  const input = document.getElementById("upload-file");
  const result = document.getElementById("upload-result");
  const bar = document.getElementById("upload-progress");
  const file = input.files && input.files[0];
  if (!file) return;
  const { priority, options } = formChoices();
  const query = new URLSearchParams({ priority, options: JSON.stringify(options) });
  const body = new FormData();
  body.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/uploads?${query}`);
  if (state.token) xhr.setRequestHeader("Authorization", "Bearer " + state.token);
  bar.hidden = false;
  bar.value = 0;
  result.className = "form-result";
  result.textContent = `Uploading ${file.name}…`;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
  xhr.onerror = () => { result.className = "form-result error"; result.textContent = "upload failed: no connection"; };
  xhr.onload = () => {
    let answer = null;
    try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
    if (xhr.status === 201 && answer) {
      bar.value = 100;
      result.className = "form-result ok";
      result.textContent = `Uploaded ${file.name}; queued job ${answer.job_id}.`;
      input.value = "";
      clearTimeout(state.pollTimer);
      poll();
    } else {
      const error = (answer && answer.error) || { code: `http_${xhr.status}`, message: xhr.statusText };
      if (xhr.status === 401) askForToken();
      result.className = "form-result error";
      result.textContent = `${error.code}: ${error.message}`;
    }
  };
  xhr.send(body);
}

function useToken(event) {
  event.preventDefault();
  const value = document.getElementById("token-input").value.trim();
  if (!value) return;
  state.token = value;
  sessionStorage.setItem(TOKEN_KEY, value);
  document.getElementById("token-panel").hidden = true;
  clearTimeout(state.pollTimer);
  poll();
}

// A request about the selected job from its detail's button (end its stream, cancel it).
async function askForSelected(action, buttonId, failure) {
  const jobId = state.selected;
  const button = document.getElementById(buttonId);
  button.disabled = true;
  try {
    const job = await api(`/api/jobs/${encodeURIComponent(jobId)}/${action}`, { method: "POST" });
    state.jobs.set(jobId, job);
  } catch (error) {
    document.getElementById("detail-status").textContent = `${failure}: ${error.message}`;
  } finally {
    button.disabled = false;
  }
  if (state.selected === jobId) await refreshDetail();
}

const stopSelected = () => askForSelected("stop", "detail-stop", "could not end the stream");
const cancelSelected = () => askForSelected("cancel", "detail-cancel", "could not cancel");

function init() {
  state.token = readToken();
  document.getElementById("submit-form").addEventListener("submit", submitJob);
  document.getElementById("upload-form").addEventListener("submit", uploadFile);
  document.getElementById("token-form").addEventListener("submit", useToken);
  document.getElementById("detail-cancel").addEventListener("click", cancelSelected);
  document.getElementById("detail-stop").addEventListener("click", stopSelected);
  document.getElementById("detail-close").addEventListener("click", () => {
    state.selected = null;
    document.getElementById("detail").hidden = true;
    document.querySelectorAll("#jobs-body tr.selected").forEach((row) => row.classList.remove("selected"));
  });
  const body = document.getElementById("jobs-body");
  const open = (event) => {
    const row = event.target.closest("tr.job");
    if (row) selectJob(row.dataset.jobId);
  };
  body.addEventListener("click", open);
  body.addEventListener("keydown", (event) => { if (event.key === "Enter") open(event); });
  poll();
}

document.addEventListener("DOMContentLoaded", init);
