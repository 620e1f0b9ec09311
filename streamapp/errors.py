"""Error codes users see: every failure a job can end with has one code and a one-line message."""

from __future__ import annotations


class StreamappError(Exception):
    """A failure with a stable machine code and a one-line human message.

    ``permanent`` errors (bad input) fail a job at once; the others may be retried.
    """

    code: str = "internal_error"
    permanent: bool = False

    def __init__(self, message: str, *, code: str | None = None, permanent: bool | None = None) -> None:
        super().__init__(message)
        self.message = message.splitlines()[0] if message else self.code
        if code is not None:
            self.code = code
        if permanent is not None:
            self.permanent = permanent

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InputError(StreamappError):
    """The submitted input cannot be processed (missing, empty, not a video, ...)."""

    code = "input_invalid"
    permanent = True


class MediaError(StreamappError):
    """Decoding or encoding failed part way through."""

    code = "media_failed"
    permanent = True


class EventError(StreamappError):
    """An event does not match its schema."""

    code = "event_invalid"
    permanent = True


class TransientError(StreamappError):
    """Broker, Redis or disk trouble worth retrying."""

    code = "transient"
    permanent = False


class JobCancelled(StreamappError):
    """The job was cancelled on request; it ends as job_failed with this code."""

    code = "cancelled"
    permanent = True
