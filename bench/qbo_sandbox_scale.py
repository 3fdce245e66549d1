"""How the QBO sandbox's per-call latency grows with the size of a company.

    .venv/bin/python bench/qbo_sandbox_scale.py [--sizes 1000 10000 100000 --repeats 25]

The sandbox app runs in this process behind `httpx.ASGITransport` with limits lifted, so the figures are
the sandbox's own work per call (routing, token check, JSON, the company's rules and look-ups). For each
size the realm is filled with customers (straight through `Company.create`, not timed), then timed over
HTTP: a batch of 30 customer creates, a name query (`DisplayName = '…'`), an item-name query inside a
batch, a read by Id and a full customer update. Medians in milliseconds.

Last line: ``RESULT {json}`` with the medians per size and, per call kind, the ratio of its latency at the
largest size to the smallest (flat = near 1).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import httpx  # noqa: E402

from local.qbo_sandbox.app import Sandbox, build_app  # noqa: E402
from local.qbo_sandbox.config import SandboxConfig  # noqa: E402

REDIRECT_URI = "http://127.0.0.1:9/callback"
BASE = "http://qbo-sandbox.bench"
BATCH_ITEMS = 30
UNLIMITED = 1_000_000_000


class Bench:
    """One in-process sandbox, one connected realm, and the calls to time."""

    def __init__(self) -> None:
        config = SandboxConfig(
            redirect_uris=[REDIRECT_URI],
            auto_consent=True,
            realm_count=1,
            requests_per_window=UNLIMITED,
            batch_requests_per_window=UNLIMITED,
            max_concurrent=1000,
        )
        self.app = build_app(config)
        self.sandbox: Sandbox = self.app.state.sandbox
        self.realm = next(iter(self.sandbox.companies))
        self.company = self.sandbox.companies[self.realm]
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)
        self.headers: dict[str, str] = {}
        self.filled = 0
        self.serial = 0

    async def connect(self) -> None:
        config = self.sandbox.config
        consent = await self.http.get(
            "/connect/oauth2",
            params={
                "client_id": config.client_id,
                "response_type": "code",
                "scope": "com.intuit.quickbooks.accounting",
                "redirect_uri": REDIRECT_URI,
                "state": "bench",
            },
        )
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        tokens = await self.http.post(
            "/oauth2/v1/tokens/bearer",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            auth=(config.client_id, config.client_secret),
        )
        self.headers = {
            "Authorization": f"Bearer {tokens.json()['access_token']}",
            "Accept": "application/json",
        }

    def fill_to(self, size: int) -> None:
        """Customers and items straight into the company until it holds `size` customers."""
        with self.company.lock:
            while self.filled < size:
                self.company.create("Customer", {"DisplayName": f"Fill Customer {self.filled:06d}"})
                if self.filled % 10 == 0:
                    self.company.create(
                        "Item",
                        {
                            "Name": f"Fill Item {self.filled:06d}",
                            "Type": "Service",
                            "IncomeAccountRef": {"value": "1"},
                        },
                    )
                self.filled += 1

    def _url(self, resource: str) -> str:
        return f"/v3/company/{self.realm}/{resource}"

    async def batch_create(self) -> None:
        items = []
        for index in range(BATCH_ITEMS):
            self.serial += 1
            items.append(
                {
                    "bId": f"b{index}",
                    "operation": "create",
                    "Customer": {"DisplayName": f"Bench {self.serial:07d}"},
                }
            )
        answer = await self.http.post(
            self._url("batch"), json={"BatchItemRequest": items}, headers=self.headers
        )
        created = [item for item in answer.json()["BatchItemResponse"] if "Customer" in item]
        assert len(created) == BATCH_ITEMS, answer.text[:500]

    async def name_query(self) -> None:
        wanted = f"Fill Customer {self.filled // 2:06d}"
        query = f"select * from Customer where DisplayName = '{wanted}'"  # noqa: S608 - QBO query language
        answer = await self.http.get(self._url("query"), params={"query": query}, headers=self.headers)
        assert answer.json()["QueryResponse"]["Customer"][0]["DisplayName"] == wanted, answer.text[:500]

    async def batch_item_queries(self) -> None:
        items = [
            {"bId": f"q{index}", "Query": f"select * from Item where Name = 'Fill Item {index * 10:06d}'"}  # noqa: S608
            for index in range(BATCH_ITEMS)
        ]
        answer = await self.http.post(
            self._url("batch"), json={"BatchItemRequest": items}, headers=self.headers
        )
        found = [item for item in answer.json()["BatchItemResponse"] if item["QueryResponse"].get("Item")]
        assert len(found) == BATCH_ITEMS, answer.text[:500]

    async def read_by_id(self) -> None:
        answer = await self.http.get(self._url(f"customer/{self.filled // 3 + 1}"), headers=self.headers)
        assert answer.status_code == 200, answer.text[:500]

    async def full_update(self) -> None:
        current = (await self.http.get(self._url("customer/2"), headers=self.headers)).json()["Customer"]
        current["Notes"] = f"update {self.serial}"
        self.serial += 1
        answer = await self.http.post(self._url("customer"), json=current, headers=self.headers)
        assert answer.status_code == 200, answer.text[:500]


async def median_ms(call: Callable[[], Awaitable[None]], repeats: int) -> float:
    await call()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)


async def run(sizes: list[int], repeats: int) -> dict[str, Any]:
    bench = Bench()
    await bench.connect()
    calls = {
        "batch_create_30_ms": bench.batch_create,
        "name_query_ms": bench.name_query,
        "batch_30_item_name_queries_ms": bench.batch_item_queries,
        "read_by_id_ms": bench.read_by_id,
        "full_update_ms": bench.full_update,
    }
    by_size: dict[str, dict[str, float]] = {}
    for size in sorted(sizes):
        started = time.perf_counter()
        bench.fill_to(size)
        fill_seconds = time.perf_counter() - started
        gc.collect()  # settle the fill's garbage, as a server would have after its start, before timing
        figures = {name: await median_ms(call, repeats) for name, call in calls.items()}
        by_size[str(size)] = figures
        print(
            f"{size:>7} customers (filled in {fill_seconds:6.1f} s): "
            + ", ".join(f"{k}={v}" for k, v in figures.items())
        )
    smallest, largest = by_size[str(min(sizes))], by_size[str(max(sizes))]
    growth = {name: round(largest[name] / smallest[name], 2) for name in calls}
    print(f"growth from {min(sizes)} to {max(sizes)} customers (largest / smallest): {growth}")
    await bench.http.aclose()
    return {"sizes": sorted(sizes), "repeats": repeats, "median_ms": by_size, "growth": growth}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.sizes, args.repeats))
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
