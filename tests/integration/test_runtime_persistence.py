"""``--persist DIR``: a restarted runtime finds the items, secrets, queued messages and signing key it had."""

from __future__ import annotations

from pathlib import Path

from local.runtime import LocalRuntime, RuntimeOptions
from tests.integration.test_runtime_local_runtime import _client, _write_template


def test_given_a_persist_dir_when_restarted_then_items_secrets_queued_messages_and_tokens_survive(
    tmp_path: Path,
) -> None:
    template, _ = _write_template(tmp_path)
    options = RuntimeOptions(
        template_path=template, tenants=("t-one",), persist_dir=tmp_path / "state", source_customers=2
    )
    first = LocalRuntime(options)
    try:
        info = first.start()
        _client(info, "dynamodb").put_item(
            TableName=info.tables["MainTable"], Item={"pk": {"S": "KEEP"}, "sk": {"S": "ME"}, "n": {"N": "7"}}
        )
        _client(info, "secretsmanager").create_secret(Name="qbosync/local/extra", SecretString='{"k": "v"}')
        _client(info, "sqs").send_message(QueueUrl=info.queues["WorkDeadLetterQueue"], MessageBody="parked")
        old_token = info.tenants[0].admin_token
    finally:
        first.stop()

    second = LocalRuntime(options)
    try:
        info = second.start()
        item = _client(info, "dynamodb").get_item(
            TableName=info.tables["MainTable"], Key={"pk": {"S": "KEEP"}, "sk": {"S": "ME"}}
        )["Item"]
        secret = _client(info, "secretsmanager").get_secret_value(SecretId="qbosync/local/extra")
        messages = _client(info, "sqs").receive_message(QueueUrl=info.queues["WorkDeadLetterQueue"])[
            "Messages"
        ]
        assert second.issuer is not None
        claims = second.issuer.verify(old_token)
    finally:
        second.stop()
    assert item["n"] == {"N": "7"}
    assert secret["SecretString"] == '{"k": "v"}'
    assert [message["Body"] for message in messages] == ["parked"]
    assert claims["qbosync_tenants"] == "t-one"
