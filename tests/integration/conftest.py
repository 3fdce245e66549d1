"""Integration fixtures: moto for AWS, with the table schema read from template.yaml (never written twice)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client

_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TEST_TABLE_NAME = "qbosync-test"


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short-form tags (``!Ref``, ``!Sub``...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node for !{tag_suffix}", node.start_mark
        )
    return {tag_suffix: value}


CloudFormationLoader.add_multi_constructor("!", _any_tag)


@cache
def template() -> dict[str, Any]:
    """template.yaml, parsed once per test session."""
    with _TEMPLATE.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=CloudFormationLoader)  # noqa: S506 (safe loader subclass)
    return loaded


def create_table_from_template(logical_id: str, table_name: str) -> None:
    """Create a DynamoDB table in the current moto backend exactly as template.yaml declares it."""
    props = template()["Resources"][logical_id]["Properties"]
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


@pytest.fixture
def aws() -> Iterator[None]:
    """Every boto3 call inside the test goes to a fresh in-process moto."""
    with mock_aws():
        yield


@pytest.fixture
def main_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The main table, created in moto from template.yaml's MainTable; TABLE_NAME points at it."""
    monkeypatch.setenv("TABLE_NAME", TEST_TABLE_NAME)
    get_settings.cache_clear()
    create_table_from_template("MainTable", TEST_TABLE_NAME)
    return TEST_TABLE_NAME
