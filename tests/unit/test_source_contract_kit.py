"""The source-contract kit against the source sandbox, in-process: the sandbox keeps every rule, and
a sandbox started with ``--break RULE`` fails exactly that rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from local.source_sandbox.app import build_app
from local.source_sandbox.config import SandboxConfig, WebhookConfig
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.kit import ContractRule, KitOptions, KitReport, Verdict, WebhookInbox, run_kit

TENANT = "demo"
A_DAY_AND_AN_HOUR = timedelta(hours=25)


@dataclass
class SteppedClock:
    """Time that moves only when a test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class KitAgainstSandbox:
    http: httpx.Client
    inbox: WebhookInbox
    clock: SteppedClock
    journal: Path

    def run(self, *, webhook_timeout: float = 10.0) -> KitReport:
        options = KitOptions(
            tenant_id=TENANT,
            api_key=f"sk_sandbox_{TENANT}",
            inbox=self.inbox,
            page_limit=4,
            webhook_timeout_seconds=webhook_timeout,
            webhook_grace_seconds=0,
            journal=self.journal,
            clock=self.clock,
        )
        return run_kit(self.http, options)


@contextmanager
def kit_against_sandbox(tmp_path: Path, broken: ContractRule | None = None) -> Iterator[KitAgainstSandbox]:
    clock = SteppedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    inbox = WebhookInbox(f"whsec_sandbox_{TENANT}")
    config = SandboxConfig.for_tenants(
        [TENANT],
        customers=15,
        products=6,
        invoices=8,
        webhooks=WebhookConfig(url="http://kit/webhooks/source/{tenant_id}", backoff_seconds=0),
        broken_rule=broken,
    )
    app = build_app(config, clock=clock, webhook_transport=httpx.ASGITransport(app=inbox.asgi_app()))
    with in_process_client(app) as http:
        yield KitAgainstSandbox(http, inbox, clock, tmp_path / "kit-journal.json")


def test_given_the_sandbox_when_the_kit_runs_then_every_rule_passes_but_retention_waits_a_day(
    tmp_path: Path,
) -> None:
    with kit_against_sandbox(tmp_path) as kit:
        report = kit.run()

    assert report.failed == [], report.render()
    verdicts = {rule: result.verdict for rule, result in report.results.items()}
    assert verdicts.pop(ContractRule.KEY_RETENTION) is Verdict.SKIP
    assert set(verdicts.values()) == {Verdict.PASS}
    assert len(report.created) == 2, report.created  # its own customer and its voided payment


def test_given_keys_a_day_old_in_the_journal_when_the_kit_runs_again_then_they_replay(tmp_path: Path) -> None:
    with kit_against_sandbox(tmp_path) as kit:
        kit.run()
        kit.clock.now += A_DAY_AND_AN_HOUR
        report = kit.run()

    assert report.failed == [], report.render()
    assert report.results[ContractRule.KEY_RETENTION].verdict is Verdict.PASS
    assert "h ago" in report.results[ContractRule.KEY_RETENTION].evidence[0]


@pytest.mark.parametrize("rule", list(ContractRule), ids=[rule.value for rule in ContractRule])
def test_given_a_sandbox_that_breaks_one_rule_when_the_kit_runs_then_exactly_that_rule_fails(
    rule: ContractRule, tmp_path: Path
) -> None:
    # A missing webhook is only noticed when the wait for it ends: keep that wait short here.
    webhook_timeout = 1.0 if rule is ContractRule.WEBHOOK_EMITTED else 10.0
    with kit_against_sandbox(tmp_path, broken=rule) as kit:
        kit.run(webhook_timeout=webhook_timeout)
        kit.clock.now += A_DAY_AND_AN_HOUR
        report = kit.run(webhook_timeout=webhook_timeout)

    assert report.failed == [rule], report.render()
    assert any(line.startswith("WRONG") for line in report.results[rule].evidence)


def test_given_a_failing_rule_when_the_report_renders_then_it_names_the_rule_and_the_evidence(
    tmp_path: Path,
) -> None:
    with kit_against_sandbox(tmp_path, broken=ContractRule.VOID) as kit:
        report = kit.run()

    text = report.render()
    assert "FAIL void.idempotent" in text
    assert "void again -> 409 object_void" in text
    assert report.to_json()["rules"]["void.idempotent"]["verdict"] == "fail"


def test_given_a_source_answering_html_when_the_kit_runs_then_every_rule_fails_without_a_crash() -> None:
    def html(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with httpx.Client(transport=httpx.MockTransport(html), base_url="http://source.example") as http:
        report = run_kit(http, KitOptions(tenant_id=TENANT, api_key="sk_any"))

    assert set(report.failed) == set(ContractRule)
    assert "could not be checked" in report.results[ContractRule.VOID].evidence[0]


def test_given_the_contract_check_command_when_run_with_and_without_a_break_then_its_exit_code_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from local.source_sandbox.contract_check import main

    assert main([]) == 0
    assert "0 failed" in capsys.readouterr().out
    assert main(["--break", "paging.walk"]) == 1
    assert "FAIL paging.walk" in capsys.readouterr().out


class RefusingCustomerCreates(httpx.BaseTransport):
    """Forwards to the sandbox, except that creating a customer is refused with a 403."""

    def __init__(self, sandbox: httpx.Client) -> None:
        self._sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/customers"):
            body = {"error": {"code": "forbidden", "message": "no writes for this key", "details": []}}
            return httpx.Response(403, json=body)
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.read()
        )
        return self._sandbox.send(forwarded)


def test_given_a_source_refusing_customer_creates_when_the_kit_runs_then_what_needs_that_customer_fails(
    tmp_path: Path,
) -> None:
    with kit_against_sandbox(tmp_path) as kit:
        refusing = httpx.Client(transport=RefusingCustomerCreates(kit.http), base_url=str(kit.http.base_url))
        report = run_kit(
            refusing, KitOptions(tenant_id=TENANT, api_key=f"sk_sandbox_{TENANT}", inbox=kit.inbox)
        )

    needing_the_customer = {
        ContractRule.CREATE_REPLAY,
        ContractRule.VERSIONS,
        ContractRule.PATCH,
        ContractRule.VOID,
        ContractRule.OPEN_AMOUNT,
        ContractRule.WEBHOOK_EMITTED,
        ContractRule.WEBHOOK_NOOP_SILENT,
    }
    assert needing_the_customer <= set(report.failed)
    assert (
        "creating the kit's test customer answered 403 forbidden"
        in report.results[ContractRule.VOID].evidence[0]
    )
    assert all(r.verdict is not Verdict.SKIP or r.skip_reason for r in report.results.values())


def test_given_no_webhook_secret_when_the_cli_starts_then_it_asks_for_one_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qbosync.source.kit.__main__ import main

    assert main(["--base-url", "http://source.example", "--api-key", "sk_any"]) == 2
    assert "--webhook-secret is required unless --no-webhooks" in capsys.readouterr().err
