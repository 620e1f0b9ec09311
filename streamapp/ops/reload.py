"""Config hot-reload: which settings may change while a worker runs, and a watcher for the TOML file.

``ConfigWatcher`` polls the file's mtime (path from STREAMAPP_CONFIG, else ./streamapp.toml) and also
reloads on SIGHUP. A reload builds fresh settings with the given factory; if that fails validation
the old settings stay (one-line error in the log). Changes to fields outside ``SAFE_FIELDS`` are logged
as needing a restart and are not applied: the callback receives the old settings with only the safe
changes merged in, plus ``{field: (old, new)}`` of those changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from streamapp.ops.alerts import DEFAULTS as ALERT_DEFAULTS

log = logging.getLogger("streamapp.reload")

# Fields a running worker can take up without a restart: they are read per job or per tick.
# Names not (yet) in Settings are harmless: only fields the model has are compared.
SAFE_FIELDS: frozenset[str] = frozenset({
    # scoring and analysis thresholds
    "score_weights", "silence_db", "cut_threshold", "min_score",
    # clip defaults
    "max_clips", "min_duration_s", "max_duration_s",
    # rendering
    "crf", "preset", "loudness_target_lufs", "true_peak_db",
    # pool bounds (the optimizer resizes within them)
    "pool_min_size", "pool_max_size", "memory_budget_mb",
    # alert thresholds
    *ALERT_DEFAULTS,
})

Signature = tuple[int, int, int] | None
OnChange = Callable[[Any, dict[str, tuple[Any, Any]]], Any]


def _fields(model: BaseModel) -> list[str]:
    return list(type(model).model_fields)


def diff_safe(old: BaseModel, new: BaseModel) -> dict[str, tuple[Any, Any]]:
    """``{field: (old, new)}`` of the safe fields that differ."""
    return {name: (getattr(old, name), getattr(new, name)) for name in _fields(old)
            if name in SAFE_FIELDS and getattr(old, name) != getattr(new, name, getattr(old, name))}


def unsafe_changes(old: BaseModel, new: BaseModel) -> list[str]:
    """Sorted names of the changed fields that need a restart."""
    return sorted(name for name in _fields(old)
                  if name not in SAFE_FIELDS and getattr(old, name) != getattr(new, name, getattr(old, name)))


def one_line_error(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{where}: {first.get('msg', 'invalid')}{more}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def config_path() -> Path:
    return Path(os.environ.get("STREAMAPP_CONFIG", "streamapp.toml"))


def _default_factory() -> BaseModel:
    from streamapp.settings import Settings

    return Settings()


class ConfigWatcher:
    """Reload settings when the TOML file changes or on SIGHUP; apply only the safe changes."""

    def __init__(
        self,
        current: BaseModel,
        on_change: OnChange,
        *,
        factory: Callable[[], BaseModel] = _default_factory,
        path: Path | None = None,
        interval_s: float = 2.0,
        handle_sighup: bool = True,
    ) -> None:
        self.current = current
        self.on_change = on_change
        self.factory = factory
        self.path = path if path is not None else config_path()
        self.interval_s = interval_s
        self.handle_sighup = handle_sighup
        self._signature: Signature = self._stat()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sighup_installed = False

    def _stat(self) -> Signature:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start polling (and listening for SIGHUP, on Unix, when called from the main thread)."""
        self._wake = asyncio.Event()
        self._signature = self._stat()
        if self.handle_sighup and hasattr(signal, "SIGHUP"):
            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request_reload)
                self._sighup_installed = True
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                log.info("config reload on SIGHUP unavailable here: %s", exc)
        self._task = asyncio.create_task(self._run(), name="config-watcher")

    async def stop(self) -> None:
        if self._sighup_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup_installed = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def request_reload(self) -> None:
        """Reload on the next turn of the loop even if the file looks unchanged (the SIGHUP handler)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: a cancellation is never swallowed (3.11)
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            forced = self._wake.is_set()
            self._wake.clear()
            try:
                await self.check(force=forced)
            except Exception:  # the watcher outlives any one bad reload
                log.exception("config reload failed")

    # -- reloading ----------------------------------------------------------------------------
    async def check(self, force: bool = False) -> bool:
        """Reload when the file changed since the last look (or when forced). True when changes were applied."""
        signature = self._stat()
        if not force and signature == self._signature:
            return False
        self._signature = signature
        return await self.reload()

    async def reload(self) -> bool:
        try:
            new = self.factory()
        except Exception as exc:
            log.error("config %s not reloaded, keeping the running settings: %s", self.path, one_line_error(exc))
            return False
        old = self.current
        unsafe = unsafe_changes(old, new)
        if unsafe:
            log.warning("config %s: changes to %s need a restart and are not applied", self.path, ", ".join(unsafe))
        changes = diff_safe(old, new)
        if not changes:
            return False
        self.current = old.model_copy(update={name: after for name, (_, after) in changes.items()})
        log.info("config %s reloaded: %s", self.path,
                 "; ".join(f"{name} {before!r} -> {after!r}" for name, (before, after) in changes.items()))
        result = self.on_change(self.current, changes)
        if inspect.isawaitable(result):
            await result
        return True
