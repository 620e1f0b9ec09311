"""A scripted talk as a transcript with exact times (a helper, not a test module): four sections on
different subjects, each with a planted hook and a payoff, and for each a keyword that names the section
without using its words."""

from __future__ import annotations

import numpy as np

SECTIONS = {
    "light": [
        "Why do some rooms feel so much happier than others?",
        "Big windows let the morning in.",
        "The walls glow warm and bright by noon.",
        "We painted everything pale so each ray bounces around.",
        "Even a small mirror opposite the glass doubles the glow.",
        "So the lesson is simple: face your desk toward the window.",
    ],
    "money": [
        "Here is the mistake most people make with their paycheck.",
        "They spend first and put aside whatever is left.",
        "Interest grows on itself over the years.",
        "A tiny monthly transfer becomes a large sum by retirement.",
        "Track every expense in a simple notebook for one month.",
        "Try moving ten percent to a separate account on payday.",
    ],
    "sleep": [
        "Three ways to fall asleep faster tonight.",
        "Go to bed at the same hour every night.",
        "Keep the bedroom dark, quiet and cool.",
        "Screens before bed keep the brain alert.",
        "A short walk after dinner helps the body wind down.",
        "That's why the best rest starts hours before you lie down.",
    ],
    "food": [
        "Nobody tells you the secret of a good soup.",
        "Chop the onions finely and fry them slowly.",
        "Add garlic at the end so it does not burn.",
        "Season with salt and a squeeze of lemon.",
        "Let it simmer quietly for twenty minutes.",
        "Remember to taste before you serve it.",
    ],
}
UNSPOKEN_KEYWORDS = {"light": "sunlight", "money": "savings", "sleep": "insomnia", "food": "cooking"}
# A second talk, three sections, and keywords its sections never say (bench/highlights.py scores both).
GARDEN = {
    "soil": [
        "What makes one garden thrive while the next one fails?",
        "It starts underground, long before the first seed.",
        "Worms and fungi turn dead leaves into food for roots.",
        "A thick layer of compost keeps that life fed.",
        "Never leave the ground bare over the winter.",
        "That's why the best gardeners feed the earth, not the plants.",
    ],
    "water": [
        "Here is the truth about watering your tomatoes.",
        "A little every day teaches roots to stay shallow.",
        "A deep soak twice a week sends them down.",
        "Early morning is best, before the heat arrives.",
        "Wet leaves at night invite mould and disease.",
        "Try a simple drip line on a timer this summer.",
    ],
    "bees": [
        "Three flowers will bring the bees back to your yard.",
        "Lavender blooms for months and smells wonderful.",
        "Borage feeds them from spring until autumn.",
        "Wild clover in the lawn is a buffet for them.",
        "Skip the sprays that harm every insect they touch.",
        "So remember: a messy corner is a gift to the pollinators.",
    ],
}
GARDEN_KEYWORDS = {"soil": "fertility", "water": "irrigation", "bees": "wildlife"}
SENTENCE_S = 4.0
GAP_S = 0.6


def talk_words(sections: dict[str, list[str]] = SECTIONS) -> tuple[list[dict], dict[str, tuple[float, float]]]:
    """Words with times, and each section's (start, end); each section opens on its hook sentence."""
    words: list[dict] = []
    spans: dict[str, tuple[float, float]] = {}
    t = 0.5
    for name, sentences in sections.items():
        begin = t
        for sentence in sentences:
            parts = sentence.split()
            step = SENTENCE_S / len(parts)
            for k, part in enumerate(parts):
                words.append({"start_s": round(t + k * step, 3), "end_s": round(t + (k + 0.8) * step, 3),
                              "text": part, "prob": 1.0})
            t += SENTENCE_S + GAP_S
        spans[name] = (begin, t - GAP_S)
    return words, spans


def talk_signals(embed: bool = True, sections: dict[str, list[str]] = SECTIONS):
    """Signals of the talk (flat picture and sound) with sentence vectors and topics as extract makes them."""
    from streamapp.stages.extract import Signals, _meaning

    words, _ = talk_words(sections)
    duration = words[-1]["end_s"] + 1.0
    times = np.arange(int(duration * 25)) / 25
    hop = 0.05
    loud = np.full(int(duration / hop), -20.0, np.float32)
    vectors, topics = _meaning(words, embed)
    return Signals(duration, 25.0, times, np.full(times.size, 2.0, np.float32), [], hop, loud, True, [],
                   words=words, speech=np.ones(loud.size, np.uint8), topics_s=topics, sentence_vectors=vectors)
