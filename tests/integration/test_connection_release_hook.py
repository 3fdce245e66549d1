"""The connection callback hands the newly connected tenant to ``on_connected`` (the composition root
re-queues the events that failed for want of a connection); a failing hook never undoes the connection."""

# ruff: noqa: F811  (the world fixture is imported from the support module)

from __future__ import annotations

from tests.support.connection_world import (
    TENANT_A,
    ConnectionWorld,
    world,  # noqa: F401 - the fixture, used by name
)


def test_given_a_connection_service_when_an_admin_connects_then_the_tenants_events_are_released(
    world: ConnectionWorld,
) -> None:
    released: list[str] = []
    world.service.on_connected = released.append

    reply = world.connect()

    assert reply.outcome()["qbo_connection"] == "connected"
    assert released == [TENANT_A]


def test_given_releasing_fails_when_an_admin_connects_then_the_connection_still_stands(
    world: ConnectionWorld,
) -> None:
    def broken(_tenant_id: str) -> None:
        raise RuntimeError("the queue is down")

    world.service.on_connected = broken

    reply = world.connect()

    assert reply.outcome()["qbo_connection"] == "connected"
