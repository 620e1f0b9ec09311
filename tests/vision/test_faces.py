import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from streamapp.vision import faces as F
from streamapp.vision.faces import Face, detect_faces, face_backend, set_face_backend
from tests.vision.face_fixtures import astronaut_png

HAS_YUFACE = importlib.util.find_spec("yuface") is not None
needs_cnn = pytest.mark.skipif(not HAS_YUFACE, reason="yuface (the YuNet CNN) is not installed")
# In the 512x512 astronaut photo the face is at about x 180-265, y 60-175 (eyes near y 101).
FACE_BOX_512 = (178.0, 63.0, 89.0, 112.0)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    try:
        path = astronaut_png()
    except OSError as exc:
        pytest.skip(f"no face photo (offline?): {exc}")
    img = cv2.imread(str(path))
    assert img is not None and img.shape == (512, 512, 3)
    return img


@pytest.fixture(autouse=True)
def _default_backend():
    set_face_backend(None)
    yield
    set_face_backend(None)


@pytest.fixture
def fresh_loader(monkeypatch):
    """Let a test re-run the CNN loader; the real loaded state comes back afterwards."""
    saved = F._yunet_tried, F._yunet_fn, F._yunet_error, F._gomp
    monkeypatch.setattr(F, "_yunet_tried", False)
    monkeypatch.setattr(F, "_yunet_fn", None)
    monkeypatch.setattr(F, "_yunet_error", None)
    yield
    F._yunet_tried, F._yunet_fn, F._yunet_error, F._gomp = saved


def grey(img: np.ndarray, side: int = 360) -> np.ndarray:
    return cv2.cvtColor(cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)


def iou(a: Face, b: tuple[float, float, float, float]) -> float:
    bx, by, bw, bh = b
    ix = max(0.0, min(a.x + a.w, bx + bw) - max(a.x, bx))
    iy = max(0.0, min(a.y + a.h, by + bh) - max(a.y, by))
    inter = ix * iy
    return inter / (a.area + bw * bh - inter)


def scaled(box: tuple[float, ...], k: float) -> tuple[float, ...]:
    return tuple(v * k for v in box)


def test_face_geometry():
    f = Face(10, 20, 30, 40, 1.0)
    assert f.center == (25, 40) and f.area == 1200
    assert f.landmarks == ()


@pytest.mark.parametrize("backend", ["auto", "haar"])
def test_no_faces_in_flat_or_noisy_frames(backend):
    set_face_backend(backend)
    assert detect_faces(np.zeros((180, 320), np.uint8)) == []
    assert detect_faces(np.full((360, 640, 3), 200, np.uint8)) == []
    rng = np.random.default_rng(0)
    assert detect_faces(rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)) == []  # colour input is accepted
    assert detect_faces(rng.integers(0, 256, (360, 640), dtype=np.uint8), min_size_frac=0.03) == []


def test_results_are_sorted_largest_first(astronaut):
    # Two copies of the face at different sizes side by side.
    canvas = np.full((360, 720, 3), 90, np.uint8)
    canvas[:, :360] = cv2.resize(astronaut, (360, 360))
    canvas[90:270, 450:630] = cv2.resize(astronaut, (180, 180))
    faces = detect_faces(canvas, min_size_frac=0.03)
    assert len(faces) >= (2 if face_backend() == "yunet" else 1)
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    assert faces[0].x < 360  # the big one first


@needs_cnn
def test_cnn_backend_loads_with_pinned_hash():
    assert face_backend() == "yunet", F.face_backend_error()
    assert F.face_backend_error() is None


