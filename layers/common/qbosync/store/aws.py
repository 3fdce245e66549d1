"""Lazily created, cached boto3 clients: the only place qbosync creates them.

boto3 honours ``AWS_ENDPOINT_URL`` by itself, which is how the local runtime points every client at
moto. Clients are created on first use (never at import time) and cached per process, as a Lambda
container would; ``reset_clients()`` forgets them, for tests that switch between moto instances.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def secrets_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=_CONFIG)


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    return boto3.client("sqs", config=_CONFIG)


@lru_cache(maxsize=1)
def stepfunctions_client() -> SFNClient:
    return boto3.client("stepfunctions", config=_CONFIG)


def reset_clients() -> None:
    """Forget every cached client (tests that start a fresh moto use this)."""
    for factory in (dynamodb_client, secrets_client, sqs_client, stepfunctions_client):
        factory.cache_clear()
