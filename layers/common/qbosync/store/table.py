"""The one DynamoDB table: key builders for every item, and a small typed wrapper over the client.

Over 400 lines on purpose: this is the table's whole schema in one place, every key shape next to
the one wrapper that reads and writes them, so a new item type cannot miss a rule (key escaping,
cursor ownership, error translation).

Repositories speak plain Python values; this module turns them into DynamoDB's wire format (numbers as
``Decimal`` on the way in, back to ``int``/``float`` on the way out) and turns botocore's errors into the
project's: a failed condition (single write or transaction) is ``ConditionFailed``, anything else
``StoreUnavailable``. Errors are classified by their code, never by message text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from qbosync.errors import BadRequest, QbosyncError
from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client
from qbosync.store.schema import SCHEMA_ATTRIBUTE, SCHEMA_VERSION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

T = TypeVar("T")
Item = dict[str, Any]

GSI1 = "gsi1"
# Sparse: only connections whose status is ``connected`` carry its keys, so the schedules' dispatcher reads
# exactly the tenants it fans out to, never the whole table.
CONNECTED_INDEX = "connected"
CONNECTED_PK = "CONNECTED"
_BATCH_WRITE_LIMIT = 25
_BATCH_GET_LIMIT = 100
_BATCH_RETRIES = 8

# --- key builders ------------------------------------------------------------------------------------

CONNECTION_SK = "CONNECTION"
OWNER_SK = "OWNER"
REFRESH_LOCK_SK = "REFRESH_LOCK"
STATE_SK = "STATE"
PENALTY_SK = "PENALTY"
SETTINGS_SK = "SETTINGS"
RUNLOCK_SK = "RUNLOCK"
AUDIT_PREFIX = "AUDIT#"
LINK_PREFIX = "LINK#"
RUN_PREFIX = "RUN#"
EVENT_PREFIX = "EVENT#"


def _part(value: str, what: str) -> str:
    """A key component that cannot be confused with the ``#`` separators around it."""
    if not value or "#" in value:
        raise ValueError(f"{what} must be non-empty and must not contain '#'")
    return value


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{_part(tenant_id, 'tenant_id')}"


def realm_pk(realm_id: str) -> str:
    return f"REALM#{_part(realm_id, 'realm_id')}"


def oauth_state_pk(nonce: str) -> str:
    return f"OAUTHSTATE#{_part(nonce, 'nonce')}"


def governor_pk(realm_id: str) -> str:
    return f"GOV#{_part(realm_id, 'realm_id')}"


def window_sk(window: int) -> str:
    return f"WINDOW#{window}"


def slot_sk(slot: int) -> str:
    return f"SLOT#{slot}"


def mappings_sk(kind: str) -> str:
    return f"MAPPINGS#{_part(kind, 'kind')}"


def audit_sk(at_iso: str, audit_id: str) -> str:
    return f"{AUDIT_PREFIX}{at_iso}#{audit_id}"


def link_sk(entity: str, source_id: str) -> str:
    """Source ids are the last component, so they may contain anything but must not be empty."""
    if not source_id:
        raise ValueError("source_id must be non-empty")
    return f"{link_prefix(entity)}{source_id}"


def link_prefix(entity: str) -> str:
    return f"{LINK_PREFIX}{_part(entity, 'entity')}#"


def link_gsi1pk(tenant_id: str, entity: str) -> str:
    return f"{tenant_pk(tenant_id)}#QBO#{_part(entity, 'entity')}"


def run_sk(run_id: str) -> str:
    return f"{RUN_PREFIX}{_part(run_id, 'run_id')}"


def event_sk(event_id: str) -> str:
    if not event_id:
        raise ValueError("event_id must be non-empty")
    return f"{EVENT_PREFIX}{event_id}"


def events_gsi1pk(tenant_id: str, status: str) -> str:
    return f"{tenant_pk(tenant_id)}#EVENTS#{_part(status, 'status')}"


def refcache_sk(kind: str) -> str:
    return f"REFCACHE#{_part(kind, 'kind')}"