@needs_cnn
@pytest.mark.parametrize("side", [180, 360])
def test_cnn_finds_the_face_with_landmarks(astronaut, side):
    faces = detect_faces(grey(astronaut, side))
    assert len(faces) == 1
    f = faces[0]
    assert f.x >= 0 and f.y >= 0 and f.x + f.w <= side and f.y + f.h <= side
    assert iou(f, scaled(FACE_BOX_512, side / 512)) > 0.6
    assert 0.6 <= f.score <= 1.0
    assert len(f.landmarks) == 5
    mx, my = 0.1 * f.w, 0.1 * f.h
    for x, y in f.landmarks:
        assert f.x - mx <= x <= f.x + f.w + mx and f.y - my <= y <= f.y + f.h + my
    (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = f.landmarks
    # Named from the subject's side: their right eye and mouth corner are on the image's left.
    assert rex < nx < lex and rmx < lmx
    assert max(rey, ley) < ny < min(rmy, lmy)


@needs_cnn
def test_cnn_landmark_order_holds_for_a_mirrored_face(astronaut):
    f = detect_faces(np.ascontiguousarray(astronaut[:, ::-1]))[0]
    (rex, _), (lex, _), _, (rmx, _), (lmx, _) = f.landmarks
    assert rex < lex and rmx < lmx
    assert iou(f, (512 - FACE_BOX_512[0] - FACE_BOX_512[2], *FACE_BOX_512[1:])) > 0.6


@needs_cnn
def test_cnn_grey_bgr_and_large_frames_agree(astronaut):
    g = detect_faces(grey(astronaut, 360))[0]
    c = detect_faces(cv2.resize(astronaut, (360, 360), interpolation=cv2.INTER_AREA))[0]
    big = detect_faces(cv2.resize(astronaut, (1440, 1440)))[0]  # above MAX_SIDE: shrunk, then scaled back
    for other, k in ((c, 1.0), (big, 4.0)):
        assert iou(other, (g.x * k, g.y * k, g.w * k, g.h * k)) > 0.7
        assert np.allclose(np.array(other.landmarks) / k, np.array(g.landmarks), atol=6)


@needs_cnn
def test_cnn_min_size_and_score_filters(astronaut):
    frame = grey(astronaut, 360)  # face about 0.22 of the frame height
    assert len(detect_faces(frame, min_size_frac=0.15)) == 1
    assert detect_faces(frame, min_size_frac=0.3) == []
    assert detect_faces(frame, min_score=0.99) == []


@needs_cnn
def test_cnn_rejects_non_uint8(astronaut):
    with pytest.raises(TypeError):
        detect_faces(grey(astronaut).astype(np.float32))


def test_haar_fallback_when_forced(astronaut, monkeypatch):
    set_face_backend("haar")
    assert face_backend() == "haar"
    faces = detect_faces(grey(astronaut, 360))
    assert len(faces) == 1 and faces[0].landmarks == ()
    assert iou(faces[0], scaled(FACE_BOX_512, 360 / 512)) > 0.5
    set_face_backend(None)
    monkeypatch.setenv("STREAMAPP_FACE_BACKEND", "haar")
    assert face_backend() == "haar"
    with pytest.raises(ValueError):
        set_face_backend("dlib")


def test_fallback_when_the_cnn_is_missing(astronaut, fresh_loader, monkeypatch, caplog):
    def missing():
        raise ImportError("the yuface package is not installed")

    monkeypatch.setattr(F, "_yunet_dir", missing)
    with caplog.at_level(logging.WARNING, logger=F.__name__):
        assert face_backend() == "haar"
        faces = detect_faces(grey(astronaut, 360))
        detect_faces(grey(astronaut, 360))
    assert len(faces) == 1 and faces[0].landmarks == ()
    assert "yuface" in (F.face_backend_error() or "")
    assert sum("Haar" in r.getMessage() for r in caplog.records) == 1  # logged once


@needs_cnn
def test_fallback_when_the_weights_hash_differs(fresh_loader, monkeypatch):
    monkeypatch.setattr(F, "YUNET_SHA256", "0" * 64)
    assert face_backend() == "haar"
    assert "SHA-256" in F.face_backend_error()


@needs_cnn
def test_fallback_on_a_cpu_without_avx2(fresh_loader, monkeypatch):
    monkeypatch.setattr(F, "_cpu_has_avx2", lambda: False)
    assert face_backend() == "haar"
    assert "AVX2" in F.face_backend_error()


@pytest.mark.parametrize("backend", ["auto", "haar"])
def test_threads_detecting_at_once_agree_with_one_thread(astronaut, backend):
    set_face_backend(backend)
    frames = [grey(astronaut, s) for s in (180, 240, 300, 360)]
    frames += [np.ascontiguousarray(f[:, ::-1]) for f in frames]
    expected = [detect_faces(f) for f in frames]
    assert all(len(e) == 1 for e in expected)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(detect_faces, frames * 2)) == expected * 2
