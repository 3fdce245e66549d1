"""The app-wide read budget: levels, the degradation order, fair shares, batched accounting, and the
QBO client counting reads (never writes) by kind."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from local.template_model import Intrinsic, load_template
from qbosync.qbo.client import QboClient
from qbosync.qbo.read_budget import (
    AppUsage,
    BudgetLevel,
    InMemoryReadBudgetStore,
    ReadBudget,
    ReadBudgetExhausted,
    ReadBudgetPolicy,
    ReadKind,
    ReadPurpose,
    TenantReads,
    TenantUsage,
    month_of,
)
from qbosync.settings import ReadBudgetSettings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC).timestamp()
POLICY = ReadBudgetPolicy(monthly_allowance=1_000, reserve=100)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _budget(
    store: InMemoryReadBudgetStore | None = None, *, flush_every: int = 10, clock: Clock | None = None
) -> tuple[ReadBudget, InMemoryReadBudgetStore]:
    store = store or InMemoryReadBudgetStore()
    return ReadBudget(POLICY, store, clock=clock or Clock(), flush_every=flush_every, flush_seconds=60), store


def _used_elsewhere(store: InMemoryReadBudgetStore, reads: int, tenant: str = "others") -> None:
    store.record(month_of(NOW), tenant, {ReadPurpose.PULL.value: reads}, 0)


@pytest.mark.parametrize(
    ("used", "level"),
    [
        (0, BudgetLevel.NORMAL),
        (799, BudgetLevel.NORMAL),
        (800, BudgetLevel.LOW),
        (900, BudgetLevel.EXHAUSTED),
    ],
)
def test_given_reads_used_when_the_level_is_asked_then_it_follows_the_reserve(
    used: int, level: BudgetLevel
) -> None:
    assert POLICY.level(used) is level


@pytest.mark.parametrize(
    ("used", "allowed"),
    [
        (800, {"reconcile", "admin", "onboarding", "pull", "push_lookup"}),
        (900, {"admin", "onboarding", "pull", "push_lookup"}),
        (950, {"pull", "push_lookup"}),
        (1_000, {"pull", "push_lookup"}),
        (1_200, {"pull", "push_lookup"}),
    ],
)
def test_given_the_budget_falling_when_reads_are_asked_for_then_reconcile_stops_first_and_pushes_never(
    used: int, allowed: set[str]
) -> None:
    permitted = {purpose.value for purpose in ReadPurpose if POLICY.allows(purpose, used, 0, tenants=1)}

    assert permitted == allowed


def test_given_a_low_budget_when_a_tenant_is_over_its_share_then_only_its_discretionary_reads_stop() -> None:
    share = POLICY.tenant_share(tenants=3)

    assert share == 300
    assert POLICY.allows(ReadPurpose.RECONCILE, 100, share, tenants=3)  # normal: unused shares may be used
    assert not POLICY.allows(ReadPurpose.RECONCILE, 850, share, tenants=3)
    assert not POLICY.allows(ReadPurpose.ADMIN, 850, share, tenants=3)
    assert POLICY.allows(ReadPurpose.ADMIN, 850, share - 1, tenants=3)
    assert POLICY.allows(ReadPurpose.PUSH_LOOKUP, 850, share * 2, tenants=3)


def test_given_reads_drawn_when_fewer_than_the_batch_then_the_store_is_not_written() -> None:
    budget, store = _budget(flush_every=10)

    for _ in range(9):
        budget.draw("t1", ReadPurpose.PULL, ReadKind.READ)

    assert store.records == 0
    assert budget.status().used == 9  # pending reads count in this process's view


def test_given_a_full_batch_when_drawn_then_one_record_adds_it_per_tenant_and_purpose() -> None:
    budget, store = _budget(flush_every=10)

    for _ in range(6):
        budget.draw("t1", ReadPurpose.PULL, ReadKind.READ)
    for _ in range(4):
        budget.draw("t2", ReadPurpose.RECONCILE, ReadKind.CDC)

    assert store.records == 2
    app = store.app_usage(month_of(NOW))
    assert (app.used, app.tenants, app.by_purpose) == (10, 2, {"pull": 6, "reconcile": 4})
    assert store.tenant_usage(month_of(NOW), "t2").discretionary == 4


def test_given_pending_reads_when_the_oldest_is_a_minute_old_then_the_next_draw_flushes() -> None:
    clock = Clock()
    budget, store = _budget(flush_every=100, clock=clock)
    budget.draw("t1", ReadPurpose.ADMIN, ReadKind.QUERY)
    clock.now += 60

    budget.draw("t1", ReadPurpose.ADMIN, ReadKind.QUERY)

    assert store.records == 1
    assert store.tenant_usage(month_of(NOW), "t1").used == 2


def test_given_an_exhausted_budget_when_a_reconcile_read_is_drawn_then_it_is_refused_and_not_counted() -> (
    None
):
    budget, store = _budget()
    _used_elsewhere(store, 900)

    with pytest.raises(ReadBudgetExhausted) as refused:
        budget.draw("t1", ReadPurpose.RECONCILE, ReadKind.CDC)
    budget.draw("t1", ReadPurpose.PUSH_LOOKUP, ReadKind.QUERY)
    budget.flush()

    assert (refused.value.status, refused.value.code) == (429, "read_budget_exhausted")
    assert store.tenant_usage(month_of(NOW), "t1").by_purpose == {"push_lookup": 1}


def test_given_an_exhausted_month_when_the_next_month_starts_then_reconciliation_is_allowed_again() -> None:
    clock = Clock()
    budget, store = _budget(clock=clock)
    _used_elsewhere(store, 950)
    assert not budget.allows("t1", ReadPurpose.RECONCILE)

    clock.now = datetime(2027, 1, 1, 0, 5, tzinfo=UTC).timestamp()

    assert budget.allows("t1", ReadPurpose.RECONCILE)
    assert budget.status().month == "2027-01"


def _client(budget: ReadBudget, purpose: ReadPurpose, replies: list[httpx.Response]) -> QboClient:
    def answer(_request: httpx.Request) -> httpx.Response:
        return replies.pop(0)

    class Tokens:
        def access_token(self) -> str:
            return "token"

        def refresh_after_unauthorized(self, rejected: str) -> str:
            return "token"

    return QboClient(
        "9130",
        Tokens(),
        None,
        "https://qbo.test",
        http=httpx.Client(transport=httpx.MockTransport(answer)),
        clock=lambda: NOW,
        sleep=lambda _: None,
        reads=TenantReads(budget, "t1", purpose),
    )


def test_given_a_metered_client_when_it_reads_queries_and_writes_then_only_reads_are_counted() -> None:
    budget, store = _budget(flush_every=1_000)
    customer = {"Customer": {"Id": "1", "SyncToken": "0"}}
    replies = [
        httpx.Response(200, json=customer),
        httpx.Response(200, json={"QueryResponse": {"Customer": []}}),
        httpx.Response(503, json={}),
        httpx.Response(200, json={"QueryResponse": {"Customer": []}}),
        httpx.Response(200, json=customer),
    ]
    qbo = _client(budget, ReadPurpose.PUSH_LOOKUP, replies)

    qbo.read("Customer", "1")
    qbo.query("SELECT * FROM Customer")
    qbo.query("SELECT * FROM Customer")  # a 503, then a retry: Intuit meters both requests
    qbo.create("Customer", {"DisplayName": "A"}, "rid-1")
    budget.flush()

    assert store.tenant_usage(month_of(NOW), "t1").by_purpose == {"push_lookup": 4}


def test_given_an_exhausted_budget_when_a_reconcile_client_reads_then_nothing_is_sent() -> None:
    budget, store = _budget()
    _used_elsewhere(store, 900)
    replies: list[httpx.Response] = []
    qbo = _client(budget, ReadPurpose.RECONCILE, replies)

    with pytest.raises(ReadBudgetExhausted):
        qbo.cdc(["Customer"], datetime(2026, 12, 1, tzinfo=UTC))


def test_given_the_template_when_read_then_each_budget_variable_has_the_models_default_and_bounds() -> None:
    model = load_template(TEMPLATE)

    for info in ReadBudgetSettings.model_fields.values():
        variable = str(info.alias)
        readers = ("ApiFunction", "ScheduledWorkerFunction", "PushWorkerFunction", "PullWorkerFunction")
        for function_id in readers:
            assert variable in model.functions[function_id].environment, (function_id, variable)
        reference = model.functions["ApiFunction"].environment[variable]
        assert isinstance(reference, Intrinsic) and reference.name == "Ref", variable
        parameter = model.parameters[reference.value]
        bounds = {type(rule).__name__: rule for rule in info.metadata}
        assert (parameter["Type"], parameter["Default"]) == ("Number", info.default), variable
        assert (parameter["MinValue"], parameter["MaxValue"]) == (bounds["Ge"].ge, bounds["Le"].le), variable


def test_given_a_reserve_of_half_the_allowance_when_read_then_the_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QBOSYNC_READ_BUDGET_MONTHLY", "10000")
    monkeypatch.setenv("QBOSYNC_READ_BUDGET_RESERVE", "5000")

    with pytest.raises(ValidationError, match="QBOSYNC_READ_BUDGET_RESERVE"):
        ReadBudgetSettings()


class FlakyStore(InMemoryReadBudgetStore):
    """The shared counter, refusing its next ``failures`` records (DynamoDB throttling)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def record(
        self, month: str, tenant_id: str, reads: Mapping[str, int], source_calls: int
    ) -> tuple[AppUsage, TenantUsage]:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("throttled")
        return super().record(month, tenant_id, reads, source_calls)


def test_given_the_store_failing_when_a_batch_is_due_then_the_read_goes_on_and_the_counts_are_kept() -> None:
    store = FlakyStore(failures=1)
    budget = ReadBudget(POLICY, store, clock=Clock(), flush_every=2)

    budget.draw("t1", ReadPurpose.PUSH_LOOKUP, ReadKind.READ)
    budget.draw("t1", ReadPurpose.PUSH_LOOKUP, ReadKind.READ)  # its flush fails: nothing is lost
    budget.draw("t1", ReadPurpose.PUSH_LOOKUP, ReadKind.READ)

    assert store.tenant_usage(month_of(NOW), "t1").used == 3
