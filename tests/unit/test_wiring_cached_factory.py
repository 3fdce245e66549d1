"""A router's cached factory: built at the first call, reused after, forgotten by ``wiring.reset()``."""

from __future__ import annotations

from qbosync.sync import wiring


class Built:
    pass


def test_given_a_cached_factory_when_called_twice_then_it_builds_once_and_only_when_called() -> None:
    built: list[Built] = []
    factory = wiring.cached_factory(lambda: built.append(Built()) or built[-1])
    assert built == []

    first = factory()
    second = factory()

    assert first is second
    assert built == [first]


def test_given_a_built_cached_factory_when_the_wiring_is_reset_then_the_next_call_builds_again() -> None:
    built: list[Built] = []
    factory = wiring.cached_factory(lambda: built.append(Built()) or built[-1])
    before = factory()

    wiring.reset()

    assert factory() is not before
    assert len(built) == 2
