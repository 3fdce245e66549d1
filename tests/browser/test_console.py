"""The admin console in a real browser, walked through as the setup guides walk an admin: connect,
options, one mapping row of each kind (one refused first), defaults, preflight, a dry run, the initial sync
run from its plan to 100%,
a failed event retried; then the console mounted in a vendor's page, whose host hears its events, every
screen at phone width, and last a grant left idle past Intuit's 100-day limit (the host hears needs_reauth).

The tests are one journey over one runtime and run in file order; each leaves a screenshot of its screen
in ``test-output/browser/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from local.demo.clients import OperatorSecrets, SourceSystem
from tests.browser.conftest import SYNC_WAIT_SECONDS, TENANT, Console

LOSE_THE_FIRST_POLLS = """
const [pathEnd, toLose] = arguments;
window.__lostPolls = 0;
const passOn = window.fetch;
window.fetch = (url, options) => {
  const path = String(url).split("?")[0];
  if (path.includes(pathEnd) && window.__lostPolls < toLose) {
    window.__lostPolls += 1;
    return Promise.reject(new TypeError("network lost (injected by the test)"));
  }
  return passOn(url, options);
};
"""
FINISHED = {"SUCCEEDED", "SUCCEEDED_WITH_WARNINGS", "SUCCEEDED_WITH_ERRORS", "FAILED", "ABORTED"}
HOST_ACCENT = "#6b2bd9"


def reference(api: httpx.Client, kind: str) -> list[dict[str, Any]]:
    reply = api.get(f"/qbo/reference/{kind}")
    reply.raise_for_status()
    return [entry for entry in reply.json()["entries"] if entry.get("active", True)]


def first(entries: list[dict[str, Any]], **matching: Any) -> str:
    return str(next(e for e in entries if all(e.get(k) == v for k, v in matching.items()))["id"])


def connection_status(console: Console) -> str:
    console.wait_for("#connection-status")
    # Read in one step: the screen re-renders itself, so a held element may be gone a moment later.
    return str(
        console.driver.execute_script("return document.getElementById('connection-status')?.dataset.status")
    )


def connect_through_the_button(console: Console) -> None:
    """Click Connect (or Reconnect), let Intuit's (sandbox) window do its part, wait for the green light."""
    before = console.api().get("/qbo/connection").json().get("connected_at")
    console.wait_for("#connect-button").click()
    console.wait_until(
        lambda _driver: console.api().get("/qbo/connection").json().get("connected_at") not in (None, before)
    )
    console.wait_until(lambda _driver: connection_status(console) == "connected")
    console.wait_until(lambda driver: len(driver.window_handles) == 1)  # the console closed Intuit's window


def add_mapping_row(console: Console, kind: str, source_key: str, qbo_id: str) -> None:
    """Add a row, picking both sides from their dropdowns (the source side is the source's own list)."""
    console.wait_for(f"#{kind}-add-row").click()
    row = console.driver.find_elements(By.CSS_SELECTOR, ".mapping-table tbody tr")[-1]
    Select(row.find_element(By.NAME, "source_key")).select_by_value(source_key)
    row = console.driver.find_elements(By.CSS_SELECTOR, ".mapping-table tbody tr")[-1]  # redrawn on change
    Select(row.find_element(By.NAME, "qbo_id")).select_by_value(qbo_id)


def save_mappings(console: Console) -> None:
    console.driver.find_element(By.CSS_SELECTOR, ".mapping-form button[type=submit]").click()


def test_given_a_new_tenant_when_the_admin_connects_then_the_status_light_turns_green(
    console: Console,
) -> None:
    console.sign_in()
    assert connection_status(console) == "not_connected"
    assert console.driver.current_url == console.url  # the session left the address bar
    console.screenshot("01-connection-not-connected")

    # Two polls for the connection are lost while Intuit's window is open: the wait goes on.
    console.driver.execute_script(LOSE_THE_FIRST_POLLS, "/qbo/connection", 2)
    connect_through_the_button(console)

    assert console.driver.execute_script("return window.__lostPolls") == 2
    assert "Sandbox Company" in console.text_of(".connection-card .company")
    assert console.wait_for(".checks .check")  # the prerequisites checked at connection time
    plan = console.text_of("#plan-details")  # the plan details next to them, from QBO's Preferences
    assert "Multi-currency" in plan and "home currency USD" in plan and "Automated Sales Tax" in plan
    console.screenshot("02-connection")


