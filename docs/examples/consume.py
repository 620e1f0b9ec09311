"""Read streamapp's results with confluent-kafka (librdkafka), deduplicated, until the given jobs have ended.

    python consume.py --bootstrap HOST:9092 [--prefix streamapp] [--group my-app] [--timeout 600] JOB_ID...

Prints one JSON line per new result: {"type": "clip_ready", "job_id", "clip"} per clip, then
{"type": "job_done", "job_id", "manifest_path"} or {"type": "job_failed", "job_id", "error"}. Results are
at-least-once: a worker that takes a job over may announce its clips and its end again, so this consumer keeps
the first of each (a clip by (job_id, clip id), an end by job_id) and ignores repeats.
"""

from __future__ import annotations

import argparse
import json
import time

from confluent_kafka import Consumer


class Results:
    """The first of each result; repeats are dropped."""

    def __init__(self) -> None:
        self.clips: set[tuple[str, str]] = set()
        self.ended: dict[str, str] = {}  # job id -> "job_done" | "job_failed"

    def first(self, event: dict) -> bool:
        job_id = event["job_id"]
        if event["type"] == "clip_ready":
            key = (job_id, event["clip"]["id"])
            if key in self.clips or job_id in self.ended:
                return False
            self.clips.add(key)
            return True
        if event["type"] in ("job_done", "job_failed"):
            if job_id in self.ended:
                return False
            self.ended[job_id] = event["type"]
            return True
        return False  # a type this consumer does not know: newer versions may add some


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs", nargs="+")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", default="streamapp")
    ap.add_argument("--group", default="streamapp-results-example")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    consumer.subscribe([f"{args.prefix}.results"])
    wanted, results = set(args.jobs), Results()
    deadline = time.monotonic() + args.timeout
    try:
        while not wanted <= set(results.ended) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            event = json.loads(message.value())
            if event.get("schema_version") != 1 or event.get("job_id") not in wanted or not results.first(event):
                continue
            shown = {k: event[k] for k in ("type", "job_id", "clip", "manifest_path", "error") if k in event}
            print(json.dumps(shown), flush=True)
    finally:
        consumer.close()
    if not wanted <= set(results.ended):
        raise SystemExit(f"jobs not ended within {args.timeout:.0f} s: {sorted(wanted - set(results.ended))}")


if __name__ == "__main__":
    main()
