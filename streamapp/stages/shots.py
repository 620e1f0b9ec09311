"""Shot boundaries alone: the picture pass of extract without faces, sound or speech (``streamapp shots``).

What a PySceneDetect user runs ``scenedetect ... list-scenes`` for: the list of shots, each with how it began
(a hard cut or a gradual transition). The same detector as extract (analysis/picture.py), so the shots here
are the ones clips snap to.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from streamapp.errors import MediaError
from streamapp.media.probe import probe
from streamapp.stages.extract import AnalysisParams, picture_pass


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float
    begins_with: str  # "start" (the video's first shot), "cut" (a hard cut) or "gradual" (dissolve, fade)


@dataclass(frozen=True)
class ShotList:
    duration_s: float
    fps: float
    frames: int
    shots: list[Shot]
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 3), "fps": round(self.fps, 3), "frames": self.frames,
                "shots": [asdict(s) for s in self.shots], "timings_s": self.timings_s}


def shot_list(duration_s: float, cuts_s: list[float], gradual_s: list[float]) -> list[Shot]:
    """Shots between the boundaries, covering [0, duration_s]; a boundary in ``gradual_s`` began a shot gradually."""
    gradual = {round(g, 6) for g in gradual_s}
    inside = sorted(c for c in cuts_s if 0.0 < c < duration_s)
    edges = [0.0, *inside, duration_s]
    kinds = ["start", *("gradual" if round(c, 6) in gradual else "cut" for c in inside)]
    return [Shot(round(a, 3), round(b, 3), kind) for a, b, kind in zip(edges[:-1], edges[1:], kinds, strict=False)
            if b > a]


def detect_shots(path: str | Path, params: AnalysisParams = AnalysisParams()) -> ShotList:
    """The shots of a video. Raises InputError from probing, MediaError(media_failed) when no frame decodes."""
    started = time.perf_counter()
    info = probe(path, hash_file=False)
    probed = time.perf_counter()
    picture = picture_pass(str(path), replace(params, faces=False), info)
    if picture.times_s.size == 0:
        raise MediaError(f"no video frame could be decoded from {Path(path).name}", code="media_failed")
    end = float(picture.times_s[-1]) + (1.0 / info.fps if info.fps > 0 else 0.0)
    duration = max(info.duration_s, end) if info.duration_s > 0 else end
    timings = {"probe": round(probed - started, 3), "video": round(time.perf_counter() - probed, 3)}
    return ShotList(duration, info.fps, int(picture.times_s.size),
                    shot_list(duration, picture.cuts_s, picture.gradual_s), timings)