def test_given_a_connection_when_the_invoice_prefix_is_typed_then_the_docnumber_preview_follows_and_saves(
    console: Console,
) -> None:
    console.open("invoice-options")
    prefix = console.wait_for("input[name='prefixes.invoice.value']")
    prefix.clear()
    prefix.send_keys("RV-")

    assert console.text_of(".prefix-editor[data-prefix=invoice] output") == "RV-1042"
    console.screenshot("03-invoice-options")
    console.driver.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    console.wait_for(".form-status .notice-ok")
    assert console.api().get("/settings").json()["settings"]["prefixes"]["invoice"]["value"] == "RV-"


def test_given_qbo_lists_when_one_row_of_each_kind_is_mapped_then_a_refused_row_shows_its_error_in_place(
    console: Console,
) -> None:
    api = console.api()
    accounts = reference(api, "accounts")
    items = reference(api, "items")
    income = first(accounts, type="Income")
    expense = next(e["id"] for e in accounts if e.get("type") != "Income")
    choices = {
        "payment-methods": ("ACH", first(reference(api, "payment-methods"))),
        "gl-codes": ("4000-MS", income),
        "product-types": ("service", "Service"),
        "income-accounts": ("200", first(items, type="Service")),
        "gl-accounts": ("090", first(accounts, type="Bank")),
        "tax-codes": ("CA", first(reference(api, "tax-codes"))),
    }

    console.open("gl-codes")
    add_mapping_row(console, "gl-codes", "4100-HW", expense)
    save_mappings(console)
    refused = console.wait_for(".mapping-table tr.has-error .row-error")
    assert "Income" in refused.text
    console.screenshot("04-mapping-refused-row")
    Select(console.driver.find_element(By.CSS_SELECTOR, "tr.has-error select[name=qbo_id]")).select_by_value(
        income
    )
    save_mappings(console)
    console.wait_for(".form-status .notice-ok")

    for kind, (source_key, qbo_id) in choices.items():
        console.open(kind)
        add_mapping_row(console, kind, source_key, qbo_id)
        save_mappings(console)
        console.wait_for(".form-status .notice-ok")
        assert console.wait_for(f".reference-list li.mapped[data-qbo-id='{qbo_id}'] s")  # crossed out
        rows = {(row["source_key"], row["qbo_id"]) for row in api.get(f"/mappings/{kind}").json()["rows"]}
        assert (source_key, qbo_id) in rows, kind
    console.open("income-accounts")
    console.screenshot("05-mapping-income-accounts")


def test_given_the_sources_lists_when_a_mapping_row_is_added_then_its_source_dropdown_offers_them_marked(
    console: Console,
) -> None:
    api = console.api()
    listed = api.get("/source/reference/payment-methods").json()["entries"]
    console.open("payment-methods")

    console.wait_for("#payment-methods-add-row").click()
    new_row = console.driver.find_elements(By.CSS_SELECTOR, ".mapping-table tbody tr")[-1]
    options = Select(new_row.find_element(By.NAME, "source_key")).options

    assert [option.get_attribute("value") for option in options[1:]] == [entry["code"] for entry in listed]
    ach = next(option for option in options if option.get_attribute("value") == "ACH")
    assert ach.text.endswith("✓ mapped")  # the earlier test mapped ACH on this screen
    assert next(e for e in listed if e["code"] == "ACH")["mapped_to"] != []
    console.driver.find_element(By.ID, "payment-methods-refresh").click()
    console.wait_until(
        lambda driver: (
            "source lists refreshed"
            in (driver.find_element(By.ID, "toast").get_attribute("textContent") or "")
        )
    )
    console.screenshot("05b-mapping-source-dropdown")


