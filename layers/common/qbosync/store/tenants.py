"""The tenant registry: which source accounts qbosync serves.

A tenant is registered when it is provisioned (its source credentials stored, see ``app_secrets``);
every route names a tenant, and an unregistered one is refused with 404 before anything else happens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from qbosync.errors import NotFound
from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_PROFILE_SK = "PROFILE"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class UnknownTenant(NotFound):
    code = "unknown_tenant"


class Tenant(BaseModel):
    """One account of the source system, connected (or to be connected) to one QBO company."""

    tenant_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # Set by an operator's offboarding: the tenant is unknown to every route from then on, and its data
    # is deleted by the operator's purge once purge_after has passed.
    offboarded_at: datetime | None = None
    purge_after: datetime | None = None


class TenantRepository:
    """Registers and looks up tenants in the main table (``TENANT#{id}`` / ``PROFILE``)."""

    def __init__(self, client: DynamoDBClient | None = None, table_name: str | None = None):
        self._client = client
        self._table_name = table_name

    @property
    def client(self) -> DynamoDBClient:
        return self._client or dynamodb_client()

    @property
    def table_name(self) -> str:
        return self._table_name or get_settings().table_name

    def register(self, tenant: Tenant) -> None:
        """Register a tenant; registering it again keeps its original creation time."""
        item: dict[str, Any] = {
            "pk": f"TENANT#{tenant.tenant_id}",
            "sk": _PROFILE_SK,
            "tenant_id": tenant.tenant_id,
            "name": tenant.name,
            "created_at": tenant.created_at.isoformat(),
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={k: _serializer.serialize(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"TENANT#{tenant.tenant_id}"}, "sk": {"S": _PROFILE_SK}},
                UpdateExpression="SET #name = :name",
                ExpressionAttributeNames={"#name": "name"},
                ExpressionAttributeValues={":name": {"S": tenant.name}},
            )

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, or ``UnknownTenant`` (a 404) when it was never registered or was offboarded."""
        tenant = self.profile(tenant_id)
        if tenant is None or tenant.offboarded_at is not None:
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.")
        return tenant

    def profile(self, tenant_id: str) -> Tenant | None:
        """The tenant's profile as stored, offboarded or not (``None`` when never registered)."""
        response = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": _PROFILE_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return self._to_tenant(item) if item is not None else None

    def list_all(self) -> list[Tenant]:
        """Every tenant profile, offboarded ones included: for operators (a filtered scan of the table)."""
        tenants: list[Tenant] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "sk = :profile",
            "ExpressionAttributeValues": {":profile": {"S": _PROFILE_SK}},
        }
        while True:
            response = self.client.scan(**request)
            tenants.extend(self._to_tenant(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(tenants, key=lambda tenant: tenant.tenant_id)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def mark_offboarded(self, tenant_id: str, at: datetime, purge_after: datetime) -> Tenant:
        """Record the offboarding (kept if already offboarded: the first date and purge time stand)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": _PROFILE_SK}},
                UpdateExpression="SET offboarded_at = if_not_exists(offboarded_at, :at), "
                "purge_after = if_not_exists(purge_after, :purge)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":at": {"S": at.isoformat()},
                    ":purge": {"S": purge_after.isoformat()},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.") from exc
        tenant = self.profile(tenant_id)
        assert tenant is not None  # the conditional update above found it
        return tenant

    @staticmethod
    def _to_tenant(item: dict[str, Any]) -> Tenant:
        values = {k: _deserializer.deserialize(v) for k, v in item.items()}
        return Tenant.model_validate(values)

    def exists(self, tenant_id: str) -> bool:
        try:
            self.get(tenant_id)
        except UnknownTenant:
            return False
        return True
