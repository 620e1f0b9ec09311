"""Does streamapp pick the moments a viewer would? A labelled set of scripted talks, scored two ways.

    python -m bench.highlights [--voiced]

Each talk has sections on different subjects, a planted hook opening each section and a payoff closing it,
and for each section a keyword that names it without using its words ("sunlight" for light and windows).
Transcript mode (default) scores the script with exact sentence times; ``--voiced`` speaks every sentence
with espeak-ng, writes a video and runs the real extract (Whisper, VAD, embeddings) on it first.
Each talk is scored with sentence embeddings (meaning) and without (repeated words only, as before).

Figures:
- keyword -> section: the top clip for each unspoken keyword lies (by its middle) in that section;
- hook recall@3: share of the top 3 clips (no keyword) that open on a planted hook sentence;
- dangling openings: chosen clips whose first sentence starts with "and", "but", "so", "he", ...;
- topic boundary F1: found topic boundaries within 2 s of a true section start;
- NDCG@3 per keyword: graded relevance 2 = in the section and opening on its hook, 1 = in the section.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from streamapp.analysis.narrative import traits  # noqa: E402
from streamapp.analysis.topics import content_tokens  # noqa: E402
from streamapp.stages.extract import AnalysisParams, Signals, extract  # noqa: E402
from streamapp.stages.score import ClipOptions, score  # noqa: E402
from tests.meaning_talk import GARDEN, GARDEN_KEYWORDS, talk_signals, talk_words  # noqa: E402
from tests.meaning_talk import SECTIONS as HOME  # noqa: E402
from tests.meaning_talk import UNSPOKEN_KEYWORDS as HOME_KEYWORDS  # noqa: E402

TALKS: dict[str, tuple[dict[str, list[str]], dict[str, str]]] = {
    "home": (HOME, HOME_KEYWORDS),
    "travel": ({
        "trains": [
            "Did you know the night train is faster than flying?",
            "You board in the evening with a book and a blanket.",
            "The carriage rocks gently across the border.",
            "Stations glide past while the whole country sleeps.",
            "You step off in the city centre, not at a distant airport.",
            "So the lesson is clear: book the sleeper for trips under a thousand miles.",
        ],
        "packing": [
            "Here is the mistake almost every traveller makes.",
            "They fill a huge suitcase with clothes they never wear.",
            "Roll your shirts instead of folding them.",
            "Bring one pair of shoes and one warm layer.",
            "Everything should fit in a bag you can lift overhead.",
            "Try packing for three days, even for a two week trip.",
        ],
        "language": [
            "Five words will change how locals treat you.",
            "Learn to say hello, please, and thank you.",
            "Add sorry and goodbye to the list.",
            "People smile when a visitor makes the effort.",
            "Nobody minds a strong accent or a clumsy grammar.",
            "Remember to practise them on the plane before you land.",
        ],
    }, {"trains": "railway", "packing": "luggage", "language": "phrases"}),
    "garden": (GARDEN, GARDEN_KEYWORDS),
}
# More keywords per section, written down before any was tried, so a change of method is judged on words it
# was not tuned on. Any whose stem the section says is dropped (it would be a match by string).
MORE_KEYWORDS: dict[str, dict[str, list[str]]] = {
    "home": {"light": ["windows", "brightness", "daylight"], "money": ["budget", "finance"],
             "sleep": ["rest", "bedtime"], "food": ["recipe", "nutrition"]},
    "travel": {"trains": ["locomotive", "commute"], "packing": ["suitcase", "backpack"],
               "language": ["vocabulary", "communication"]},
    "garden": {"soil": ["manure", "nutrients"], "water": ["sprinkler", "hydration"],
               "bees": ["pollination", "wildflowers"]},
}
# Talks on one subject each: a topic boundary found in them is a false one (it would stop a clip from
# holding the whole idea).
ONE_TOPIC_TALKS: dict[str, list[str]] = {
    "coffee": [
        "Why does coffee at a good cafe taste so much better than at home?",
        "The answer starts with the beans you buy.",
        "Whole beans keep their flavour for weeks, ground coffee loses it in days.",
        "Grind just before you brew, and grind evenly.",
        "A cheap blade grinder makes dust and boulders at the same time.",
        "A burr grinder gives every particle the same size.",
        "Water matters more than most people think.",
        "Use filtered water just off the boil, around ninety degrees.",
        "Boiling water scorches the grounds and brings out bitterness.",
        "Then there is the ratio of coffee to water.",
        "Start with sixty grams of coffee for every litre.",
        "Weigh it once and you will never guess again.",
        "Let the grounds bloom for thirty seconds before the main pour.",
        "That first splash releases trapped gas and evens the extraction.",
        "Pour slowly in circles and keep the bed level.",
        "If it tastes sour, grind finer next time.",
        "If it tastes bitter, grind a little coarser.",
        "So remember: fresh beans, even grind, hot water, and a scale.",
    ],
    "running": [
        "Most new runners quit in the first month, and it is not because they are lazy.",
        "They simply start too fast.",
        "Your heart and lungs adapt within weeks, but tendons take months.",
        "That gap is where injuries come from.",
        "So slow down until you can hold a conversation.",
        "It will feel almost too easy, and that is the point.",
        "Add no more than a tenth to your weekly distance.",
        "Every fourth week, run less and let your body catch up.",
        "Shoes matter less than the shops will tell you.",
        "Pick a pair that feels comfortable the moment you put it on.",
        "Sleep is when the actual improvement happens.",
        "A short run on tired legs teaches you nothing.",
        "Once a week, add a few short fast strides at the end.",
        "They teach your legs to move quickly without strain.",
        "Track how you feel, not only how far you went.",
        "After three months, the long run will feel like a reward.",
        "Many people sign up for a race to stay motivated.",
        "So remember: start slow, build gently, and rest on purpose.",
    ],
}
TOLERANCE_S = 2.0


def voiced_signals(sections: dict[str, list[str]], use_embeddings: bool, tmp: str):
    """Speak the talk, extract it for real; returns signals and the true spans/hooks on its timeline."""
    from streamapp.analysis.asr_models import model_dir
    from streamapp.analysis.transcript import AsrParams
    from tests.talks import make_talk

    sentences = [(s, "en-us", 165) for lines in sections.values() for s in lines]
    talk = make_talk(Path(tmp) / "talk.mp4", sentences=sentences, pauses=[0.6] * (len(sentences) - 1))
    said = talk["sentences"]
    spans, hooks, k = {}, {}, 0
    for name, lines in sections.items():
        spans[name] = (said[k][0], said[k + len(lines) - 1][1])
        hooks[name] = said[k][0]
        k += len(lines)
    asr = AsrParams(model_dir=str(model_dir("tiny.en")), language="en", threads=2)
    signals = extract(talk["path"], AnalysisParams(sentence_embeddings=use_embeddings), asr=asr)
    return signals, spans, hooks


def _section(t: float, spans: dict[str, tuple[float, float]]) -> str | None:
    return next((n for n, (a, b) in spans.items() if a - 0.5 <= t <= b + 0.5), None)


def ndcg(gains: list[float], ideal: list[float], k: int = 3) -> float:
    def dcg(g: list[float]) -> float:
        return sum(x / math.log2(i + 2) for i, x in enumerate(g[:k]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(gains) / best if best > 0 else 0.0


def unspoken(sections: dict[str, list[str]], keywords: dict[str, list[str]]) -> dict[str, list[str]]:
    """The keywords whose stems their section never says."""
    said = {name: {t for line in lines for t in content_tokens(line)} for name, lines in sections.items()}
    return {name: [k for k in ks if not set(content_tokens(k)) & said[name]] for name, ks in keywords.items()}


def keyword_sections(signals: Signals, spans: dict, keywords: dict[str, list[str]]) -> tuple[int, int]:
    """(keywords whose top clip lies in their section, keywords tried)."""
    opts = {"min_duration_s": 10.0, "max_duration_s": 28.0}
    tried = [(name, k) for name, ks in keywords.items() for k in ks]
    hits = 0
    for name, keyword in tried:
        top = score(signals, ClipOptions(max_clips=1, keywords=(keyword,), **opts))
        hits += bool(top) and _section((top[0].start_s + top[0].end_s) / 2, spans) == name
    return hits, len(tried)


def evaluate(signals: Signals, spans: dict, hooks: dict, keywords: dict[str, str]) -> dict[str, float]:
    opts = {"min_duration_s": 10.0, "max_duration_s": 28.0}
    hits, ndcgs = 0, []
    for name, keyword in keywords.items():
        top = score(signals, ClipOptions(max_clips=3, keywords=(keyword,), **opts))
        if top and _section((top[0].start_s + top[0].end_s) / 2, spans) == name:
            hits += 1
        gains = []
        for c in top:
            inside = _section((c.start_s + c.end_s) / 2, spans) == name
            gains.append(2.0 if inside and abs(c.start_s - hooks[name]) < 1.0 else 1.0 if inside else 0.0)
        ndcgs.append(ndcg(gains, [2.0, 1.0, 1.0]))
    top3 = score(signals, ClipOptions(max_clips=3, **opts))
    hook_recall = sum(any(abs(c.start_s - h) < 1.0 for h in hooks.values()) for c in top3) / max(1, len(top3))
    chosen = score(signals, ClipOptions(max_clips=5, **opts))
    dangling = 0
    for c in chosen:
        first = [w["text"] for w in signals.words if w["start_s"] >= c.start_s - 0.3][:6]
        dangling += bool(first) and traits(" ".join(first)).dangling
    truth = [a for a, _ in list(spans.values())[1:]]
    found = list(signals.topics_s)
    tp = sum(any(abs(f - t) <= TOLERANCE_S for f in found) for t in truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"keyword_hits": hits, "keywords": len(keywords), "ndcg3": float(np.mean(ndcgs)),
            "hook_recall3": hook_recall, "dangling": dangling, "chosen": len(chosen), "topic_f1": f1,
            "titles": [c.title for c in top3]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voiced", action="store_true", help="speak the talks and run the real extract first")
    args = ap.parse_args()
    print(machine(), "| mode:", "voiced (espeak-ng -> Whisper tiny.en)" if args.voiced else "transcript")
    print("| talk | method | unspoken keyword -> its section | NDCG@3 | hook recall@3 | dangling openings | "
          "topic F1 | more keywords -> section |")
    print("|---|---|---|---|---|---|---|---|")
    for talk, (sections, keywords) in TALKS.items():
        for method, use in (("repeated words", False), ("meaning", True)):
            with tempfile.TemporaryDirectory() as tmp:
                if args.voiced:
                    signals, spans, hooks = voiced_signals(sections, use, tmp)
                else:
                    _, spans = talk_words(sections)
                    hooks = {name: a for name, (a, _) in spans.items()}
                    signals = talk_signals(use, sections)
                r = evaluate(signals, spans, hooks, keywords)
                more, tried = keyword_sections(signals, spans, unspoken(sections, MORE_KEYWORDS[talk]))
            print(f"| {talk} | {method} | {r['keyword_hits']}/{r['keywords']} | {r['ndcg3']:.2f} | "
                  f"{r['hook_recall3']:.2f} | {r['dangling']}/{r['chosen']} | {r['topic_f1']:.2f} | {more}/{tried} |")
            if use:
                print(f"|   | titles of the top 3 | {'; '.join(r['titles'])} | | | | | |")
    print()
    print("| one-topic talk | method | topic boundaries found (0 is right) |")
    print("|---|---|---|")
    for talk, lines in ONE_TOPIC_TALKS.items():
        for method, use in (("repeated words", False), ("meaning", True)):
            with tempfile.TemporaryDirectory() as tmp:
                one = {talk: lines}
                signals = voiced_signals(one, use, tmp)[0] if args.voiced else talk_signals(use, one)
            print(f"| {talk} | {method} | {len(signals.topics_s)} |")


if __name__ == "__main__":
    main()