def test_given_mappings_when_defaults_are_chosen_then_preflight_is_ready(console: Console) -> None:
    api = console.api()
    service_item = first(reference(api, "items"), type="Service")
    console.open("defaults")
    for name, value in (
        ("qbo_defaults.unmatched_one_time_item_id", service_item),
        ("qbo_defaults.unmatched_recurring_item_id", service_item),
        ("qbo_defaults.invoice_tax_code_id", first(reference(api, "tax-codes"))),
    ):
        Select(console.wait_for(f"select[name='{name}']")).select_by_value(value)
    console.driver.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    console.wait_for(".form-status .notice-ok")
    console.screenshot("06-defaults")

    console.open("preflight")

    assert console.text_of("#preflight-verdict").startswith("Ready to sync")
    console.screenshot("07-preflight")


def test_given_a_ready_tenant_when_the_admin_makes_a_dry_run_then_its_summary_reasons_and_downloads_show(
    console: Console,
) -> None:
    console.open("initial-sync")
    console.wait_for("#start-dry-run").click()

    plan = console.wait_until(
        lambda driver: next(
            (
                e
                for e in driver.find_elements(By.CSS_SELECTOR, "#plan")
                if e.get_attribute("data-status") != "running"
            ),
            False,
        ),
        SYNC_WAIT_SECONDS,
    )

    assert plan.get_attribute("data-status") == "ready", console.text_of("#plan")
    plan_id = plan.get_attribute("data-plan-id")
    summary = console.api().get(f"/sync/plans/{plan_id}", params={"limit": 1}).json()["plan"]
    assert summary["counts"]["Customer"] and summary["counts"]["Item"]
    for entity, actions in summary["counts"].items():
        for action in ("match", "create", "skip", "suggestion"):
            cell = console.wait_for(f"#plan-summary tr[data-entity='{entity}'] td[data-action='{action}']")
            assert cell.text == str(actions.get(action, 0)), (entity, action)
    assert summary["reasons"]
    for found in summary["reasons"]:
        item = console.wait_for(
            f"#plan-reasons li[data-entity='{found['entity']}'][data-action='{found['action']}']"
            f"[data-code='{found['reason_code']}']"
        )
        assert item.text.startswith(f"{found['count']} ") and found["reason"] in item.text
    assert f": {summary['qbo_reads']} " in console.text_of("#plan-reads")
    console.wait_for("#download-plan-csv").click()
    console.wait_until(
        lambda driver: (
            driver.execute_script("return document.getElementById('plan-download-status').textContent")
            == f"Downloaded {plan_id}.csv"
        )
    )
    csv_rows = console.api().get(f"/sync/plans/{plan_id}/download", params={"format": "csv"}).text
    assert len(csv_rows.strip().splitlines()) == summary["entries"] + 1
    console.screenshot("08a-dry-run")


def test_given_a_ready_tenant_when_the_admin_runs_the_plan_then_the_initial_sync_runs_to_100_percent(
    console: Console,
) -> None:
    console.open("initial-sync")  # the plan of the dry run above is shown again
    # The first two polls of the run are lost on the way (a flaky network): the page must keep following.
    console.driver.execute_script(LOSE_THE_FIRST_POLLS, "/sync/runs/", 2)
    console.wait_for("#plan[data-status='ready'] #run-plan").click()

    run = console.wait_until(
        lambda driver: next(
            (
                e
                for e in driver.find_elements(By.CSS_SELECTOR, ".run")
                if e.get_attribute("data-status") in FINISHED
            ),
            False,
        ),
        SYNC_WAIT_SECONDS,
    )

    assert console.driver.execute_script("return window.__lostPolls") == 2
    # Only the "service" product type is mapped, so the other products are skipped for that reason.
    assert run.get_attribute("data-status") == "SUCCEEDED_WITH_WARNINGS"
    assert console.text_of("#sync-percentage") == "100%"
    assert console.wait_for("#sync-progress").get_attribute("aria-valuenow") == "100"
    view = console.api().get(f"/sync/runs/{run.get_attribute('data-run-id')}").json()
    assert ("products", "no_product_type_mapping") in {(s["entity"], s["code"]) for s in view["skips"]}
    for skips in view["skips"]:
        item = console.wait_for(
            f"#skip-reasons li.skip-reason[data-entity='{skips['entity']}'][data-code='{skips['code']}']"
        )
        assert item.text.startswith(f"{skips['count']} ")
        assert skips["explanation"] in item.text
    unmapped = console.wait_for("li.skip-reason[data-code='no_product_type_mapping']")
    unmapped.find_element(By.CSS_SELECTOR, "summary").click()
    sample_ids = {record["source_id"] for s in view["skips"] for record in s["sample"]}
    shown = unmapped.find_elements(By.CSS_SELECTOR, ".skip-sample li code")
    assert shown and {element.text for element in shown} <= sample_ids
    console.screenshot("08-initial-sync")


