"""The QBO query language of the sandbox: every operator, paging, ordering, COUNT and QBO's refusals."""

from __future__ import annotations

from typing import Any

import pytest

from local.qbo_sandbox.faultbody import QboFaultError
from local.qbo_sandbox.query import evaluate_query, parse_query

CUSTOMERS: list[dict[str, Any]] = [
    {
        "Id": "1",
        "DisplayName": "Amy's Bird Sanctuary",
        "Balance": 239.0,
        "Active": True,
        "MetaData": {"LastUpdatedTime": "2026-11-01T10:00:00-07:00"},
        "SalesTermRef": {"value": "3", "name": "Net 30"},
    },
    {
        "Id": "2",
        "DisplayName": "Bill's Windsurf Shop",
        "Balance": 85.0,
        "Active": True,
        "MetaData": {"LastUpdatedTime": "2026-11-10T10:00:00-08:00"},
        "SalesTermRef": {"value": "2", "name": "Net 15"},
    },
    {
        "Id": "10",
        "DisplayName": "Cool Cars",
        "Balance": 0.0,
        "Active": False,
        "MetaData": {"LastUpdatedTime": "2026-11-20T10:00:00-08:00"},
    },
    {
        "Id": "3",
        "DisplayName": "Diego Rodriguez",
        "Balance": 85.0,
        "Active": True,
        "MetaData": {"LastUpdatedTime": "2026-11-15T10:00:00-08:00"},
        "TxnDate": "2026-11-15",
    },
]


def ids(text: str, records: list[dict[str, Any]] = CUSTOMERS) -> list[str]:
    answer = evaluate_query(parse_query(text), records, "Customer")
    return [record["Id"] for record in answer.get("Customer", [])]


def refusal(text: str) -> QboFaultError:
    with pytest.raises(QboFaultError) as caught:
        parse_query(text)
    return caught.value


def test_given_a_display_name_in_other_case_when_equality_is_queried_then_it_matches_without_case() -> None:
    assert ids("SELECT * FROM Customer WHERE DisplayName = 'cool cars'") == ["10"]


def test_given_an_escaped_quote_when_queried_then_the_literal_contains_the_quote() -> None:
    assert ids(r"select * from Customer where DisplayName = 'Amy\'s Bird Sanctuary'") == ["1"]


def test_given_amounts_when_less_than_is_queried_then_numbers_compare_numerically() -> None:
    assert ids("select * from Customer where Balance < '85'") == ["10"]


def test_given_amounts_when_greater_than_is_queried_then_only_larger_ones_match() -> None:
    assert ids("select * from Customer where Balance > 85") == ["1"]


def test_given_amounts_when_bounds_are_inclusive_then_equal_values_match() -> None:
    assert ids("select * from Customer where Balance >= '85.00' AND Balance <= 85") == ["2", "3"]


def test_given_ids_when_in_is_queried_then_each_listed_id_matches() -> None:
    assert ids("select * from Customer where Id IN ('1', '3', '99')") == ["1", "3"]


def test_given_names_when_like_has_a_trailing_percent_then_prefixes_match() -> None:
    assert ids("select * from Customer where DisplayName LIKE 'b%'") == ["2"]


def test_given_names_when_like_has_percent_on_both_sides_then_substrings_match() -> None:
    assert ids("select * from Customer where DisplayName like '%s%'") == ["1", "2", "10"]


def test_given_a_boolean_field_when_queried_with_false_then_only_inactive_records_match() -> None:
    assert ids("select * from Customer where Active = false") == ["10"]


def test_given_a_nested_timestamp_when_compared_with_a_date_then_later_changes_match() -> None:
    assert ids("select * from Customer where MetaData.LastUpdatedTime > '2026-11-12'") == ["3", "10"]


def test_given_a_timestamp_literal_with_offset_when_compared_then_instants_are_compared() -> None:
    text = "select * from Customer where MetaData.LastUpdatedTime >= '2026-11-15T18:00:00Z'"
    assert ids(text) == ["3", "10"]


