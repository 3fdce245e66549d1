"""MainTable.batch_put retries what DynamoDB leaves unprocessed (moto never does, so a small fake does)."""

from __future__ import annotations

from typing import Any

import pytest

from qbosync.store.table import MainTable, StoreUnavailable


class ThrottlingDynamoDB:
    """Leaves the last item of every request unprocessed for the first ``throttled_calls`` calls."""

    def __init__(self, throttled_calls: int) -> None:
        self.throttled_calls = throttled_calls
        self.requests: list[list[Any]] = []
        self.written: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        ((table, requests),) = RequestItems.items()
        self.requests.append(requests)
        if len(self.requests) <= self.throttled_calls:
            self.written.extend(r["PutRequest"]["Item"] for r in requests[:-1])
            return {"UnprocessedItems": {table: requests[-1:]}}
        self.written.extend(r["PutRequest"]["Item"] for r in requests)
        return {"UnprocessedItems": {}}


def test_given_unprocessed_items_when_batch_put_then_they_are_retried_after_a_backoff() -> None:
    fake = ThrottlingDynamoDB(throttled_calls=2)
    pauses: list[float] = []
    table = MainTable(client=fake, table_name="t")  # type: ignore[arg-type]

    table.batch_put([{"pk": "A", "sk": str(n)} for n in range(3)], sleep=pauses.append)

    assert sorted(item["sk"]["S"] for item in fake.written) == ["0", "1", "2"]
    assert [len(r) for r in fake.requests] == [3, 1, 1]
    assert len(pauses) == 2 and pauses[0] < pauses[1]


def test_given_items_that_never_get_processed_when_batch_put_then_store_unavailable() -> None:
    table = MainTable(client=ThrottlingDynamoDB(throttled_calls=100), table_name="t")  # type: ignore[arg-type]

    with pytest.raises(StoreUnavailable):
        table.batch_put([{"pk": "A", "sk": "1"}], sleep=lambda _: None)