# --- errors ------------------------------------------------------------------------------------------


class ConditionFailed(QbosyncError):
    """A conditional write (or one item of a transaction) found the item not as expected.

    ``reasons`` holds one cancellation code per transaction item ("None" for the items that were fine),
    so a repository can tell which of its conditions failed; it is empty for a single write.
    """

    status = 409
    code = "condition_failed"

    def __init__(self, message: str = "a conditional write failed", *, reasons: Sequence[str] = ()):
        super().__init__(message)
        self.reasons = list(reasons)

    def failed_at(self, index: int) -> bool:
        """True when the transaction item at ``index`` is the one whose condition failed."""
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


class StoreUnavailable(QbosyncError):
    """DynamoDB or Secrets Manager failed in a way a later retry may fix."""

    status = 503
    code = "store_unavailable"


_CONDITION_CODES = frozenset({"ConditionalCheckFailedException"})


def translate_client_error(exc: ClientError, operation: str) -> QbosyncError:
    """The project's exception for a botocore error, chosen by the error code."""
    error_code = exc.response.get("Error", {}).get("Code", "")
    if error_code in _CONDITION_CODES:
        return ConditionFailed()
    if error_code == "TransactionCanceledException":
        reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons:
            return ConditionFailed("a transaction condition failed", reasons=reasons)
        return StoreUnavailable(f"{operation} was cancelled", details=[{"reasons": reasons}])
    return StoreUnavailable(f"{operation} failed", details=[{"aws_error_code": error_code}])


# --- values ------------------------------------------------------------------------------------------

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo_value(value: Any) -> Any:
    """Floats become Decimals (DynamoDB refuses floats); containers are converted recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    return value


def _from_dynamo_value(value: Any) -> Any:
    """Decimals come back as int when integral, float otherwise, so models and JSON see plain numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_value(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo_value(v) for v in value}
    return value


