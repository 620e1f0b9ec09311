"""PictureAnalyzer: pieces analysed apart and joined equal one pass over the whole sequence."""

import numpy as np
import pytest

from streamapp.analysis.picture import PictureAnalyzer


def frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (36, 64), dtype=np.uint8)
    out = []
    for i in range(n):
        if i % 17 == 0:  # a new "shot" now and then, so the differences vary
            base = rng.integers(0, 256, (36, 64), dtype=np.uint8)
        out.append(np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8))
    return out


def analyse(pictures: list[np.ndarray], first_index: int = 0) -> PictureAnalyzer:
    analyzer = PictureAnalyzer(25.0, detect_faces=False)
    for i, grey in enumerate(pictures, first_index):
        analyzer.add(i / 25.0, grey)
    return analyzer


@pytest.mark.parametrize("splits", [(40,), (3, 50), (5, 12, 90), (1, 2, 3, 4)], ids=str)
def test_joined_pieces_equal_one_pass(splits: tuple[int, ...]) -> None:
    pictures = frames(120)
    whole = analyse(pictures)
    edges = [0, *splits, len(pictures)]
    pieces = [analyse(pictures[a:b], a) for a, b in zip(edges, edges[1:], strict=False)]
    joined = pieces[0]
    for piece in pieces[1:]:
        joined.extend(piece)
    assert joined.k == whole.k == 15  # pieces shorter than k (1, 2, 3, 4 frames) are covered too
    for name in ("times", "d1", "dk", "mean", "std"):
        assert getattr(joined, name) == getattr(whole, name), name
    assert all(np.array_equal(a, b) for a, b in zip(joined.ring, whole.ring, strict=True))
    a = joined.finish(10.0, 3.0, 0.5, 25.0)
    b = whole.finish(10.0, 3.0, 0.5, 25.0)
    assert a.cuts_s == b.cuts_s and len(a.cuts_s) >= 5


def test_an_unjoined_piece_lacks_the_history() -> None:
    # The check above could pass if a piece's first differences did not depend on the frames before it.
    pictures = frames(60)
    whole = analyse(pictures)
    second = analyse(pictures[30:], 30)
    assert second.d1[0] == 0.0 and whole.d1[30] > 0.0
    assert second.dk[:15] == [0.0] * 15 and all(v > 0 for v in whole.dk[30:45])


def test_a_face_sample_like_the_last_detected_one_reuses_its_result_until_the_next_keyframe(monkeypatch) -> None:
    seen: list[int] = []

    def detector(picture: np.ndarray, min_size_frac: float) -> list:
        seen.append(int(picture[0, 0]))
        return []

    monkeypatch.setattr("streamapp.vision.faces.detect_faces", detector)
    analyzer = PictureAnalyzer(25.0)
    still = np.full((36, 64), 100, np.uint8)
    face = np.full((90, 160), 7, np.uint8)
    moved = np.full((36, 64), 140, np.uint8)
    analyzer.add(0.0, still, face, keyframe=True)  # detected
    analyzer.add(1.0, still, face)  # the same picture: reused
    analyzer.add(2.0, still, face, keyframe=True)  # a keyframe: detected again (pieces start there)
    analyzer.add(3.0, moved, face)  # the picture changed: detected
    analyzer.add(4.0, moved, face)  # reused
    assert len(seen) == 3
    assert analyzer.face_t == [0.0, 1.0, 2.0, 3.0, 4.0] and analyzer.face_n == [0] * 5
