"""The rules of the source contract the kit checks, one id each (``docs/source-contract.md``)."""

from __future__ import annotations

from enum import StrEnum


class ContractRule(StrEnum):
    """One checkable rule of the source contract; the value is what the kit prints."""

    AUTH = "auth.per_tenant_key"
    ERROR_SHAPE = "errors.shape"
    OBJECT_SHAPE = "objects.shape"
    PAGING_WALK = "paging.walk"
    PAGING_LIMIT = "paging.limit"
    PAGING_CURSOR = "paging.foreign_cursor"
    UPDATED_SINCE = "paging.updated_since"
    REFERENCE_LISTS = "reference.lists"
    REFERENCE_CODES_IN_USE = "reference.codes_in_use"
    CREATE_KEY_REQUIRED = "create.key_required"
    CREATE_REPLAY = "create.replay"
    CREATE_KEY_REUSE = "create.key_reuse"
    CREATE_UNKNOWN_REFERENCE = "create.unknown_reference"
    CREATE_STRICT_BODY = "create.strict_body"
    KEY_RETENTION = "create.key_retention"
    VERSIONS = "versions.rise_on_change"
    PATCH = "patch.semantics"
    OPEN_AMOUNT = "payments.open_amount"
    VOID = "void.idempotent"
    WEBHOOK_EMITTED = "webhook.emitted"
    WEBHOOK_SIGNATURE = "webhook.signature"
    WEBHOOK_NOOP_SILENT = "webhook.noop_silent"


RULE_TEXT: dict[ContractRule, str] = {
    ContractRule.AUTH: "no key, a wrong key and an unknown tenant all get 401 (never 404)",
    ContractRule.ERROR_SHAPE: 'every error is {"error": {"code", "message", "details": [...]}}',
    ContractRule.OBJECT_SHAPE: "an id, a whole version >= 1, a zoned updated_at; money as decimal strings",
    ContractRule.PAGING_WALK: "a walk from no cursor returns each object once; only the last page is short",
    ContractRule.PAGING_LIMIT: "limit outside 1..500 or not a number is 400 invalid_limit",
    ContractRule.PAGING_CURSOR: "a cursor the list did not issue is 400 invalid_cursor",
    ContractRule.UPDATED_SINCE: "updated_since keeps the objects with updated_at >= it; a bad value is 400",
    ContractRule.REFERENCE_LISTS: "the six reference lists answer pages of well-formed entries",
    ContractRule.REFERENCE_CODES_IN_USE: (
        "every code products and customers use is in its reference list (admins map only listed codes)"
    ),
    ContractRule.CREATE_KEY_REQUIRED: "a create without Idempotency-Key is 428 idempotency_key_required",
    ContractRule.CREATE_REPLAY: "the same key and body return the same object (201, Idempotent-Replayed)",
    ContractRule.CREATE_KEY_REUSE: "the same key with a different body is 409 idempotency_key_reused",
    ContractRule.CREATE_UNKNOWN_REFERENCE: "a code not in the reference lists is 422 unknown_reference",
    ContractRule.CREATE_STRICT_BODY: "an unknown field in a create is 422 extra_forbidden; non-JSON is 415",
    ContractRule.KEY_RETENTION: "idempotency keys are kept 24 hours or more (replayed from the journal)",
    ContractRule.VERSIONS: "version rises by one on each change, stays on a write that changes nothing",
    ContractRule.PATCH: "PATCH changes the given fields only, null clears, bad patches are 422",
    ContractRule.OPEN_AMOUNT: "applying more than an invoice's open amount is 422 exceeds_open_amount",
    ContractRule.VOID: "voiding a payment gives status void; voiding it again is 200, unchanged",
    ContractRule.WEBHOOK_EMITTED: "every change the kit makes is notified with its kind, id and version",
    ContractRule.WEBHOOK_SIGNATURE: "every webhook has a valid v1 HMAC-SHA256 signature within the window",
    ContractRule.WEBHOOK_NOOP_SILENT: "a write that changes nothing (replay, same patch, re-void) is quiet",
}
