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


def test_sweep_keeps_live_writers_half_files_and_removes_dead_ones(tmp_path):
    import os
    import subprocess
    import sys

    from streamapp.fileio import sweep_temp_files, temp_path_for

    job = tmp_path / "job1"
    job.mkdir()
    live = Path(temp_path_for(job / "clip-01.mp4"))  # this process: alive
    live.write_bytes(b"x")
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
    dead = job / f".clip-02.{dead_pid}-0123abcd.part.mp4"
    dead.write_bytes(b"x")
    top = tmp_path / f".signals.{dead_pid}-89abcdef.part.npz"
    top.write_bytes(b"x")
    keep = job / "clip-03.mp4"
    keep.write_bytes(b"x")
    removed = sweep_temp_files(tmp_path)
    assert sorted(removed) == sorted([str(dead), str(top)])
    assert live.exists() and keep.exists() and not dead.exists() and not top.exists()
    assert str(os.getpid()) in live.name
    assert sweep_temp_files(tmp_path / "missing") == []
