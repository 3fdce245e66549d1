"""The pull marks where it improvised: a QBO item linked to the default source product is "synced with
warnings"."""

from __future__ import annotations

from tests.support.pull_world import PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def test_given_an_unlinked_qbo_item_when_pulled_then_its_event_warns_that_the_default_product_stands_for_it(
    pull_world: PullWorld,
) -> None:
    company = pull_world.qbo_sandbox.companies[pull_world.realm_id]
    income = next(row for row in company.records["Account"].values() if row.get("AccountType") == "Income")
    created = pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/item",
        json={"Name": "Rush fee", "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}},
        headers={"Authorization": f"Bearer {pull_world.vault.access_token()}", "Accept": "application/json"},
    )
    created.raise_for_status()
    qbo_id = created.json()["Item"]["Id"]

    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    [event] = [e for e in pull_world.events("done") if e.source_object_id == qbo_id]
    assert [warning.code for warning in event.warnings] == ["default_product_used"]
    assert pull_world.default_product in event.warnings[0].message
    assert event.outcome == "done_with_warnings"