def test_given_an_invoice_that_failed_while_disconnected_when_retried_after_reconnecting_then_it_is_done(
    console: Console,
) -> None:
    api = console.api()
    go_live_long_ago(api)
    console.open("connection")
    console.wait_for("#disconnect-button").click()
    console.wait_for("#confirm-disconnect").click()
    console.wait_until(lambda _driver: connection_status(console) == "disconnected")
    invoice_id = create_source_invoice(console)
    console.wait_until(lambda _driver: failed_event(api, invoice_id) is not None)

    console.open("events")
    event = failed_event(api, invoice_id)
    assert event is not None and event["reason_code"] == "qbo_not_connected"
    row = console.wait_for(f"tr[data-event-id='{event['event_id']}']")
    assert "Reconnect" in row.find_element(By.CSS_SELECTOR, ".explain").text
    console.screenshot("09-events")
    row.find_element(By.CSS_SELECTOR, "button").click()
    console.wait_until(lambda _driver: row.find_element(By.CSS_SELECTOR, "button").text == "Queued")
    # Reconnecting re-queues what failed for want of a connection, so the event ends done whichever runs last.
    console.open("connection")
    connect_through_the_button(console)

    console.wait_until(lambda _driver: event_status(api, "done", event["event_id"]))
    console.open("events")
    console.wait_for(".tabs [data-status=done]").click()
    console.wait_for(f"tr[data-event-id='{event['event_id']}'] .badge-done")
    console.driver.find_element(By.CSS_SELECTOR, ".tabs [data-status=done_with_warnings]").click()

    shown = console.wait_until(lambda driver: driver.execute_script(ROW_IN_WARNINGS_TAB, event["event_id"]))
    assert shown["badge"] == "done_with_warnings"
    warnings = dict(shown["warnings"])
    assert "unmatched one-time products" in warnings["default_item_used"]
    console.screenshot("10-events-done")


# Read in one step once the "Done with warnings" list has replaced the "Done" one: its badge and warnings.
ROW_IN_WARNINGS_TAB = """
const caption = (document.querySelector(".events-table caption") || {}).textContent || "";
const row = document.querySelector(`tr[data-event-id="${arguments[0]}"]`);
if (!caption.toLowerCase().includes("warnings") || !row) return null;
return {
  badge: row.querySelector(".badge").textContent,
  warnings: [...row.querySelectorAll(".event-warning")].map((w) => [w.dataset.code, w.textContent]),
};
"""


def go_live_long_ago(api: httpx.Client) -> None:
    """Every push needs a go-live date; one long past keeps the test's invoice after it."""
    current = api.get("/settings")
    current.raise_for_status()
    stored = current.json()["settings"]
    # PUT replaces the whole document: keep the onboarding fields this test does not change.
    settings = {**stored, "onboarding": {**stored["onboarding"], "go_live_date": "2000-01-01"}}
    api.put("/settings", json=settings, headers={"If-Match": current.headers["etag"]}).raise_for_status()


