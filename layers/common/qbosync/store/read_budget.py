"""DynamoDB side of the app-wide read budget (``qbo.read_budget.ReadBudget`` holds the logic).

- ``BUDGET#{month}`` / ``APP``: the app's reads that month (``used``), per purpose (``reads#{purpose}``)
  and how many tenants read (``tenants``).
- ``TENANT#{t}`` / ``READS#{month}``: one tenant's reads, per purpose, its source calls, and how many
  flushes added to it (the first one also counts the tenant in the app item).

One ``record`` is two updates (tenant, then app), made once per batch of reads, never per read. Items
expire by TTL about 13 months after their month, so a year's history stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from qbosync.qbo.read_budget import AppUsage, TenantUsage
from qbosync.store.table import Condition, MainTable, tenant_pk

APP_SK = "APP"
READS_PREFIX = "READS#"
PURPOSE_PREFIX = "reads#"
_KEEP_FOR = timedelta(days=400)


def budget_pk(month: str) -> str:
    return f"BUDGET#{month}"


def _expires_at(month: str) -> int:
    start = datetime.strptime(f"{month}-01", "%Y-%m-%d").replace(tzinfo=UTC)
    return int((start + _KEEP_FOR).timestamp())


def _by_purpose(item: Mapping[str, Any]) -> dict[str, int]:
    return {
        key.removeprefix(PURPOSE_PREFIX): int(value)
        for key, value in item.items()
        if key.startswith(PURPOSE_PREFIX)
    }


def _adds(reads: Mapping[str, int], extra: Mapping[str, int]) -> Condition:
    """``ADD`` of each purpose's count and of ``extra``'s counters, with ``expires_at`` set once."""
    names: dict[str, str] = {"#exp": "expires_at"}
    values: dict[str, Any] = {}
    parts: list[str] = []
    counters = {**{f"{PURPOSE_PREFIX}{purpose}": n for purpose, n in reads.items()}, **extra}
    for index, (attribute, amount) in enumerate(counters.items()):
        names[f"#a{index}"] = attribute
        values[f":a{index}"] = amount
        parts.append(f"#a{index} :a{index}")
    return Condition(f"ADD {', '.join(parts)} SET #exp = if_not_exists(#exp, :exp)", names, values)


class DynamoReadBudgetStore:
    """Implements ``qbo.read_budget.ReadBudgetStore`` on the main table."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def record(
        self, month: str, tenant_id: str, reads: Mapping[str, int], source_calls: int
    ) -> tuple[AppUsage, TenantUsage]:
        added = sum(reads.values())
        tenant_update = _adds(reads, {"used": added, "source_calls": source_calls, "flushes": 1})
        tenant_item = self._table.update(
            tenant_pk(tenant_id),
            f"{READS_PREFIX}{month}",
            Condition(
                tenant_update.expression,
                tenant_update.names,
                {**tenant_update.values, ":exp": _expires_at(month)},
            ),
        )
        first_flush = int(tenant_item.get("flushes", 0)) == 1
        app_update = _adds(reads, {"used": added, "tenants": 1 if first_flush else 0})
        app_item = self._table.update(
            budget_pk(month),
            APP_SK,
            Condition(
                app_update.expression, app_update.names, {**app_update.values, ":exp": _expires_at(month)}
            ),
        )
        return self._app(month, app_item), self._tenant(month, tenant_id, tenant_item)

    def app_usage(self, month: str) -> AppUsage:
        item = self._table.get(budget_pk(month), APP_SK, consistent=False)
        return self._app(month, item or {})

    def tenant_usage(self, month: str, tenant_id: str) -> TenantUsage:
        item = self._table.get(tenant_pk(tenant_id), f"{READS_PREFIX}{month}", consistent=False)
        return self._tenant(month, tenant_id, item or {})

    @staticmethod
    def _app(month: str, item: Mapping[str, Any]) -> AppUsage:
        return AppUsage(
            month=month,
            used=int(item.get("used", 0)),
            by_purpose=_by_purpose(item),
            tenants=int(item.get("tenants", 0)),
        )

    @staticmethod
    def _tenant(month: str, tenant_id: str, item: Mapping[str, Any]) -> TenantUsage:
        return TenantUsage(
            month=month,
            tenant_id=tenant_id,
            used=int(item.get("used", 0)),
            by_purpose=_by_purpose(item),
            source_calls=int(item.get("source_calls", 0)),
        )
