"""Which Whisper to use: word error rate, language detection and speed of tiny.en and the multilingual
base, side by side on the same real speech, with 2 threads.

    python -m bench.asr_models [--threads 2]

References are hand-checked transcripts of /work/shared/media/files/speech (English radio and talks;
French, Russian and Mandarin samples from SadTalker's examples). Where the two models disagreed on a
word, the reference takes the reading that fits the sentence; uncertain words are left out of the reference
(the sample is cut mid-word at its end). Character error rate (CER) is used for Mandarin.
"""

from __future__ import annotations

import argparse
import re
import time
import unicodedata

from bench.common import machine
from streamapp.analysis.asr_models import model_dir
from streamapp.analysis.transcript import AsrParams, transcribe_speech
from streamapp.media.probe import probe

SPEECH = "/work/shared/media/files/speech/"
REFERENCES = {  # file: (language, reference text)
    "RD_Radio31_000.wav": ("en", "the holidays are a time of celebrating with loved ones enjoying the festivities "
                                 "and muddling through wisconsin's cold but for many this year has been"),
    "RD_Radio34_002.wav": ("en", "constant attack by politicians who have no medical education or background and "
                                 "who do not know the women that they're"),
    "retalking-audio-1.wav": ("en", "others will be discontinued and need to be replaced by new benchmark rates"),
    "retalking-audio-2.wav": ("en", "you know that while europe has responded to a major challenge it is no doubt"),
    "fayu.wav": ("fr", "en utilisant son navigateur comme d'habitude elle partage les informations sur ses goûts "
                       "et ses habitudes de consommation"),
    "eluosi.wav": ("ru", "новый магазин цветочная лавка мы создадим праздничное настроение круглосуточно"),
    "chinese_news.wav": ("zh", "这两天央视播出的有关扫黑除恶的政论大片披露了不少案件的细节比如广州"),
}


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.lower()).replace(" '", "'")
    return re.sub(r"[^\w' ]+", " ", text)


def error_rate(ref: str, hyp: str, chars: bool) -> float:
    """Levenshtein distance over words (or characters) / reference length; hypothesis trimmed to the
    reference's length plus 2 tokens, since the samples end mid-sentence."""
    r = list(_norm(ref).replace(" ", "")) if chars else _norm(ref).split()
    h = list(_norm(hyp).replace(" ", "")) if chars else _norm(hyp).split()
    h = h[: len(r) + 2]
    prev = list(range(len(h) + 1))
    for i, a in enumerate(r, 1):
        cur = [i]
        for j, b in enumerate(h, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1] / max(1, len(r))


def _to_simplified(text: str) -> str:
    """The few traditional forms Whisper writes in this sample (it often answers Mandarin in them)."""
    table = str.maketrans("這兩視關掃惡論披細節廣註", "这两视关扫恶论披细节广注")
    return text.translate(table)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    tiny, base = str(model_dir("tiny.en")), str(model_dir("base"))
    setups = {
        "tiny.en": AsrParams(model_dir=tiny, language="en", threads=args.threads),
        "base (language set)": None,
        "auto (detect with base)": AsrParams(model_dir=base, language=None, english_model_dir=tiny,
                                             threads=args.threads),
    }
    for name in REFERENCES:  # load every model once before timing
        transcribe_speech(SPEECH + name, setups["auto (detect with base)"])
        break
    print(machine())
    print("| setup | file | language (detected) | WER/CER | seconds | RTF |")
    print("|---|---|---|---|---|---|")
    totals: dict[str, list[float]] = {}
    for name, (lang, ref) in REFERENCES.items():
        duration = probe_audio_s(SPEECH + name)
        for setup, params in setups.items():
            if params is None:
                params = AsrParams(model_dir=base, language=lang, threads=args.threads)
            if setup == "tiny.en" and lang != "en":
                continue
            t = time.perf_counter()
            got = transcribe_speech(SPEECH + name, params)
            took = time.perf_counter() - t
            hyp = " ".join(w["text"] for w in got.words)
            rate = error_rate(ref, _to_simplified(hyp) if lang == "zh" else hyp, chars=lang == "zh")
            totals.setdefault(f"{setup} {'en' if lang == 'en' else 'other'}", []).append(rate)
            print(f"| {setup} | {name} | {lang} ({got.language or '-'}) | {rate:.2f} | {took:.2f} | "
                  f"{took / duration:.3f} |")
    for key, rates in totals.items():
        print(f"mean error, {key}: {sum(rates) / len(rates):.3f} over {len(rates)} files")


def probe_audio_s(path: str) -> float:
    import av

    with av.open(path) as c:
        return float(c.duration / 1e6) if c.duration else probe(path).duration_s


if __name__ == "__main__":
    main()