def create_source_invoice(console: Console) -> str:
    """An invoice made in the source system (its signed webhook follows), for an active customer."""
    runtime = console.runtime
    key = OperatorSecrets(runtime.aws_endpoint_url).source_api_key(TENANT)
    source = SourceSystem(str(runtime.ready["source_sandbox_url"]), TENANT, str(key))
    try:
        customer = next(
            c for c in source.list_all("customers") if c.get("active", True) and not c.get("deleted")
        )
        product = next(
            p for p in source.list_all("products") if p.get("active", True) and not p.get("deleted")
        )
        invoice = source.create(
            "invoices",
            {
                "customer_id": customer["id"],
                "lines": [
                    {"product_id": product["id"], "quantity": "1"},
                    # No product: QBO gets the item for unmatched one-time products, a warning on the event.
                    {"description": "Courier", "unit_price": "12.50", "quantity": "1"},
                ],
            },
        )
    finally:
        source.close()
    return str(invoice["id"])


def failed_event(api: httpx.Client, source_object_id: str) -> dict[str, Any] | None:
    items = api.get("/sync/events", params={"status": "failed"}).json()["items"]
    return next((e for e in items if e["source_object_id"] == source_object_id), None)


def event_status(api: httpx.Client, status: str, event_id: str) -> bool:
    items = api.get("/sync/events", params={"status": status}).json()["items"]
    return any(e["event_id"] == event_id for e in items)


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme PSA · Integrations</title>
<style>body{font-family:sans-serif;margin:0}header{background:#241b3a;color:#fff;padding:12px 20px}
#mount{padding:12px}</style></head>
<body><header>Acme PSA · Settings · Integrations · QuickBooks Online</header>
<div id="mount"></div>
<script src="%(console_origin)s/console/embed.js"></script>
<script>
  window.received = [];
  const handoff = new URLSearchParams(location.hash.slice(1));
  QbosyncConsole.mount("#mount", {
    tenantId: handoff.get("tenant"),
    session: handoff.get("session"),
    theme: {"--qs-accent": "%(accent)s"},
    height: "820px",
    onEvent: (name, detail) => window.received.push({name, detail}),
  });
</script></body></html>
"""


@pytest.fixture
def host_page(console: Console, tmp_path: Path) -> Iterator[str]:
    """A vendor's page on another origin that mounts the console with a session its backend handed over."""
    (tmp_path / "host.html").write_text(
        HOST_PAGE % {"console_origin": console.runtime.front_door_url, "accent": HOST_ACCENT},
        encoding="utf-8",
    )

    class QuietHandler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/host.html"
    finally:
        server.shutdown()
        server.server_close()


def received(driver: WebDriver, name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = driver.execute_script("return window.received")
    return [event for event in events if event["name"] == name]


def test_given_a_vendor_page_when_it_mounts_the_console_then_it_is_themed_and_hears_its_events(
    console: Console, host_page: str
) -> None:
    driver = console.driver
    driver.get(f"{host_page}#tenant={TENANT}&session={console.tenant['admin_token']}")
    frame = console.wait_for("iframe.qbosync-console-frame")
    driver.switch_to.frame(frame)
    try:
        assert connection_status(console) == "connected"
        accent = driver.execute_script(
            "return getComputedStyle(document.documentElement).getPropertyValue('--qs-accent').trim()"
        )
        assert accent == HOST_ACCENT
        connect_through_the_button(console)
        driver.execute_script("window.location.hash = 'initial-sync'")
        earlier_run = driver.execute_script(f"return sessionStorage.getItem('qbosync.console.run.{TENANT}')")
        console.wait_for("#start-sync").click()
    finally:
        driver.switch_to.default_content()

    connected = console.wait_until(lambda d: received(d, "connected"))
    finished = console.wait_until(lambda d: received(d, "sync_finished"), SYNC_WAIT_SECONDS)

    assert connected[0]["detail"]["company_name"].startswith("Sandbox Company")
    assert [event["detail"]["status"] in FINISHED for event in finished] == [True]  # once, for the new run
    assert finished[0]["detail"]["run_id"] != earlier_run
    console.screenshot("11-embedded")


WIDER_THAN_THE_SCREEN = """
return [...document.querySelectorAll('main *')]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth)
  .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8);
"""

UNLABELLED_CONTROLS = """
return [...document.querySelectorAll('input, select, textarea, button')]
  .filter((e) => e.offsetParent !== null)
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
  .map((e) => e.outerHTML.slice(0, 80));
"""


# What shows that a screen has loaded everything it shows (the earlier tests made the run and the events).
LOADED = {
    "connection": ".checks",
    "invoice-options": ".prefix-editor output",
    "gl-codes": ".mapping-table tbody tr select",
    "defaults": "select[name='qbo_defaults.invoice_tax_code_id']",
    "initial-sync": ".run .counts",
    "events": ".events-table, #events-empty",
}


@pytest.mark.parametrize("screen", list(LOADED))
def test_given_a_phone_when_a_screen_is_shown_then_it_fits_the_width_and_every_control_is_labelled(
    console: Console, screen: str
) -> None:
    driver = console.driver
    driver.set_window_size(390, 844)
    try:
        console.sign_in()
        console.open(screen)
        console.wait_for(LOADED[screen])

        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, driver.execute_script(WIDER_THAN_THE_SCREEN)
        assert driver.execute_script(UNLABELLED_CONTROLS) == []
        console.screenshot(f"phone-{screen}")
    finally:
        driver.set_window_size(1280, 900)


def test_given_a_phone_when_the_steps_menu_is_opened_with_the_keyboard_then_the_steps_are_reachable(
    console: Console,
) -> None:
    driver = console.driver
    driver.set_window_size(390, 844)
    try:
        console.sign_in()
        console.open("connection")
        toggle = console.wait_for("#menu-toggle")
        assert not driver.find_element(By.CSS_SELECTOR, "#nav").is_displayed()

        toggle.send_keys(Keys.ENTER)

        assert toggle.get_attribute("aria-expanded") == "true"
        console.wait_for("#nav a[href='#events']").send_keys(Keys.ENTER)
        console.wait_for("#events-title")
    finally:
        driver.set_window_size(1280, 900)


IDLE_PAST_INTUITS_LIMIT_SECONDS = 101 * 86400  # Intuit's refresh token lapses after 100 days unused


def test_given_a_grant_idle_past_100_days_when_the_vendor_page_mounts_the_console_then_it_hears_needs_reauth(
    console: Console, host_page: str
) -> None:
    api = console.api()
    sandbox = str(console.runtime.ready["qbo_sandbox_url"])
    httpx.post(
        f"{sandbox}/_sandbox/clock", json={"advance_seconds": IDLE_PAST_INTUITS_LIMIT_SECONDS}, timeout=30
    )
    answers: list[str] = []

    def intuit_refused_the_grant(_driver: WebDriver) -> bool:
        """Use the grant by reading QBO. A busy machine may answer a timeout (502/503) first; the next
        read uses the grant again, until Intuit's refusal comes back as needs_reauth."""
        answer = api.get("/qbo/reference/accounts", params={"refresh": "true"})
        answers.append(f"{answer.status_code} {answer.text[:160]}")
        return answer.status_code == 409 and answer.json()["error"]["code"] == "needs_reauth"

    console.wait_until(intuit_refused_the_grant, poll_seconds=2.0, message=lambda: "; ".join(answers[-5:]))
    assert api.get("/qbo/connection").json()["status"] == "needs_reauth"

    console.driver.get(f"{host_page}#tenant={TENANT}&session={console.tenant['admin_token']}")

    reported = console.wait_until(lambda d: received(d, "needs_reauth"))
    assert reported[0]["detail"]["reason"]
    console.driver.switch_to.frame(console.wait_for("iframe.qbosync-console-frame"))
    try:
        assert connection_status(console) == "needs_reauth"
        assert console.text_of("#connect-button").endswith("Reconnect to QuickBooks")
        console.screenshot("12-embedded-needs-reauth")
    finally:
        console.driver.switch_to.default_content()
