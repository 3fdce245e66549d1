"""Preflight checks that need only a QBO reader: the ones run right after a company is connected."""

from __future__ import annotations

from typing import Any

from qbosync.errors import UpstreamUnavailable
from qbosync.sync.preflight import connection_prerequisites


class QboCompany:
    """Answers like a UK company: numbered tax codes with rates, no US pseudo-codes."""

    def __init__(self, *, basis: str = "Accrual", zero_rate: bool = True, readable: bool = True) -> None:
        self.basis = basis
        self.readable = readable
        self.tax_codes: list[dict[str, Any]] = [
            {
                "Id": "4",
                "Name": "20.0% S",
                "Active": True,
                "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "20"}}]},
            },
        ]
        if zero_rate:
            self.tax_codes.append(
                {
                    "Id": "6",
                    "Name": "0.0% Z",
                    "Active": True,
                    "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "0"}}]},
                }
            )
        self.rates = [
            {"Id": "20", "Name": "20.0% S", "RateValue": 20},
            {"Id": "0", "Name": "0.0% Z", "RateValue": 0},
        ]

    def query_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        return {"TaxCode": self.tax_codes, "TaxRate": self.rates}[entity]

    def company_info(self) -> dict[str, Any]:
        if not self.readable:
            raise UpstreamUnavailable("QBO refused the request")
        return {"CompanyInfo": {"CompanyName": "Ltd", "Country": "GB"}}

    def preferences(self) -> dict[str, Any]:
        if not self.readable:
            raise UpstreamUnavailable("QBO refused the request")
        return {"Preferences": {"ReportPrefs": {"ReportBasis": self.basis}}}


def _statuses(company: QboCompany) -> dict[str, str]:
    return {
        check["id"]: check["status"] for check in connection_prerequisites("t", "realm-1", reader=company)
    }


def test_given_a_ready_company_when_connected_then_every_prerequisite_passes() -> None:
    assert _statuses(QboCompany()) == {
        "qbo_admin_access": "pass",
        "accrual_basis": "pass",
        "zero_rate_tax_code": "pass",
    }


def test_given_a_cash_basis_company_when_connected_then_accrual_basis_fails() -> None:
    assert _statuses(QboCompany(basis="Cash"))["accrual_basis"] == "fail"


def test_given_only_taxing_codes_when_connected_then_the_zero_rate_check_fails() -> None:
    assert _statuses(QboCompany(zero_rate=False))["zero_rate_tax_code"] == "fail"


def test_given_unreadable_company_settings_when_connected_then_admin_access_fails_with_a_fix() -> None:
    checks = connection_prerequisites("t", "realm-1", reader=QboCompany(readable=False))

    admin = next(check for check in checks if check["id"] == "qbo_admin_access")
    assert (admin["status"], admin["fix"]) == (
        "fail",
        "reconnect QuickBooks Online signed in as a company administrator",
    )


def test_given_prerequisites_when_reported_then_each_has_the_stored_shape() -> None:
    checks = connection_prerequisites("t", "realm-1", reader=QboCompany(basis="Cash"))

    assert all(set(check) == {"id", "status", "reason", "fix"} for check in checks)
