"""Submit videos to streamapp with confluent-kafka (librdkafka), from the event schemas alone.

    python produce.py --bootstrap HOST:9092 [--prefix streamapp] [--priority high|normal|low] [--out DIR] VIDEO...

Prints one job id per video. The contract (docs/producers.md): the event of schemas/video_submitted.schema.json
on <prefix>.videos, keyed by the job id, on the partition of its priority; absolute paths the workers can read.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from confluent_kafka import Producer

PRIORITY_PARTITIONS = {"high": 0, "normal": 1, "low": 2}


def submission(path: str, out_dir: str, priority: str, options: dict) -> dict:
    return {
        "schema_version": 1,
        "type": "video_submitted",
        "job_id": uuid.uuid4().hex[:16],  # yours to choose: letters, digits, - and _, at most 64
        "request": {
            "path": os.path.abspath(path),  # as the workers see it
            "options": options,
            "priority": priority,
            "out_dir": os.path.abspath(out_dir),  # clips go to <out_dir>/<job_id>/
        },
        "submitted_at": time.time(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", default="streamapp")
    ap.add_argument("--priority", default="normal", choices=PRIORITY_PARTITIONS)
    ap.add_argument("--out", default="clips")
    ap.add_argument("--options", default="{}", help='JSON, e.g. {"max_clips": 3, "aspect": "1:1"}')
    args = ap.parse_args()
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all"})
    failures: list[str] = []

    def delivered(error, message) -> None:  # noqa: ANN001 - librdkafka's callback
        if error is not None:
            failures.append(str(error))

    for video in args.videos:
        event = submission(video, args.out, args.priority, json.loads(args.options))
        producer.produce(f"{args.prefix}.videos", json.dumps(event).encode(), key=event["job_id"].encode(),
                         partition=PRIORITY_PARTITIONS[args.priority], on_delivery=delivered)
        print(event["job_id"], flush=True)
    if producer.flush(30) or failures:
        raise SystemExit(f"not delivered: {failures or 'timed out'}")


if __name__ == "__main__":
    main()
