"""QBO reference data: conversion, caching and marking what is mapped, with in-memory collaborators."""

from __future__ import annotations

from typing import Any

import pytest

from qbosync.errors import NotConnected, UpstreamUnavailable
from qbosync.qbo.faults import QboAuthenticationFault, QboServerFault
from qbosync.sync.reference import ReferenceCatalog, ReferenceKind, mark_mapped, to_reference


class InMemoryCache:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[list[dict[str, Any]], float]] = {}

    def get(self, tenant_id: str, kind: str, now: float) -> list[dict[str, Any]] | None:
        entries, expires_at = self.items.get((tenant_id, kind), ([], 0.0))
        return entries if expires_at > now else None

    def put(self, tenant_id: str, kind: str, entries: list[dict[str, Any]], expires_at: float) -> None:
        self.items[(tenant_id, kind)] = (entries, expires_at)


class QboClasses:
    def __init__(self) -> None:
        self.rows = [{"Id": "100", "Name": "Consulting", "FullyQualifiedName": "Consulting", "Active": True}]
        self.wheres: list[str] = []

    def query_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        self.wheres.append(where)
        return list(self.rows)

    def company_info(self) -> dict[str, Any]:
        return {}

    def preferences(self) -> dict[str, Any]:
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_given_a_qbo_account_when_converted_then_type_subtype_and_classification_are_kept() -> None:
    raw = {
        "Id": "1",
        "Name": "Services",
        "AccountType": "Income",
        "AccountSubType": "ServiceFeeIncome",
        "Classification": "Revenue",
        "Active": True,
        "SyncToken": "0",
    }

    entry = to_reference(ReferenceKind.ACCOUNTS, raw)

    assert (entry.id, entry.type, entry.subtype, entry.classification) == (
        "1",
        "Income",
        "ServiceFeeIncome",
        "Revenue",
    )


def test_given_a_sub_class_when_converted_then_its_fully_qualified_name_is_shown() -> None:
    entry = to_reference(
        ReferenceKind.CLASSES, {"Id": "7", "Name": "East", "FullyQualifiedName": "Sales:East"}
    )

    assert (entry.name, entry.active) == ("Sales:East", True)


def test_given_a_young_cached_list_when_read_again_then_qbo_is_not_asked() -> None:
    qbo, cache, clock = QboClasses(), InMemoryCache(), Clock()
    ReferenceCatalog("t", qbo, cache, clock).entries(ReferenceKind.CLASSES)
    clock.now += 299

    ReferenceCatalog("t", qbo, cache, clock).entries(ReferenceKind.CLASSES)

    assert len(qbo.wheres) == 1


def test_given_an_expired_cached_list_when_read_then_qbo_is_asked_again() -> None:
    qbo, cache, clock = QboClasses(), InMemoryCache(), Clock()
    ReferenceCatalog("t", qbo, cache, clock).entries(ReferenceKind.CLASSES)
    clock.now += 301

    ReferenceCatalog("t", qbo, cache, clock).entries(ReferenceKind.CLASSES)

    assert len(qbo.wheres) == 2


def test_given_a_catalog_when_live_data_is_read_then_inactive_entries_are_asked_for_too() -> None:
    qbo = QboClasses()

    ReferenceCatalog("t", qbo, InMemoryCache(), Clock()).live(ReferenceKind.CLASSES)

    assert qbo.wheres == ["Active IN (true, false)"]


def test_given_mapped_sources_when_entries_are_marked_then_only_mapped_entries_carry_them() -> None:
    entries = [
        to_reference(ReferenceKind.ITEMS, {"Id": i, "Name": n, "Type": "Service"})
        for i, n in (("15", "Professional Fees"), ("10", "Hours"))
    ]

    marked = mark_mapped(entries, {"15": ["5-2000", "4-1000"]})

    assert [(e.id, e.mapped, e.mapped_from) for e in marked] == [
        ("15", True, ["4-1000", "5-2000"]),
        ("10", False, []),
    ]


class FailingQbo(QboClasses):
    def __init__(self, fault: Exception) -> None:
        super().__init__()
        self.fault = fault

    def query_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        raise self.fault


def test_given_qbo_refusing_the_tokens_when_a_list_is_read_then_the_tenant_is_not_connected() -> None:
    catalog = ReferenceCatalog(
        "t", FailingQbo(QboAuthenticationFault("expired", status=401)), InMemoryCache(), Clock()
    )

    with pytest.raises(NotConnected):
        catalog.entries(ReferenceKind.ITEMS)


def test_given_qbo_failing_when_a_list_is_read_then_it_is_upstream_unavailable() -> None:
    catalog = ReferenceCatalog("t", FailingQbo(QboServerFault("boom", status=503)), InMemoryCache(), Clock())

    with pytest.raises(UpstreamUnavailable):
        catalog.entries(ReferenceKind.ITEMS)