def test_given_a_reference_field_when_queried_then_its_value_is_compared() -> None:
    assert ids("select * from Customer where SalesTermRef = '2'") == ["2"]


def test_given_lowercase_field_names_when_queried_then_fields_are_found_without_case() -> None:
    assert ids("select * from Customer where displayname = 'Cool Cars'") == ["10"]


def test_given_a_date_field_when_compared_with_a_date_then_dates_compare() -> None:
    assert ids("select * from Customer where TxnDate >= '2026-11-15'") == ["3"]


def test_given_no_orderby_when_queried_then_records_come_in_numeric_id_order() -> None:
    assert ids("select * from Customer") == ["1", "2", "3", "10"]


def test_given_orderby_desc_when_queried_then_records_come_in_descending_order() -> None:
    assert ids("select * from Customer orderby DisplayName desc") == ["3", "10", "2", "1"]


def test_given_two_orderby_keys_when_queried_then_the_second_breaks_ties() -> None:
    assert ids("select * from Customer ORDER BY Balance DESC, DisplayName DESC") == ["1", "3", "2", "10"]


def test_given_paging_when_queried_then_startposition_counts_from_one() -> None:
    answer = evaluate_query(
        parse_query("select * from Customer STARTPOSITION 2 MAXRESULTS 2"), CUSTOMERS, "Customer"
    )
    assert [r["Id"] for r in answer["Customer"]] == ["2", "3"]
    assert (answer["startPosition"], answer["maxResults"]) == (2, 2)


def test_given_no_maxresults_when_parsed_then_the_default_is_one_hundred() -> None:
    assert parse_query("select * from Customer").max_results == 100


def test_given_count_when_queried_then_only_total_count_is_returned() -> None:
    answer = evaluate_query(
        parse_query("SELECT COUNT(*) FROM Customer WHERE Balance > 0"), CUSTOMERS, "Customer"
    )
    assert answer == {"totalCount": 3}


def test_given_no_match_when_queried_then_the_response_is_empty() -> None:
    assert evaluate_query(parse_query("select * from Customer where Id = '404'"), CUSTOMERS, "Customer") == {}


def test_given_python_quickbooks_item_selection_when_parsed_then_it_is_accepted_as_star() -> None:
    assert parse_query("SELECT *, Sku FROM Item MAXRESULTS 100").entity == "Item"


def test_given_or_when_parsed_then_qbo_refuses_with_a_parser_error() -> None:
    err = refusal("select * from Customer where Id = '1' OR Id = '2'")
    assert (err.code, err.message) == ("4000", "Error parsing query")
    assert err.detail.startswith("QueryParserError: Encountered")


def test_given_a_projection_when_parsed_then_it_is_refused() -> None:
    assert refusal("select Id, DisplayName from Customer").code == "4000"


def test_given_group_by_when_parsed_then_it_is_refused() -> None:
    assert refusal("select * from Customer group by Balance").code == "4000"


def test_given_a_join_when_parsed_then_it_is_refused() -> None:
    assert refusal("select * from Customer join Invoice").code == "4000"


def test_given_maxresults_above_1000_when_parsed_then_a_validation_error_names_the_limit() -> None:
    assert "Max allowed value is 1000" in refusal("select * from Customer maxresults 1001").detail


def test_given_startposition_zero_when_parsed_then_it_is_refused() -> None:
    assert refusal("select * from Customer startposition 0").code == "4000"


def test_given_an_unterminated_string_when_parsed_then_a_lexical_error_is_reported() -> None:
    assert "Lexical error" in refusal("select * from Customer where DisplayName = 'abc").detail


def test_given_an_unknown_operator_when_parsed_then_it_is_refused() -> None:
    assert refusal("select * from Customer where Balance != 3").code == "4000"


def test_given_an_empty_query_when_parsed_then_it_is_refused() -> None:
    assert refusal("   ").code == "4000"


def test_given_like_with_an_underscore_when_queried_then_underscore_is_literal() -> None:
    assert ids("select * from Customer where DisplayName like 'Cool_Cars'") == []
