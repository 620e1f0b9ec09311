"""Ask streamapp to stop jobs, with confluent-kafka (librdkafka).

    python cancel.py --bootstrap HOST:9092 [--prefix streamapp] [--reason TEXT] JOB_ID...

A job_cancel event (schemas/job_cancel.schema.json) on <prefix>.job-status, keyed by the job id, on the
partition the Java client would choose for that key (murmur2), where the job's status events are.
"""

from __future__ import annotations

import argparse
import json
import time

from confluent_kafka import Producer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs", nargs="+")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", default="streamapp")
    ap.add_argument("--reason")
    args = ap.parse_args()
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "partitioner": "murmur2_random"})
    for job_id in args.jobs:
        event = {"schema_version": 1, "type": "job_cancel", "job_id": job_id, "at": time.time()}
        if args.reason:
            event["reason"] = args.reason[:200]
        producer.produce(f"{args.prefix}.job-status", json.dumps(event).encode(), key=job_id.encode())
    if producer.flush(30):
        raise SystemExit("not delivered within 30 s")


if __name__ == "__main__":
    main()
