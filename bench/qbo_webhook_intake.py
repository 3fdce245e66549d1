"""Measure the QBO webhook's intake: one signed POST of many changes, verified, deduplicated and queued.

    .venv/bin/python bench/qbo_webhook_intake.py [--changes 400 --aws-latency-ms 10 --repeats 5]

The real ``QboWebhookReceiver`` runs in this process against moto (the main table as template.yaml
declares it, a standard SQS pull queue) with a connected tenant owning the realm. moto's own speed is
not AWS's (its SQS spends about 5 ms of CPU per message), so the time spent inside moto is measured
and taken out, and every AWS call is counted at ``--aws-latency-ms`` instead (an in-region round trip
to DynamoDB or SQS is typically 5-20 ms): intake = qbosync's own time + calls x latency.

Figures, for a first delivery (every change new) and for Intuit's resend of it (every change a
duplicate): AWS calls by operation, qbosync's own time, the modelled intake time (medians over
``--repeats`` runs). Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TABLE_NAME = "qbosync-bench-intake"
REALM = "9341453050108822"
VERIFIER = "bench-verifier-token"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=400)
    parser.add_argument("--aws-latency-ms", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args(argv)


def _notification(changes: int, round_: int) -> bytes:
    entities = [
        {
            "name": "Customer",
            "id": str(1000 + n),
            "operation": "Update",
            "lastUpdated": f"2026-11-22T04:{round_ % 60:02d}:00Z",
        }
        for n in range(changes)
    ]
    return json.dumps(
        {"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": entities}}]}
    ).encode()


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    sys.path[:0] = [str(REPO / "layers" / "common"), str(REPO)]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": TABLE_NAME,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from datetime import UTC, datetime

    from moto import mock_aws
    from pydantic import SecretStr

    from qbosync.store.aws import dynamodb_client, sqs_client
    from qbosync.store.checkpoints import WebhookMarks
    from qbosync.store.connections import Connection, ConnectionRepository
    from qbosync.store.pull_queue import PullQueue
    from qbosync.sync.pull.receiver import QboWebhookReceiver, expected_signature
    from tests.support.template import create_table_from_template

    class BenchSecrets:
        def webhook_verifier_token(self) -> SecretStr:
            return SecretStr(VERIFIER)

    calls: Counter[str] = Counter()
    inside_aws = [0.0]
    latency = options.aws_latency_ms / 1000

    def call_starts(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1
        inside_aws[0] -= time.perf_counter()

    def call_ends(**_: Any) -> None:
        inside_aws[0] += time.perf_counter()

    with mock_aws():
        create_table_from_template("MainTable", TABLE_NAME)
        queue_url = sqs_client().create_queue(QueueName="bench-pull")["QueueUrl"]
        ConnectionRepository().record_connected(
            Connection(tenant_id="acme", realm_id=REALM, connected_by="bench", connected_at=datetime.now(UTC))
        )
        for client in (dynamodb_client(), sqs_client()):
            client.meta.events.register("before-call.*.*", call_starts)
            client.meta.events.register("after-call.*.*", call_ends)
        receiver = QboWebhookReceiver(
            secrets=BenchSecrets(), marks=WebhookMarks(), queue=PullQueue(queue_url=queue_url)
        )
        figures: dict[str, dict[str, Any]] = {}
        for label in ("first_delivery", "resend"):
            figures[label] = {"own_seconds": [], "calls": {}}
        for round_ in range(options.repeats):
            body = _notification(options.changes, round_)
            headers = {
                "intuit-signature": expected_signature(VERIFIER, body),
                "content-type": "application/json",
            }
            for label in ("first_delivery", "resend"):
                calls.clear()
                inside_aws[0] = 0.0
                started = time.perf_counter()
                receipt = receiver.receive(headers, body)
                figures[label]["own_seconds"].append(time.perf_counter() - started - inside_aws[0])
                figures[label]["calls"] = dict(calls)
                figures[label]["receipt"] = receipt.model_dump()
    result: dict[str, Any] = {"changes": options.changes, "aws_latency_ms": options.aws_latency_ms}
    print(f"{options.changes} changes in one POST, each AWS call counted at {options.aws_latency_ms} ms:")
    for label, figure in figures.items():
        own = statistics.median(figure["own_seconds"])
        total_calls = sum(figure["calls"].values())
        modelled = own + total_calls * latency
        print(
            f"  {label}: {modelled:.3f} s = {own:.3f} s qbosync + {total_calls} AWS calls {figure['calls']}"
        )
        print(f"    receipt {figure['receipt']}")
        result[label] = {
            "intake_seconds": round(modelled, 3),
            "qbosync_seconds": round(own, 3),
            "aws_calls": total_calls,
            "by_operation": figure["calls"],
        }
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
