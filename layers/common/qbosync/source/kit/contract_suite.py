"""The tests the pytest plugin runs: one per contract rule (see ``pytest_plugin``)."""

from __future__ import annotations

import pytest

from qbosync.source.kit.checks import KitReport, Verdict
from qbosync.source.kit.rules import RULE_TEXT, ContractRule


@pytest.mark.parametrize("rule", list(ContractRule), ids=[rule.value for rule in ContractRule])
def test_source_keeps_contract_rule(source_contract_report: KitReport, rule: ContractRule) -> None:
    result = source_contract_report.results[rule]
    if result.verdict is Verdict.SKIP:
        pytest.skip(result.skip_reason or "not checked")
    assert result.verdict is Verdict.PASS, f"{RULE_TEXT[rule]}\n" + "\n".join(result.evidence)
