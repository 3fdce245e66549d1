"""``python -m local.demo --source revio`` (``make demo SOURCE=revio``) end to end: the same eight steps with
Rev.io billing as the tenant's source, its emulator behind the Rev.io adapter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_demo import DEMO_TIMEOUT_SECONDS, EXPECTED_STEPS, REPO_ROOT, _demo_environment

pytestmark = pytest.mark.e2e


def test_given_rev_io_as_the_source_when_running_the_demo_then_every_step_passes_through_the_adapter(
    tmp_path: Path,
) -> None:
    summary_path = tmp_path / "summary.json"
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "local.demo",
            "--source",
            "revio",
            "--customers",
            "60",
            "--products",
            "20",
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
    assert "source: Rev.io billing, its emulator behind the Rev.io adapter" in completed.stdout
    assert "X-Hook-Secret" in completed.stdout

    summary = json.loads(summary_path.read_text())
    assert [step["title"] for step in summary["steps"]] == EXPECTED_STEPS
    assert all(step["status"] == "passed" for step in summary["steps"])
    facts = summary["facts"]
    assert facts["push"]["events_done"] == 6
    assert facts["initial_sync"]["totals"]["failed"] == 0
    # Rev.io ids are whole numbers: the documents pushed and pulled are Rev.io's bills and payments.
    assert facts["push"]["invoice_source_id"].isdigit()
    assert facts["pull_payment"]["applied_to"] == facts["push"]["invoice_source_id"]
    assert facts["pull"]["source_customer_id"].isdigit()
