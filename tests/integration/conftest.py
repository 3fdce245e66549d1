"""Integration fixtures: moto for AWS, with the table schema read from template.yaml (never written twice)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from qbosync.settings import get_settings
from tests.support.template import create_source_credentials_key, create_table_from_template, template

TEST_TABLE_NAME = "qbosync-test"

__all__ = ["TEST_TABLE_NAME", "create_table_from_template", "template"]


@pytest.fixture
def aws() -> Iterator[None]:
    """Every boto3 call inside the test goes to a fresh in-process moto."""
    with mock_aws():
        yield


@pytest.fixture
def main_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The main table, created in moto from template.yaml's MainTable; TABLE_NAME points at it. With it,
    the KMS key that seals source credentials in the table (``SourceCredentialsKey``)."""
    monkeypatch.setenv("TABLE_NAME", TEST_TABLE_NAME)
    get_settings.cache_clear()
    create_table_from_template("MainTable", TEST_TABLE_NAME)
    create_source_credentials_key()
    return TEST_TABLE_NAME
