"""Settings diffs and the config watcher, with real TOML files and the real Settings class."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from streamapp.ops.reload import SAFE_FIELDS, ConfigWatcher, diff_safe, unsafe_changes
from streamapp.settings import Settings


@pytest.fixture
def toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "streamapp.toml"
    path.write_text("max_clips = 5\ncrf = 23\n")
    monkeypatch.setenv("STREAMAPP_CONFIG", str(path))
    for name in list(os.environ):
        if name.startswith("STREAMAPP_") and name != "STREAMAPP_CONFIG":
            monkeypatch.delenv(name)
    return path


def write(path: Path, text: str) -> None:
    """Write and move the mtime on, so the change shows even on coarse-mtime file systems."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_diffs_split_safe_and_unsafe() -> None:
    old = Settings(max_clips=5, crf=23, pool_size=2, pool_max_size=8, broker=None)
    new = Settings(max_clips=7, crf=23, pool_size=4, pool_max_size=8, score_weights={"motion": 1.0},
                   broker="kafka://h:9092")
    assert diff_safe(old, new) == {"max_clips": (5, 7), "score_weights": (old.score_weights, {"motion": 1.0})}
    assert unsafe_changes(old, new) == ["broker", "pool_size"]
    assert diff_safe(old, old) == {} and unsafe_changes(old, old) == []
    assert {"score_weights", "silence_db", "max_clips", "min_duration_s", "max_duration_s", "crf",
            "preset"} <= SAFE_FIELDS


def test_watcher_applies_safe_changes(toml: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[Settings, dict[str, Any]]] = []

    async def main() -> None:
        watcher = ConfigWatcher(Settings(), lambda s, c: seen.append((s, c)), factory=Settings, path=toml)
        assert await watcher.check() is False  # nothing changed yet
        write(toml, "max_clips = 8\ncrf = 30\npool_size = 1\n")
        with caplog.at_level(logging.INFO, logger="streamapp.reload"):
            assert await watcher.check() is True
        assert watcher.current.max_clips == 8 and watcher.current.crf == 30
        assert watcher.current.pool_size == 2  # unsafe: needs a restart, not applied
        assert "pool_size need a restart" in caplog.text
        assert await watcher.check() is False  # same file again: nothing to do

    asyncio.run(main())
    assert len(seen) == 1
    applied, changes = seen[0]
    assert changes == {"max_clips": (5, 8), "crf": (23, 30)}
    assert applied.max_clips == 8


def test_invalid_file_keeps_the_old_settings(toml: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Any] = []

    async def main() -> None:
        watcher = ConfigWatcher(Settings(), lambda s, c: calls.append(c), path=toml)
        before = watcher.current
        write(toml, "max_clips = 500\n")  # le=100
        with caplog.at_level(logging.ERROR, logger="streamapp.reload"):
            assert await watcher.check() is False
        assert watcher.current is before
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0].getMessage()
        assert "max_clips" in errors[0].getMessage() and "keeping the running settings" in errors[0].getMessage()
        write(toml, "max_clips = [oops\n")  # not TOML at all
        assert await watcher.check() is False and watcher.current is before
        write(toml, "max_clips = 9\n")  # fixed: applied
        assert await watcher.check() is True and watcher.current.max_clips == 9

    asyncio.run(main())
    assert calls == [{"max_clips": (5, 9)}]


def test_polling_picks_up_changes(toml: Path) -> None:
    async def main() -> None:
        changed = asyncio.Event()

        async def on_change(settings: Settings, changes: dict) -> None:
            changed.set()

        watcher = ConfigWatcher(Settings(), on_change, path=toml, interval_s=0.05, handle_sighup=False)
        await watcher.start()
        try:
            write(toml, "preset = \"medium\"\n")
            await asyncio.wait_for(changed.wait(), 5)
            assert watcher.current.preset == "medium"
        finally:
            await watcher.stop()

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_forces_a_reload(toml: Path) -> None:
    built: list[int] = []

    def factory() -> Settings:
        built.append(1)
        return Settings(silence_db=-30.0)

    async def main() -> None:
        changed = asyncio.Event()
        watcher = ConfigWatcher(Settings(), lambda s, c: changed.set(), factory=factory, path=toml, interval_s=60)
        await watcher.start()
        try:
            os.kill(os.getpid(), signal.SIGHUP)  # the file did not change: only the signal can trigger this
            await asyncio.wait_for(changed.wait(), 5)
            assert watcher.current.silence_db == -30.0
        finally:
            await watcher.stop()

    previous = signal.getsignal(signal.SIGHUP)
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert built
