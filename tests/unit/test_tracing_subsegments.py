"""QBO and source calls are X-Ray subsegments when tracing is on, annotated with identifiers only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpx
import pytest
from aws_lambda_powertools import Tracer

from qbosync.observability import LazyTracer
from qbosync.qbo import client as qbo_client_module
from qbosync.qbo.client import QboClient
from qbosync.source import http as source_http_module
from qbosync.source.http import HttpSourceAdapter
from tests.support.fakes import StaticToken


class RecordedSubsegment:
    def __init__(self, name: str) -> None:
        self.name = name
        self.annotations: dict[str, Any] = {}

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class RecordingProvider:
    """Stands in for the X-Ray recorder: records each subsegment opened and what was annotated."""

    def __init__(self) -> None:
        self.subsegments: list[RecordedSubsegment] = []

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[RecordedSubsegment]:
        subsegment = RecordedSubsegment(name)
        self.subsegments.append(subsegment)
        yield subsegment


class FakeTracer:
    def __init__(self, *, disabled: bool = False) -> None:
        self.disabled = disabled
        self.provider = RecordingProvider()


def _built(fake: FakeTracer) -> LazyTracer:
    lazy = LazyTracer("qbosync-test", build=lambda: cast(Tracer, fake))
    lazy.tracer()
    return lazy


def test_given_no_traced_handler_ran_when_a_subsegment_is_opened_then_nothing_is_built() -> None:
    built: list[FakeTracer] = []
    lazy = LazyTracer("qbosync-test", build=lambda: cast(Tracer, built.append(FakeTracer())))

    with lazy.subsegment("qbo", realm_id="9130"):
        pass

    assert built == []
    assert lazy.built is False


def test_given_a_disabled_tracer_when_a_subsegment_is_opened_then_none_is_recorded() -> None:
    fake = FakeTracer(disabled=True)

    with _built(fake).subsegment("qbo", realm_id="9130"):
        pass

    assert fake.provider.subsegments == []


def test_given_tracing_on_when_qbo_is_called_then_each_attempt_is_a_subsegment_without_financial_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeTracer()
    monkeypatch.setattr(qbo_client_module, "tracer", _built(fake))
    answers = iter(
        [httpx.Response(503), httpx.Response(200, json={"Invoice": {"Id": "7", "TotalAmt": 1234.5}})]
    )
    client = QboClient(
        "9130",
        StaticToken("t"),
        None,
        "http://qbo",
        http=httpx.Client(transport=httpx.MockTransport(lambda _: next(answers))),
        sleep=lambda _: None,
    )

    client.create("Invoice", {"TotalAmt": 1234.5, "CustomerRef": {"value": "1"}}, "req-1")

    names = [s.name for s in fake.provider.subsegments]
    annotations = [s.annotations for s in fake.provider.subsegments]
    assert names == ["## qbo", "## qbo"]
    assert annotations == [{"realm_id": "9130", "entity": "Invoice", "method": "POST"}] * 2
    assert "1234" not in repr(annotations)


def test_given_tracing_on_when_the_source_is_called_then_the_call_is_a_subsegment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeTracer()
    monkeypatch.setattr(source_http_module, "tracer", _built(fake))
    adapter = HttpSourceAdapter(
        "http://source",
        "acme",
        "sk_secret",
        httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"items": []}))),
    )

    adapter.list_payment_methods()

    assert [(s.name, s.annotations) for s in fake.provider.subsegments] == [
        ("## source", {"tenant_id": "acme", "method": "GET"})
    ]
