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
from qbosync.source.config import TenantSourceConfig
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
    source: TenantSourceConfig | None = Field(
        None,
        description="which source adapter serves this tenant; none: the contract adapter at SOURCE_BASE_URL",
    )


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
        if tenant.source is not None:
            item["source"] = tenant.source.model_dump(mode="json", exclude_none=True)
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
                **_name_and_source_update(tenant),
            )

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, or ``UnknownTenant`` (a 404) when it was never registered."""
        response = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": _PROFILE_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.")
        values = {k: _deserializer.deserialize(v) for k, v in item.items()}
        return Tenant.model_validate(values)

    def exists(self, tenant_id: str) -> bool:
        try:
            self.get(tenant_id)
        except UnknownTenant:
            return False
        return True


def _name_and_source_update(tenant: Tenant) -> dict[str, Any]:
    """Registering again renames the tenant and sets (or, when absent, keeps) its source config."""
    names = {"#name": "name"}
    values: dict[str, Any] = {":name": {"S": tenant.name}}
    expression = "SET #name = :name"
    if tenant.source is not None:
        names["#source"] = "source"
        values[":source"] = _serializer.serialize(tenant.source.model_dump(mode="json", exclude_none=True))
        expression += ", #source = :source"
    return {
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
