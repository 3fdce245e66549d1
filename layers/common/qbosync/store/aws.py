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

from qbosync.settings import get_token_refresh_budget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
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


def _bounded_config() -> Config:
    """One attempt with short timeouts: the token vault retries itself, inside a budget it can prove."""
    budget = get_token_refresh_budget()
    return Config(
        retries={"total_max_attempts": 1},
        connect_timeout=budget.aws_connect_timeout_seconds,
        read_timeout=budget.aws_read_timeout_seconds,
    )


@lru_cache(maxsize=1)
def bounded_dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_bounded_config())


@lru_cache(maxsize=1)
def bounded_secrets_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=_bounded_config())


@lru_cache(maxsize=1)
def bounded_kms_client() -> KMSClient:
    return boto3.client("kms", config=_bounded_config())


def reset_clients() -> None:
    """Forget every cached client (tests that start a fresh moto use this)."""
    for factory in (
        dynamodb_client,
        secrets_client,
        sqs_client,
        stepfunctions_client,
        bounded_dynamodb_client,
        bounded_secrets_client,
        bounded_kms_client,
    ):
        factory.cache_clear()
