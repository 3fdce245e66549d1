"""The one backoff policy the QBO client and the source adapter share."""

from __future__ import annotations

import random

import httpx
import pytest

from qbosync.backoff import BackoffPolicy
from qbosync.qbo.client import QboClient
from qbosync.qbo.faults import QboServerFault
from qbosync.source.errors import SourceUnavailable
from qbosync.source.http import HttpSourceAdapter
from tests.support.fakes import StaticToken, TopOfRange


class BottomOfRange(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def test_given_successive_retries_when_the_ceiling_is_asked_then_it_doubles_up_to_the_cap() -> None:
    policy = BackoffPolicy(0.5, 3.0)

    assert [policy.ceiling(retry) for retry in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_given_a_very_late_retry_when_the_ceiling_is_asked_then_it_is_the_cap() -> None:
    assert BackoffPolicy(0.5, 20.0).ceiling(10_000) == 20.0


def test_given_full_jitter_when_delays_are_drawn_then_they_span_zero_to_the_ceiling() -> None:
    assert BackoffPolicy(0.5, 20.0, TopOfRange()).delay(3) == 2.0
    assert BackoffPolicy(0.5, 20.0, BottomOfRange()).delay(3) == 0.0


def test_given_a_seeded_random_source_when_delays_are_drawn_then_they_repeat_and_stay_in_range() -> None:
    first = [BackoffPolicy(0.5, 20.0, random.Random(7)).delay(retry) for retry in range(1, 8)]
    again = [BackoffPolicy(0.5, 20.0, random.Random(7)).delay(retry) for retry in range(1, 8)]

    assert first == again
    assert all(0 <= wait <= min(20.0, 0.5 * 2 ** (n - 1)) for n, wait in enumerate(first, start=1))
    assert len(set(first)) == len(first)  # jittered: no two retries wait the same


def test_given_a_retry_after_when_the_delay_is_drawn_then_it_waits_that_long_but_not_past_the_cap() -> None:
    policy = BackoffPolicy(0.25, 8.0, BottomOfRange())

    assert policy.delay(1, at_least=3.0) == 3.0
    assert policy.delay(1, at_least=600.0) == 8.0


@pytest.mark.parametrize(("base", "cap"), [(-1.0, 1.0), (2.0, 1.0)])
def test_given_an_impossible_policy_when_built_then_it_is_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        BackoffPolicy(base, cap)


def test_given_retry_zero_when_the_ceiling_is_asked_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="from 1"):
        BackoffPolicy(0.5, 1.0).ceiling(0)


def test_given_both_clients_fail_alike_when_they_retry_then_they_wait_by_the_same_policy() -> None:
    source_waits: list[float] = []
    qbo_waits: list[float] = []
    source = HttpSourceAdapter(
        "http://source",
        "acme",
        "sk",
        httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(503))),
        max_attempts=4,
        backoff_seconds=0.5,
        max_backoff_seconds=1.5,
        sleep=source_waits.append,
        rng=TopOfRange(),
    )
    qbo = QboClient(
        "9130",
        StaticToken("t"),
        None,
        "http://qbo",
        http=httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(503))),
        max_attempts=4,
        sleep=qbo_waits.append,
        rng=TopOfRange(),
        backoff_base_seconds=0.5,
        backoff_cap_seconds=1.5,
    )

    with pytest.raises(SourceUnavailable):
        source.get_customer("cus_1")
    with pytest.raises(QboServerFault):
        qbo.read("Customer", "1")

    expected = [BackoffPolicy(0.5, 1.5).ceiling(retry) for retry in (1, 2, 3)]
    assert source_waits == expected == [0.5, 1.0, 1.5]
    assert qbo_waits == expected
