"""``python -m local.demo`` end to end: the narrated scenario runs against a fresh local runtime and
reports every step passed, with what it created in QBO and the source.

Smaller volumes than ``make demo`` keep it quick; the demo itself checks every step against the
sandboxes, so this test checks that it ran all of them, passed, and said so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_SECONDS = 240
EXPECTED_STEPS = [
    "Connect to QuickBooks Online",
    "Configure mappings and settings",
    "Preflight",
    "Dry run: what the initial sync will do",
    "Initial bulk sync",
    "Push: source documents to QBO",
    "Pull: a QBO customer to the source",
    "Pull: a QBO payment to the source",
]

pytestmark = pytest.mark.e2e


def _demo_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "layers" / "common"), str(REPO_ROOT)])
    environment["PYTHONUNBUFFERED"] = "1"
    for name in ("AWS_ENDPOINT_URL", "MOTO_PORT"):
        environment.pop(name, None)
    environment.setdefault("AWS_ACCESS_KEY_ID", "testing")
    environment.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return environment


def test_given_a_fresh_runtime_when_running_the_demo_then_every_step_passes_and_the_summary_says_so(
    tmp_path: Path,
) -> None:
    summary_path = tmp_path / "summary.json"
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "local.demo",
            "--customers",
            "120",
            "--products",
            "40",
            "--summary-json",
            str(summary_path),
        ],
        cwd=REPO_ROOT,
        env=_demo_environment(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    assert "DEMO PASSED: 8/8 steps passed" in completed.stdout

    summary = json.loads(summary_path.read_text())
    assert summary["passed"] is True
    assert [step["title"] for step in summary["steps"]] == EXPECTED_STEPS
    assert all(step["status"] == "passed" for step in summary["steps"])

    facts = summary["facts"]
    assert facts["dry_run"]["counts"]["Customer"]["create"] > 0 and facts["dry_run"]["qbo_reads"] > 0
    assert facts["initial_sync"]["status"] == "SUCCEEDED"
    assert facts["initial_sync"]["totals"]["failed"] == 0
    assert facts["initial_sync"]["totals"]["created"] > 0
    prefixes = {name: prefix["value"] for name, prefix in facts["settings"]["prefixes"].items()}
    assert facts["push"]["invoice"].startswith(prefixes["invoice"])
    assert facts["push"]["payment"].startswith(prefixes["payment"])
    assert facts["push"]["credit_memo"].startswith(prefixes["credit_note"])
    assert facts["push"]["events_done"] == 6
    assert (
        facts["pull"]["bill_profile_id"]
        == facts["settings"]["source_defaults"]["new_customer_bill_profile_id"]
    )
    assert facts["pull_payment"]["applied_to"] == facts["push"]["invoice_source_id"]
    created = {row["what"]: row for row in summary["created"]}
    assert {"invoice (created, edited)", "payment", "credit note", "invoice (deleted)", "customer"} <= set(
        created
    )
    assert created["customer"]["where"] == "QBO → source"
    assert created["payment (entered in QBO)"]["where"] == "QBO → source"
