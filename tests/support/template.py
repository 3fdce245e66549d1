"""template.yaml for tests, read by the local runtime's own loader (one reading of it), and moto tables
created exactly as it declares them, so no schema is ever written twice."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from local.template_model import TemplateModel, load_template, read_template
from qbosync.store.aws import dynamodb_client

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


@cache
def template() -> dict[str, Any]:
    """The raw template (intrinsics as ``local.template_model.Intrinsic``), read once per session."""
    return read_template(TEMPLATE_PATH)


@cache
def template_model() -> TemplateModel:
    """The template as the local runtime's typed model (functions, routes, queues, tables)."""
    return load_template(TEMPLATE_PATH)


def resource_properties(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template()["Resources"][logical_id]["Properties"]
    return properties


def create_table_from_template(logical_id: str, table_name: str) -> None:
    """Create a DynamoDB table in the current moto backend exactly as template.yaml declares it."""
    props = resource_properties(logical_id)
    args: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    client = dynamodb_client()
    client.create_table(**args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )


def create_source_credentials_key() -> str:
    """The KMS key sealing tenants' source credentials, under the alias settings name (as the stack's
    ``SourceCredentialsKey`` and its alias provide it); its key id."""
    import boto3

    from qbosync.settings import get_settings

    kms = boto3.client("kms")
    key_id: str = kms.create_key(Description="qbosync source credentials")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=get_settings().source_credentials_key, TargetKeyId=key_id)
    return key_id
