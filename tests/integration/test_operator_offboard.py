"""The operator's offboard against the real disconnect: refused while a QBO write's outcome is unknown
(each open write printed), done with ``--force``."""

# ruff: noqa: F811  (the world fixture is imported from the support module)

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from qbosync.operator.__main__ import run
from qbosync.operator.fleet import FleetOperator
from qbosync.store.connections import ConnectionRepository
from qbosync.store.ledger import WriteIntent, WriteLedger
from qbosync.store.tenants import TenantRepository
from tests.support.connection_world import (
    TENANT_A,
    ConnectionWorld,
    world,  # noqa: F401 - the fixture, used by name
)

REQUEST_ID = "e09536919a79f0c16505b617bf382467"


def _operator(world: ConnectionWorld) -> FleetOperator:
    def disconnect(tenant_id: str, operator: str, *, force: bool = False) -> object:
        return world.service.disconnect(tenant_id, operator, force=force)

    fleet = FleetOperator(disconnect=disconnect)
    fleet.register(TENANT_A, "Acme Law")
    return fleet


def _open_payment_create() -> None:
    WriteLedger().begin(
        WriteIntent(
            tenant_id=TENANT_A,
            link_entity="Payment",
            qbo_entity="Payment",
            source_id="pay_000001",
            version=3,
            operation="create",
            request_id=REQUEST_ID,
            started_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


@pytest.mark.integration
def test_given_an_ambiguous_write_when_offboarding_then_refused_with_each_write_printed_and_nothing_changed(
    world: ConnectionWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.connect()
    fleet = _operator(world)
    _open_payment_create()

    code = run(["offboard", TENANT_A, "--operator", "ops@vendor"], operator=fleet, stdin=io.StringIO())

    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    assert "refused: ambiguous_writes" in printed.err
    assert (
        f"Payment pay_000001 version 3: create, requestid {REQUEST_ID}, since 2026-01-01T00:00:00+00:00"
        in printed.err
    )
    assert "--force" in printed.err
    assert world.stats()["revocations"] == 0
    assert world.call("api_connection_get.json").body["status"] == "connected"
    assert TenantRepository().profile(TENANT_A).offboarded_at is None  # type: ignore[union-attr]


@pytest.mark.integration
def test_given_an_ambiguous_write_when_offboarding_with_force_then_it_is_disconnected_and_offboarded(
    world: ConnectionWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.connect()
    fleet = _operator(world)
    _open_payment_create()

    code = run(
        ["offboard", TENANT_A, "--operator", "ops@vendor", "--force"], operator=fleet, stdin=io.StringIO()
    )

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["disconnected"] is True
    assert world.stats()["revocations"] == 1
    assert ConnectionRepository().get(TENANT_A).status == "disconnected"  # type: ignore[union-attr]
