import math
import struct

import numpy as np
import orjson

from streamapp.analysis import embeddings, minilm
from streamapp.stages.score import ClipOptions, score
from tests.meaning_talk import GARDEN, talk_signals, talk_words


def test_safetensors_are_read_by_name_shape_and_type(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([7, 8], dtype=np.int64)
    header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]}, "__metadata__": {"format": "pt"}}
    raw = orjson.dumps(header)
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    got = minilm.read_safetensors(path)
    assert set(got) == {"a", "b"}
    assert np.array_equal(got["a"], a) and got["a"].dtype == np.float32
    assert np.array_equal(got["b"], b)


def test_erf_matches_the_exact_function():
    x = np.linspace(-5, 5, 2001)
    exact = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(minilm._erf(x) - exact)) < 2e-7


def test_a_sentence_has_the_same_vector_alone_and_padded_in_a_batch():
    texts = ["Roll your shirts.", "Bring one pair of shoes and one warm layer for the whole long trip north."]
    together = minilm.model().encode(texts)
    alone = minilm.model().encode(texts[:1])
    # The short sentence is padded to the long one's length in the batch: the mask must hide the padding.
    assert np.allclose(together[0], alone[0], atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_other_subjects():
    v = minilm.model().encode(["How do I water my tomatoes?", "Watering tomato plants", "The train leaves at nine."])
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]


def test_passages_in_another_language_leave_the_english_half_empty():
    en = embeddings.embed_passages(["Big windows let the morning in."], "en")
    fr = embeddings.embed_passages(["La lumière du soleil entre par la fenêtre."], "fr")
    assert np.linalg.norm(en[0, embeddings.E5_DIM:]) > 0.5
    assert np.all(fr[0, embeddings.E5_DIM:] == 0) and np.linalg.norm(fr[0]) > 0.5


def test_keywords_a_section_never_says_find_it_with_both_models():
    _, spans = talk_words(GARDEN)
    signals = talk_signals(True, GARDEN)
    for keyword, section in (("irrigation", "water"), ("sprinkler", "water"), ("wildlife", "bees"),
                             ("fertility", "soil")):
        top = score(signals, ClipOptions(max_clips=1, keywords=(keyword,), min_duration_s=10.0,
                                         max_duration_s=28.0))
        middle = (top[0].start_s + top[0].end_s) / 2
        a, b = spans[section]
        assert a - 0.5 <= middle <= b + 0.5, (keyword, top[0].start_s, top[0].end_s, spans)
