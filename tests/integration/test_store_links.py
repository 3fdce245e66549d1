"""LinkRepository against moto: version ordering, lookup by QBO id, bulk writes, paging, QBO write times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from qbosync.store.links import Link, LinkRepository, LinkState, StaleSourceVersion
from qbosync.store.table import MainTable, link_gsi1pk, link_sk, tenant_pk
from tests.support.stored_items import put_as_version_1

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def a_link(source_id: str = "c-1", *, version: int = 1, qbo_id: str = "58", tenant_id: str = "t1") -> Link:
    return Link(
        tenant_id=tenant_id,
        entity="customer",
        source_id=source_id,
        qbo_id=qbo_id,
        sync_token="0",
        content_hash="h1",
        source_version=version,
        updated_at=AT,
        origin="qbosync",
    )


def test_given_a_link_when_put_then_it_is_found_by_source_id_and_by_qbo_id(main_table: str) -> None:
    repository = LinkRepository()

    repository.put(a_link())

    assert repository.get("t1", "customer", "c-1") == a_link()
    assert repository.get_by_qbo_id("t1", "customer", "58") == a_link()


def test_given_a_qbo_id_that_prefixes_another_when_looked_up_then_only_the_exact_one_returns(
    main_table: str,
) -> None:
    repository = LinkRepository()
    repository.put(a_link("c-1", qbo_id="581"))

    assert repository.get_by_qbo_id("t1", "customer", "58") is None


def test_given_a_newer_link_when_an_older_version_is_put_then_stale_source_version(main_table: str) -> None:
    repository = LinkRepository()
    repository.put(a_link(version=5))

    with pytest.raises(StaleSourceVersion):
        repository.put(a_link(version=4).model_copy(update={"sync_token": "9"}))

    stored = repository.get("t1", "customer", "c-1")
    assert stored is not None and stored.source_version == 5 and stored.sync_token == "0"


def test_given_a_link_when_the_same_or_newer_version_is_put_then_it_wins(main_table: str) -> None:
    repository = LinkRepository()
    repository.put(a_link(version=5))

    repository.put(a_link(version=5).model_copy(update={"sync_token": "1"}))
    repository.put(a_link(version=6).model_copy(update={"sync_token": "2"}))

    stored = repository.get("t1", "customer", "c-1")
    assert stored is not None and (stored.source_version, stored.sync_token) == (6, "2")


def test_given_60_links_when_put_many_and_listed_in_pages_then_every_link_is_returned_once(
    main_table: str,
) -> None:
    repository = LinkRepository(sleep=lambda _: None)
    links = [a_link(f"c-{n:03d}", qbo_id=str(1000 + n)) for n in range(60)]

    repository.put_many(links)
    seen: list[Link] = []
    cursor: str | None = None
    while True:
        page = repository.list("t1", "customer", limit=25, cursor=cursor)
        seen.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break

    assert sorted(link.source_id for link in seen) == sorted(link.source_id for link in links)


def test_given_links_of_two_tenants_when_listing_one_then_the_other_is_not_visible(main_table: str) -> None:
    repository = LinkRepository()
    repository.put(a_link("c-1", tenant_id="t1"))
    repository.put(a_link("c-2", tenant_id="t2"))

    assert [link.source_id for link in repository.list("t1", "customer").items] == ["c-1"]
    assert repository.get_by_qbo_id("t2", "customer", "58") == a_link("c-2", tenant_id="t2")
    assert repository.get("t2", "customer", "c-1") is None


def test_given_a_link_with_qbos_write_time_when_put_then_it_is_read_back_to_the_second_and_offset(
    main_table: str,
) -> None:
    repository = LinkRepository()
    written_at = datetime(2026, 11, 1, 1, 0, 7, tzinfo=timezone(timedelta(hours=-8)))
    link = a_link().model_copy(update={"qbo_written_at": written_at})

    repository.put(link)

    stored = repository.get("t1", "customer", "c-1")
    assert stored == link
    assert stored is not None and stored.qbo_written_at is not None
    assert stored.qbo_written_at.utcoffset() == timedelta(hours=-8)
    assert repository.get_by_qbo_id("t1", "customer", "58") == link


def test_given_a_link_stored_before_qbo_write_times_when_read_then_it_has_none(main_table: str) -> None:
    MainTable().put(
        {
            "pk": tenant_pk("t1"),
            "sk": link_sk("customer", "c-1"),
            "gsi1pk": link_gsi1pk("t1", "customer"),
            "gsi1sk": "58",
            "item_type": "link",
            "tenant_id": "t1",
            "entity": "customer",
            "source_id": "c-1",
            "qbo_id": "58",
            "sync_token": "0",
            "content_hash": "h1",
            "source_version": 1,
            "updated_at": AT.isoformat(),
            "origin": "qbosync",
        }
    )

    stored = LinkRepository().get("t1", "customer", "c-1")

    assert stored == a_link() and stored is not None and stored.qbo_written_at is None


@pytest.mark.parametrize(
    ("stored_hash", "state"),
    [("state:voided", LinkState.VOIDED), ("state:deleted", LinkState.DELETED), ("h1", LinkState.ACTIVE)],
)
def test_given_a_link_stored_with_its_state_in_the_hash_when_read_then_the_state_is_typed(
    main_table: str, stored_hash: str, state: LinkState
) -> None:
    put_as_version_1(
        {
            "pk": tenant_pk("t1"),
            "sk": link_sk("Invoice", "inv-1"),
            "gsi1pk": link_gsi1pk("t1", "Invoice"),
            "gsi1sk": "130",
            "item_type": "link",
            "tenant_id": "t1",
            "entity": "Invoice",
            "source_id": "inv-1",
            "qbo_id": "130",
            "sync_token": "2",
            "content_hash": stored_hash,
            "source_version": 3,
            "updated_at": AT.isoformat(),
            "origin": "qbosync",
        }
    )

    stored = LinkRepository().get("t1", "Invoice", "inv-1")

    assert stored is not None and stored.state is state
    assert stored.is_live is (state is LinkState.ACTIVE)
    assert stored.content_hash == (None if state is not LinkState.ACTIVE else "h1")
