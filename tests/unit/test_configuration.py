"""Settings and mapping rules, without any I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qbosync.errors import NotFound
from qbosync.sync.configuration import (
    MAX_PREFIX_LENGTH,
    QBO_DOC_NUMBER_LENGTH,
    MappingKind,
    MappingRejected,
    MappingRowInput,
    NumberPrefix,
    SettingsRejected,
    TenantSettings,
    mapping_kind,
    merge_patch,
    sections_left_out,
    validate_mapping_rows,
    validate_settings_targets,
)
from qbosync.sync.reference import QboReference, ReferenceKind

INCOME = QboReference(id="1", name="Services", type="Income", active=True)
BANK = QboReference(id="35", name="Checking", type="Bank", active=True)
UNDEPOSITED_FUNDS = QboReference(id="4", name="Undeposited Funds", type="Other Current Asset", active=True)
RECEIVABLE = QboReference(id="84", name="Accounts Receivable (A/R)", type="Accounts Receivable", active=True)
OLD_INCOME = QboReference(id="3", name="Consulting Income", type="Income", active=False)
SERVICE_ITEM = QboReference(id="10", name="Hours", type="Service", active=True)
CATEGORY_ITEM = QboReference(id="17", name="Consulting", type="Category", active=True)


def _rows(*pairs: tuple[str, str]) -> list[MappingRowInput]:
    return [MappingRowInput(source_key=key, qbo_id=qbo_id) for key, qbo_id in pairs]


def _reasons(error: MappingRejected) -> list[tuple[str, str]]:
    return [(detail["source_key"], detail["reason"]) for detail in error.details]


def test_given_no_settings_when_defaults_are_built_then_the_seeds_recommended_prefixes_are_on() -> None:
    settings = TenantSettings()

    assert (settings.prefixes.invoice.apply("1001"), settings.prefixes.payment.apply("77")) == (
        "INV-1001",
        "PMT-77",
    )


def test_given_the_longest_allowed_prefix_then_an_11_digit_number_still_fits_a_qbo_doc_number() -> None:
    assert MAX_PREFIX_LENGTH + 11 == QBO_DOC_NUMBER_LENGTH


def test_given_a_prefix_longer_than_ten_characters_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        NumberPrefix(enabled=True, value="INVOICE-NO-")


def test_given_an_enabled_prefix_without_a_value_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        NumberPrefix(enabled=True, value="")


def test_given_a_disabled_prefix_when_applied_then_the_number_is_unchanged() -> None:
    assert NumberPrefix(enabled=False, value="INV-").apply("1001") == "1001"


def test_given_a_prefix_with_a_space_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        NumberPrefix(enabled=True, value="IN V")


def test_given_an_unknown_settings_field_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        TenantSettings.model_validate({"sync": {"vendors": True}})


def test_given_an_unknown_mapping_kind_when_looked_up_then_404_lists_the_kinds() -> None:
    with pytest.raises(NotFound) as raised:
        mapping_kind("currencies")

    assert raised.value.code == "unknown_mapping_kind"
    assert raised.value.details[0]["allowed"] == [kind.value for kind in MappingKind]


def test_given_valid_gl_code_rows_when_validated_then_they_carry_the_qbo_name_sorted_by_key() -> None:
    rows = validate_mapping_rows(MappingKind.GL_CODES, _rows(("4100", "1"), ("4000", "1")), [INCOME])

    assert [(row.source_key, row.qbo_name) for row in rows] == [("4000", "Services"), ("4100", "Services")]


def test_given_a_gl_code_mapped_to_a_bank_account_when_validated_then_it_is_the_wrong_type() -> None:
    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(MappingKind.GL_CODES, _rows(("4000", "35")), [INCOME, BANK])

    assert _reasons(raised.value) == [("4000", "wrong_type")]


def test_given_a_gl_account_mapped_to_a_bank_account_when_validated_then_it_is_accepted() -> None:
    rows = validate_mapping_rows(MappingKind.GL_ACCOUNTS, _rows(("1-1100", "35")), [BANK])

    assert rows[0].qbo_name == "Checking"


def test_given_a_gl_account_mapped_to_an_other_current_asset_when_validated_then_it_is_accepted() -> None:
    rows = validate_mapping_rows(MappingKind.GL_ACCOUNTS, _rows(("1-1200", "4")), [UNDEPOSITED_FUNDS])

    assert rows[0].qbo_name == "Undeposited Funds"


def test_given_gl_accounts_mapped_to_income_and_receivable_when_validated_then_each_is_the_wrong_type() -> (
    None
):
    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(
            MappingKind.GL_ACCOUNTS, _rows(("1-1100", "1"), ("1-1300", "84")), [INCOME, BANK, RECEIVABLE]
        )

    assert _reasons(raised.value) == [("1-1100", "wrong_type"), ("1-1300", "wrong_type")]
    assert all("Bank or Other Current Asset" in detail["message"] for detail in raised.value.details)
    assert "'Accounts Receivable (A/R)' is Accounts Receivable" in raised.value.details[1]["message"]


def test_given_an_inactive_target_when_validated_then_it_is_inactive() -> None:
    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(MappingKind.GL_CODES, _rows(("4000", "3")), [OLD_INCOME])

    assert _reasons(raised.value) == [("4000", "inactive")]


def test_given_an_income_account_mapped_to_a_category_when_validated_then_it_is_the_wrong_type() -> None:
    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(
            MappingKind.INCOME_ACCOUNTS, _rows(("4-1000", "17")), [SERVICE_ITEM, CATEGORY_ITEM]
        )

    assert _reasons(raised.value) == [("4-1000", "wrong_type")]


def test_given_product_types_when_validated_then_only_qbo_item_types_are_accepted_without_live_data() -> None:
    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(MappingKind.PRODUCT_TYPES, _rows(("svc", "Service"), ("kit", "Bundle")), [])

    assert _reasons(raised.value) == [("kit", "wrong_type")]


def test_given_a_repeated_source_key_when_validated_then_both_rows_are_refused() -> None:
    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(MappingKind.GL_CODES, _rows(("4000", "1"), ("4000", "1")), [INCOME])

    assert _reasons(raised.value) == [("4000", "duplicate_source_key")] * 2


def test_given_settings_naming_a_category_as_the_recurring_item_when_validated_then_the_field_is_named() -> (
    None
):
    settings = TenantSettings.model_validate({"qbo_defaults": {"unmatched_recurring_item_id": "17"}})

    with pytest.raises(SettingsRejected) as raised:
        validate_settings_targets(
            settings, lambda kind: [CATEGORY_ITEM] if kind is ReferenceKind.ITEMS else []
        )

    assert raised.value.details[0]["field"] == "qbo_defaults.unmatched_recurring_item_id"
    assert raised.value.details[0]["reason"] == "wrong_type"


def test_given_settings_without_qbo_targets_when_validated_then_no_reference_data_is_read() -> None:
    def no_reads(kind: ReferenceKind) -> list[QboReference]:
        raise AssertionError(f"read {kind}")

    validate_settings_targets(TenantSettings(), no_reads)


@pytest.mark.parametrize(
    ("target", "patch", "merged"),
    [
        # RFC 7396 appendix A, a selection
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_given_rfc_7396_examples_when_merged_then_the_results_match_the_rfc(
    target: dict[str, object], patch: dict[str, object], merged: dict[str, object]
) -> None:
    assert merge_patch(target, patch) == merged


def test_given_a_settings_body_missing_nested_fields_when_checked_then_each_missing_path_is_named() -> None:
    body = TenantSettings().model_dump(mode="json")
    del body["drift_policy"]
    del body["prefixes"]["write_off"]
    del body["sync"]["payments"]
    del body["schema_version"]  # has one value only: not asked for

    missing = sections_left_out(TenantSettings.model_validate(body))

    assert missing == ["sync.payments", "prefixes.write_off", "drift_policy"]


def test_given_a_whole_settings_document_when_checked_then_nothing_is_missing() -> None:
    whole = TenantSettings.model_validate(TenantSettings().model_dump(mode="json"))

    assert sections_left_out(whole) == []


def test_given_an_empty_qbo_id_and_a_duplicate_when_validated_then_each_row_names_its_own_problem() -> None:
    rows = [MappingRowInput(source_key="4000", qbo_id=""), *_rows(("4100", "1"), ("4100", "35"))]

    with pytest.raises(MappingRejected) as raised:
        validate_mapping_rows(MappingKind.GL_CODES, rows, [INCOME, BANK], source_codes={"4000", "4100"})

    assert [(d["source_key"], d["field"], d["reason"]) for d in raised.value.details] == [
        ("4000", "qbo_id", "empty"),
        ("4100", "source_key", "duplicate_source_key"),
        ("4100", "source_key", "duplicate_source_key"),
        ("4100", "qbo_id", "wrong_type"),
    ]


def test_given_a_payment_method_choice_for_an_unknown_qbo_method_when_validated_then_the_field_is_named() -> (
    None
):
    check = QboReference(id="3", name="Check", type="NON_CREDIT_CARD", active=True)
    settings = TenantSettings.model_validate(
        {"source_defaults": {"qbo_payment_method_choices": {"3": "CHEQUE", "99": "ACH"}}}
    )

    with pytest.raises(SettingsRejected) as raised:
        validate_settings_targets(
            settings, lambda kind: [check] if kind is ReferenceKind.PAYMENT_METHODS else []
        )

    assert [(d["field"], d["qbo_id"]) for d in raised.value.details] == [
        ("source_defaults.qbo_payment_method_choices", "99")
    ]
