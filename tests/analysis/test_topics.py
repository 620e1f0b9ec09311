from streamapp.analysis.topics import content_tokens, depth_scores, topic_boundaries
from streamapp.analysis.transcript import sentence_ends, sentence_starts

_A = ("the rocket engine burns fuel oxygen thrust nozzle launch orbit rocket engine thrust fuel").split(" ")  # noqa: SIM905
_B = ("bread dough flour yeast oven bake crust butter bread flour dough yeast oven sugar").split(" ")  # noqa: SIM905


def _words(tokens, t0=0.0, dt=0.4):
    out = []
    for i, tok in enumerate(tokens):
        text = tok + ("." if i % 10 == 9 else "")
        out.append({"start_s": t0 + i * dt, "end_s": t0 + i * dt + 0.3, "text": text, "prob": 0.9})
    return out


def test_topic_shift_found_near_the_change():
    tokens = (_A * 10)[:140] + (_B * 10)[:140]
    words = _words(tokens)
    bounds = topic_boundaries(words, snap_to=sentence_starts(words))
    change = words[140]["start_s"]
    assert bounds and min(abs(b - change) for b in bounds) <= 10 * 0.4 * 2


def test_one_topic_has_no_boundary():
    assert topic_boundaries(_words((_A * 20)[:280])) == []


def test_depth_and_tokens():
    assert depth_scores([1.0, 0.2, 1.0]) == [0.0, 1.6, 0.0]
    assert content_tokens("The Rockets, launching!") == ["rocket", "launch"]


def test_sentence_edges_from_punctuation_and_pauses():
    words = [
        {"start_s": 0.0, "end_s": 0.4, "text": "Hi"},
        {"start_s": 0.5, "end_s": 0.9, "text": "there."},
        {"start_s": 1.0, "end_s": 1.3, "text": "So"},
        {"start_s": 2.5, "end_s": 2.9, "text": "why?"},
    ]
    assert sentence_ends(words) == [0.9, 1.3, 2.9]
    assert sentence_starts(words) == [0.0, 1.0, 2.5]
