"""Atomic writes and the clean-up of half files left by killed processes."""

from __future__ import annotations

from pathlib import Path

from streamapp.fileio import remove_temp_files, temp_path_for, write_bytes_atomic


def test_atomic_write_leaves_only_the_final_file(tmp_path: Path) -> None:
    target = tmp_path / "clip-01.mp4"
    write_bytes_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["clip-01.mp4"]


def test_temp_names_are_unique_keep_the_suffix_and_are_swept(tmp_path: Path) -> None:
    first, second = temp_path_for(tmp_path / "clip-01.mp4"), temp_path_for(tmp_path / "clip-01.mp4")
    assert first != second and first.endswith(".mp4") and second.endswith(".mp4")
    Path(first).write_bytes(b"half")
    (tmp_path / "clip-01.mp4").write_bytes(b"whole")
    assert remove_temp_files(tmp_path) == [Path(first).name]
    assert [p.name for p in tmp_path.iterdir()] == ["clip-01.mp4"]
