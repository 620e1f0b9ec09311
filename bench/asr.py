"""Speech recognition real-time factor and peak memory on a 10-minute input (faster-whisper tiny.en int8).

    python bench/asr.py [--input FILE] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import time

from bench.common import machine, ten_minute_input
from streamapp.analysis.transcript import AsrParams, default_model_dir, transcribe
from streamapp.media.probe import probe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default=None)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    path = args.input or ten_minute_input()
    duration = probe(path).duration_s
    params = AsrParams(model_dir=default_model_dir() or "", threads=args.threads)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    words = transcribe(path, params, duration)
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(machine())
    print(f"input {path}: {duration:.0f} s; model {params.model_dir} ({params.compute_type}, beam {params.beam_size})")
    print(f"words {len(words)}; wall {elapsed:.1f} s; real-time factor {elapsed / duration:.3f} "
          f"({duration / elapsed:.1f}x faster than real time)")
    print(f"peak RSS {peak:.0f} MiB (before ASR {before:.0f} MiB)")


if __name__ == "__main__":
    main()
