"""Metrics an on-call engineer can alarm on: counts by flow and reason code, never by tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qbosync.metrics import Metric, count, count_failure, count_warnings
from qbosync.observability import metrics


def _emf_records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_given_a_failed_event_when_counted_then_its_record_has_the_flow_and_reason_code_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count_failure("push", "missing_mapping")

    [record] = _emf_records(capsys.readouterr().out)
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Metrics"] == [{"Name": "EventsFailed", "Unit": "Count"}]
    assert set(directive["Dimensions"][0]) == {"flow", "reason_code"}
    values = record["EventsFailed"]
    assert (record["flow"], record["reason_code"]) == ("push", "missing_mapping")
    assert (values if isinstance(values, list) else [values]) == [1.0]


def test_given_counts_when_flushed_then_they_add_up_under_their_names_without_a_tenant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.clear_metrics()
    count(Metric.PUSHED)
    count(Metric.PUSHED)
    count(Metric.DRIFT_FOUND)

    metrics.flush_metrics()

    [record] = _emf_records(capsys.readouterr().out)
    names = {entry["Name"] for entry in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"EventsPushed", "DriftFound"}
    assert record["EventsPushed"] == [1.0, 1.0]
    assert "tenant_id" not in record


def test_given_an_event_synced_with_warnings_when_counted_then_one_record_per_distinct_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count_warnings("push", ["default_item_used", "doc_number_shortened", "default_item_used"])

    records = _emf_records(capsys.readouterr().out)
    assert sorted((r["flow"], r["warning_code"]) for r in records) == [
        ("push", "default_item_used"),
        ("push", "doc_number_shortened"),
    ]
    assert {d["Metrics"][0]["Name"] for r in records for d in r["_aws"]["CloudWatchMetrics"]} == {
        "EventsSyncedWithWarnings"
    }
    assert all("tenant_id" not in record for record in records)
