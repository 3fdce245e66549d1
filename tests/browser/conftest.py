"""Browser fixtures: Debian's chromium driven by Selenium through Debian's chromedriver, against one local
runtime (``python -m local.runtime``, as ``make up`` starts it) for the whole module.

Both executables are named to Selenium, so selenium-manager has nothing to look up or download;
``make test`` installs them with apt-get when they are missing. Screenshots of every screen go to
``test-output/browser/`` (gitignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import RunningRuntime, start_runtime, stop_runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-output" / "browser"
TENANT = "acme-psa"
# Upper bounds for a page to react, not expectations of speed: each wait ends as soon as its condition holds.
UI_WAIT_SECONDS = 90.0
SYNC_WAIT_SECONDS = 240.0
WINDOW_SIZE = (1280, 900)


def chromium_executables() -> tuple[str, str]:
    """Debian's chromium and chromedriver; a clear failure (not a skip) when ``make chromium`` was not run."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail(
            "chromium and chromedriver are needed: run `make chromium` (apt-get: chromium, chromium-driver)"
        )
    return browser, driver


@pytest.fixture(scope="module")
def runtime() -> Iterator[RunningRuntime]:
    process, running = start_runtime(
        "--tenants", TENANT, "--source-customers", "12", "--source-products", "6"
    )
    try:
        yield running
    finally:
        stop_runtime(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver_path = chromium_executables()
    options = Options()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Console:
    """The console as a person sees it: open a screen, wait for something on it, take a screenshot."""

    def __init__(self, driver: WebDriver, runtime: RunningRuntime) -> None:
        self.driver = driver
        self.runtime = runtime
        self.tenant = next(t for t in runtime.ready["tenants"] if t["id"] == TENANT)

    @property
    def url(self) -> str:
        return f"{self.runtime.front_door_url}/console"

    def sign_in(self) -> None:
        """The signed-in URL ``make up`` prints and READY carries."""
        self.driver.get(self.tenant["console_url"])

    def open(self, screen: str) -> None:
        """Show ``screen`` freshly rendered (reloaded when it is the one already shown)."""
        if not self.driver.current_url.startswith(self.url):
            self.sign_in()
        self.driver.execute_script("document.querySelector('main section')?.setAttribute('data-stale', '')")
        if self.driver.execute_script("return window.location.hash") == f"#{screen}":
            self.driver.refresh()
        else:
            self.driver.execute_script("window.location.hash = arguments[0]", screen)
        self.wait_for(f"main section:not([data-stale]) #{screen}-title")

    def wait_until(
        self,
        condition: Callable[[WebDriver], Any],
        seconds: float = UI_WAIT_SECONDS,
        *,
        poll_seconds: float = 0.2,
        message: Callable[[], str] = str,
    ) -> Any:
        """``condition``'s first truthy answer; on timeout, fails with ``message()`` (what was last seen)."""
        # The console re-renders a screen after each change: an element found a moment ago may be replaced.
        wait = WebDriverWait(
            self.driver,
            seconds,
            poll_frequency=poll_seconds,
            ignored_exceptions=(StaleElementReferenceException,),
        )
        try:
            return wait.until(condition)
        except TimeoutException:
            pytest.fail(f"no answer within {seconds:g} s; last seen: {message() or 'nothing recorded'}")

    def wait_for(self, css: str, seconds: float = UI_WAIT_SECONDS) -> WebElement:
        def visible(driver: WebDriver) -> WebElement | bool:
            found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
            return found[0] if found else False

        element: WebElement = self.wait_until(visible, seconds)
        return element

    def text_of(self, css: str) -> str:
        return str(self.wait_for(css).text)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        # A passing toast would cover the page's own content in the picture.
        self.driver.execute_script(
            "const toast = document.getElementById('toast');"
            "if (toast) { toast.style.transition = 'none'; toast.classList.remove('visible'); }"
        )
        self.driver.save_screenshot(str(path))
        return path

    def api(self) -> httpx.Client:
        """The admin API with the same token, for the test's own checks (the console does the work)."""
        return httpx.Client(
            base_url=f"{self.runtime.front_door_url}/tenants/{TENANT}",
            headers={"Authorization": f"Bearer {self.tenant['admin_token']}"},
            timeout=60,
        )


@pytest.fixture(scope="module")
def console(browser: WebDriver, runtime: RunningRuntime) -> Console:
    return Console(browser, runtime)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """A failed browser test leaves a screenshot of what the browser showed, named after the test."""
    report = yield
    console = getattr(item, "funcargs", {}).get("console")
    if report.when == "call" and report.failed and isinstance(console, Console):
        console.driver.switch_to.default_content()
        console.screenshot(f"failed-{item.name}"[:120])
        report.sections.append(("runtime output (last 80 lines)", "\n".join(console.runtime.output[-80:])))
    return report