def serialize(values: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    """Plain values to DynamoDB attribute values (``None`` attributes are left out)."""
    return {k: _serializer.serialize(_to_dynamo_value(v)) for k, v in values.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> Item:
    return {k: _from_dynamo_value(_deserializer.deserialize(v)) for k, v in item.items()}


def encode_cursor(last_evaluated_key: Mapping[str, Any] | None) -> str | None:
    """An opaque page cursor (DynamoDB's LastEvaluatedKey, which holds only key attributes)."""
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the page cursor is not valid", code="invalid_cursor") from exc
    if not isinstance(decoded, dict) or not all(isinstance(v, dict) for v in decoded.values()):
        raise BadRequest("the page cursor is not valid", code="invalid_cursor")
    return decoded


def _check_cursor_belongs(
    start: Mapping[str, Any], *, index: str | None, partition: str, sort_prefix: str | None
) -> None:
    """A cursor must name a position in the very listing it continues: exactly that listing's key
    attributes, as strings, in the queried partition and sort-key range. Anything else (another
    tenant's partition, keys the index does not have) is a client's mistake, never a start key."""
    partition_key, sort_key = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
    expected = {"pk", "sk", partition_key, sort_key}
    values = {
        name: value.get("S") if isinstance(value, Mapping) and set(value) == {"S"} else None
        for name, value in start.items()
    }
    if (
        set(values) != expected
        or not all(isinstance(value, str) and value for value in values.values())
        or values[partition_key] != partition
        or (sort_prefix is not None and not str(values[sort_key]).startswith(sort_prefix))
    ):
        raise BadRequest("the page cursor is not one this listing returned", code="invalid_cursor")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``cursor`` back to get the next one (``None`` at the end)."""

    items: list[T]
    cursor: str | None = None


@dataclass(frozen=True)
class Condition:
    """A condition or update expression with its placeholders, as plain values."""

    expression: str
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


_SCHEMA_NAME = "#qbosync_schema_version"
_SCHEMA_VALUE = ":qbosync_schema_version"
_SET_CLAUSE = re.compile(r"\bSET\s+")


def stamped(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as written now: with the current ``schema_version`` (``store.schema``)."""
    return {**item, SCHEMA_ATTRIBUTE: SCHEMA_VERSION}


def stamped_update(update: Condition) -> Condition:
    """``update`` that also sets the current ``schema_version``, so every write stamps the item."""
    assignment = f"{_SCHEMA_NAME} = {_SCHEMA_VALUE}"
    if _SET_CLAUSE.search(update.expression):
        expression = _SET_CLAUSE.sub(
            lambda match: f"{match.group(0)}{assignment}, ", update.expression, count=1
        )
    else:
        expression = f"SET {assignment} {update.expression}"
    return Condition(
        expression,
        names={**update.names, _SCHEMA_NAME: SCHEMA_ATTRIBUTE},
        values={**update.values, _SCHEMA_VALUE: SCHEMA_VERSION},
    )


def _expression_args(*parts: Condition | None) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for part in parts:
        if part is not None:
            names.update(part.names)
            values.update(part.values)
    args: dict[str, Any] = {}
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = serialize(values)
    return args


# --- the table ---------------------------------------------------------------------------------------


class MainTable:
    """Typed access to the main table; every repository goes through one of these."""

    def __init__(self, client: DynamoDBClient | None = None, table_name: str | None = None) -> None:
        self._client = client
        self._table_name = table_name

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    @property
    def name(self) -> str:
        if self._table_name is None:
            self._table_name = get_settings().table_name
        return self._table_name

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ClientError as exc:
            raise translate_client_error(exc, operation) from exc

    @staticmethod
    def key(pk: str, sk: str) -> dict[str, AttributeValueTypeDef]:
        return serialize({"pk": pk, "sk": sk})

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> Item | None:
        response = self._call(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.name, Key=self.key(pk, sk), ConsistentRead=consistent
            ),
        )
        found = response.get("Item")
        return deserialize(found) if found else None

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        args = _expression_args(condition)
        if condition is not None:
            args["ConditionExpression"] = condition.expression
        self._call(
            "PutItem",
            lambda: self.client.put_item(TableName=self.name, Item=serialize(stamped(item)), **args),
        )

    def update(self, pk: str, sk: str, update: Condition, *, condition: Condition | None = None) -> Item:
        """Apply ``update`` and return the whole item as it is afterwards."""
        update = stamped_update(update)
        args = _expression_args(update, condition)
        if condition is not None:
            args["ConditionExpression"] = condition.expression
        response = self._call(
            "UpdateItem",
            lambda: self.client.update_item(
                TableName=self.name,
                Key=self.key(pk, sk),
                UpdateExpression=update.expression,
                ReturnValues="ALL_NEW",
                **args,
            ),
        )
        return deserialize(response.get("Attributes", {}))

    def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> Item | None:
        """Delete and return the item as it was (``None`` when there was nothing)."""
        args = _expression_args(condition)
        if condition is not None:
            args["ConditionExpression"] = condition.expression
        response = self._call(
            "DeleteItem",
            lambda: self.client.delete_item(
                TableName=self.name, Key=self.key(pk, sk), ReturnValues="ALL_OLD", **args
            ),
        )
        old = response.get("Attributes")
        return deserialize(old) if old else None

    def query(
        self,
        pk: str,
        sk_prefix: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        newest_first: bool = False,
        consistent: bool = True,
        filter_: Condition | None = None,
    ) -> Page[Item]:
        """Items of one partition, optionally only those whose sort key starts with ``sk_prefix``."""
        key_condition = Condition("pk = :pk", values={":pk": pk})
        if sk_prefix is not None:
            key_condition = Condition(
                "pk = :pk AND begins_with(sk, :sk)", values={":pk": pk, ":sk": sk_prefix}
            )
        return self._query(
            key_condition,
            index=None,
            partition=pk,
            sort_prefix=sk_prefix,
            limit=limit,
            cursor=cursor,
            newest_first=newest_first,
            consistent=consistent,
            filter_=filter_,
        )

    def query_gsi1(
        self,
        gsi1pk: str,
        sk_prefix: str | None = None,
        *,
        sk_equals: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        newest_first: bool = False,
        filter_: Condition | None = None,
    ) -> Page[Item]:
        """Items of one ``gsi1`` partition (eventually consistent, as every GSI read is)."""
        key_condition = Condition("gsi1pk = :g", values={":g": gsi1pk})
        if sk_equals is not None:
            key_condition = Condition("gsi1pk = :g AND gsi1sk = :gs", values={":g": gsi1pk, ":gs": sk_equals})
        elif sk_prefix is not None:
            key_condition = Condition(
                "gsi1pk = :g AND begins_with(gsi1sk, :gs)", values={":g": gsi1pk, ":gs": sk_prefix}
            )
        return self._query(
            key_condition,
            index=GSI1,
            partition=gsi1pk,
            sort_prefix=sk_equals if sk_equals is not None else sk_prefix,
            limit=limit,
            cursor=cursor,
            newest_first=newest_first,
            consistent=False,
            filter_=filter_,
        )

    def _query(
        self,
        key_condition: Condition,
        *,
        index: str | None,
        partition: str,
        sort_prefix: str | None,
        limit: int | None,
        cursor: str | None,
        newest_first: bool,
        consistent: bool,
        filter_: Condition | None,
    ) -> Page[Item]:
        args = _expression_args(key_condition, filter_)
        args["KeyConditionExpression"] = key_condition.expression
        if filter_ is not None:
            args["FilterExpression"] = filter_.expression
        if index is not None:
            args["IndexName"] = index
        else:
            args["ConsistentRead"] = consistent
        if limit is not None:
            args["Limit"] = limit
        start = decode_cursor(cursor)
        if start is not None:
            _check_cursor_belongs(start, index=index, partition=partition, sort_prefix=sort_prefix)
            args["ExclusiveStartKey"] = start
        response = self._call(
            "Query",
            lambda: self.client.query(TableName=self.name, ScanIndexForward=not newest_first, **args),
        )
        items = [deserialize(i) for i in response.get("Items", [])]
        return Page(items=items, cursor=encode_cursor(response.get("LastEvaluatedKey")))

    def query_all(self, pk: str, sk_prefix: str | None = None) -> Iterator[Item]:
        """Every item of a partition (or sort-key prefix), following pages."""
        cursor: str | None = None
        while True:
            page = self.query(pk, sk_prefix, cursor=cursor)
            yield from page.items
            if page.cursor is None:
                return
            cursor = page.cursor

    def query_connected_index(self, *, page_size: int = 1000) -> Iterator[Item]:
        """Every item of the sparse ``connected`` index (keys and what the dispatcher reads)."""
        start: dict[str, Any] | None = None
        key_condition = Condition("connected_pk = :c", values={":c": CONNECTED_PK})
        while True:
            args = _expression_args(key_condition)
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = self._call(
                "Query",
                functools.partial(
                    self.client.query,
                    TableName=self.name,
                    IndexName=CONNECTED_INDEX,
                    KeyConditionExpression=key_condition.expression,
                    Limit=page_size,
                    **args,
                ),
            )
            for raw in response.get("Items", []):
                yield deserialize(raw)
            next_key = response.get("LastEvaluatedKey")
            if not next_key:
                return
            start = dict(next_key)

    def scan_all(self, filter_: Condition) -> Iterator[Item]:
        """Every item matching ``filter_``: for small, rare listings only (a scan reads the whole table)."""
        start: dict[str, Any] | None = None
        while True:
            args = _expression_args(filter_)
            args["FilterExpression"] = filter_.expression
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = self._call("Scan", functools.partial(self.client.scan, TableName=self.name, **args))
            for raw in response.get("Items", []):
                yield deserialize(raw)
            next_key = response.get("LastEvaluatedKey")
            if not next_key:
                return
            start = dict(next_key)

    # Transactions: build operations with the *_op helpers, then run them all or none.

    def put_op(
        self, item: Mapping[str, Any], *, condition: Condition | None = None
    ) -> TransactWriteItemTypeDef:
        op: dict[str, Any] = {
            "TableName": self.name,
            "Item": serialize(stamped(item)),
            **_expression_args(condition),
        }
        if condition is not None:
            op["ConditionExpression"] = condition.expression
        return {"Put": op}  # type: ignore[typeddict-item]

    def update_op(
        self, pk: str, sk: str, update: Condition, *, condition: Condition | None = None
    ) -> TransactWriteItemTypeDef:
        update = stamped_update(update)
        op: dict[str, Any] = {
            "TableName": self.name,
            "Key": self.key(pk, sk),
            "UpdateExpression": update.expression,
            **_expression_args(update, condition),
        }
        if condition is not None:
            op["ConditionExpression"] = condition.expression
        return {"Update": op}  # type: ignore[typeddict-item]

    def delete_op(self, pk: str, sk: str, *, condition: Condition | None = None) -> TransactWriteItemTypeDef:
        op: dict[str, Any] = {"TableName": self.name, "Key": self.key(pk, sk), **_expression_args(condition)}
        if condition is not None:
            op["ConditionExpression"] = condition.expression
        return {"Delete": op}  # type: ignore[typeddict-item]

    def transact_write(self, operations: Sequence[TransactWriteItemTypeDef]) -> None:
        """All operations or none; a failed condition raises ``ConditionFailed`` with per-item reasons."""
        self._call(
            "TransactWriteItems", lambda: self.client.transact_write_items(TransactItems=list(operations))
        )

    def batch_put(self, items: Sequence[Mapping[str, Any]], *, sleep: Callable[[float], None]) -> None:
        """Unconditional puts in batches of 25, retrying unprocessed items with a short backoff."""
        self._batch_write([{"PutRequest": {"Item": serialize(stamped(item))}} for item in items], sleep)

    def batch_delete(self, keys: Sequence[tuple[str, str]], *, sleep: Callable[[float], None]) -> None:
        """Unconditional deletes in batches of 25 (a missing item is no error), retried like puts."""
        self._batch_write([{"DeleteRequest": {"Key": self.key(pk, sk)}} for pk, sk in keys], sleep)

    def _batch_write(self, requests: Sequence[Any], sleep: Callable[[float], None]) -> None:
        for start in range(0, len(requests), _BATCH_WRITE_LIMIT):
            pending: list[Any] = list(requests[start : start + _BATCH_WRITE_LIMIT])
            for attempt in range(_BATCH_RETRIES):
                response = self._call(
                    "BatchWriteItem",
                    functools.partial(self.client.batch_write_item, RequestItems={self.name: pending}),
                )
                pending = list(response.get("UnprocessedItems", {}).get(self.name, []))
                if not pending:
                    break
                sleep(min(0.05 * 2**attempt, 2.0))
            if pending:
                raise StoreUnavailable(
                    "BatchWriteItem left items unprocessed", details=[{"count": len(pending)}]
                )

    def batch_get(self, keys: Sequence[tuple[str, str]], *, sleep: Callable[[float], None]) -> list[Item]:
        """Consistent reads of many items, 100 a request, unprocessed keys retried; absent ones left out."""
        found: list[Item] = []
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            pending: list[Any] = [self.key(pk, sk) for pk, sk in keys[start : start + _BATCH_GET_LIMIT]]
            for attempt in range(_BATCH_RETRIES):
                request: Any = {self.name: {"Keys": pending, "ConsistentRead": True}}
                response = self._call(
                    "BatchGetItem", functools.partial(self.client.batch_get_item, RequestItems=request)
                )
                found.extend(deserialize(item) for item in response.get("Responses", {}).get(self.name, []))
                unprocessed = response.get("UnprocessedKeys", {}).get(self.name)
                pending = list(unprocessed["Keys"]) if unprocessed else []
                if not pending:
                    break
                sleep(min(0.05 * 2**attempt, 2.0))
            if pending:
                raise StoreUnavailable(
                    "BatchGetItem left keys unprocessed", details=[{"count": len(pending)}]
                )
        return found
