import numpy as np

from streamapp.analysis import embeddings
from streamapp.analysis.topics import embedding_boundaries
from streamapp.analysis.transcript import split_sentences
from tests.meaning_talk import SECTIONS, UNSPOKEN_KEYWORDS, talk_words


def test_vectors_are_unit_length_and_meaningful():
    v = embeddings.embed_passages(["Big windows let the morning in.", "Chop the onions finely.",
                                   "La lumière du soleil entre par la fenêtre."])
    assert v.shape == (3, embeddings.DIM)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    q = embeddings.embed_queries(["sunlight"])[0]
    # Closer to the window sentence (and to its French cousin) than to the onions.
    assert v[0] @ q > v[1] @ q and v[2] @ q > v[1] @ q


def test_topic_boundaries_by_meaning_fall_between_sections():
    words, spans = talk_words()
    sentences = split_sentences(words)
    assert len(sentences) == sum(len(s) for s in SECTIONS.values())
    found = embedding_boundaries(sentences, embeddings.embed_passages([s["text"] for s in sentences]))
    truth = [spans[name][0] for name in list(SECTIONS)[1:]]
    hits = sum(any(abs(f - t) < 0.1 for f in found) for t in truth)
    assert hits >= 2, (found, truth)  # at least two of the three section starts, exactly on the sentence
    assert len(found) <= len(truth) + 1


def test_unspoken_keywords_are_nearest_their_sections():
    words, spans = talk_words()
    sentences = split_sentences(words)
    vectors = embeddings.embed_passages([s["text"] for s in sentences])
    for name, keyword in UNSPOKEN_KEYWORDS.items():
        q = embeddings.embed_queries([keyword])[0]
        per = {}
        for section, (a, b) in spans.items():
            rows = [i for i, s in enumerate(sentences) if a <= s["start_s"] < b]
            per[section] = float((vectors[rows] @ q).mean())
        assert max(per, key=per.get) == name, (keyword, per)
