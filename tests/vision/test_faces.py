import numpy as np

from streamapp.vision.faces import Face, detect_faces


def test_face_geometry():
    f = Face(10, 20, 30, 40, 1.0)
    assert f.center == (25, 40) and f.area == 1200


def test_no_faces_in_flat_or_noisy_frames():
    assert detect_faces(np.zeros((180, 320), np.uint8)) == []
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)  # colour input is accepted too
    assert all(isinstance(f, Face) for f in detect_faces(noise))


def test_results_are_sorted_largest_first():
    rng = np.random.default_rng(1)
    faces = detect_faces(rng.integers(0, 256, (360, 640), dtype=np.uint8), min_size_frac=0.03)
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
