"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium and Debian's
chromedriver, against a real server (``emu.serve()``).

One browser serves the whole module. Screenshots of the main views go to ``build/screenshots/``.
Where Chromium, its driver or Selenium is missing the tests skip, saying how to install them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from headless_chromium import CHROMEDRIVER, CHROMIUM, chromium, installed
from twilio.base.exceptions import TwilioRestException

from emulator import TaskRouterEmulator
from emulator.http import Credentials

INSTALL = ("install the browser with `make browser` (as root it runs "
           "`apt-get install chromium chromium-driver`) and Selenium with `pip install -e '.[test]'`")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
WAIT = 10.0

webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium is not installed: {INSTALL}")
if not installed():
    pytest.skip(f"no headless Chromium at {CHROMIUM} with a driver at {CHROMEDRIVER}: {INSTALL}",
                allow_module_level=True)

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def emulator():
    emu = TaskRouterEmulator(seed=7, start="2026-03-02T09:00:00Z")
    server = emu.serve()
    emu.url = server.url
    yield emu
    emu.close()


ACCOUNT, TOKEN, ADMIN_TOKEN = "AC" + "c" * 32, "token-c", "admin-secret"


@pytest.fixture(scope="module")
def strict_emulator():
    emu = TaskRouterEmulator(seed=8, start="2026-03-02T09:00:00Z", account_sid=ACCOUNT,
                             credentials=Credentials(tokens={ACCOUNT: TOKEN}, admin_token=ADMIN_TOKEN))
    emu.url = emu.serve().url
    emu.load("helpdesk")
    yield emu
    emu.close()


@pytest.fixture(scope="module")
def browser():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium(browser_log=True) as driver:
        yield driver


@pytest.fixture
def page(emulator, browser):
    """A fresh emulator state and the page freshly loaded."""
    # the previous test's page stops polling before its state goes (a poll racing the reset
    # would fetch a workspace that no longer exists), and what it logged is not this test's
    browser.get("about:blank")
    browser.get_log("browser")
    emulator.reset()
    browser.get(emulator.url + "/")
    _wait(browser, lambda d: d.execute_script("return window.dashboardTimings && window.dashboardTimings.ticks > 0"))
    yield browser
    expected = ("/_emulator/requests", "favicon", "status of 400")  # no log kept; no icon; bad input typed
    errors = [e for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and not any(text in e["message"] for text in expected)]
    assert errors == []  # no script error, no failed call


def _wait(driver, condition, timeout: float = WAIT):
    # The page redraws as it polls: an element found a moment ago may be gone, so a condition that
    # touches elements is simply tried again.
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=[StaleElementReferenceException]).until(condition)


def _text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def _texts(driver, css: str) -> list[str]:
    """The text of every element matching ``css``, read at one instant (the page re-renders as it polls)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent.trim())", css)


def _shot(driver, name: str, css: str | None = None) -> None:
    """A screenshot of the window, or of the element ``css`` names, in ``build/screenshots``."""
    path = str(SCREENSHOTS / f"{name}.png")
    if css:
        driver.find_element(By.CSS_SELECTOR, css).screenshot(path)
    else:
        driver.save_screenshot(path)


def _desk(emulator, **workspace):
    client = emulator.client()
    desk = emulator.load("helpdesk")  # a 60-second reservation timeout; Alice and Bob available
    ws = client.taskrouter.v1.workspaces(desk.workspace_sid)
    if workspace:
        ws.update(**workspace)
    return desk, ws


def test_a_workspace_created_through_the_api_appears(emulator, page):
    _wait(page, lambda d: "No workspaces yet" in _text(d, "#accounts-list"))
    client = emulator.client()
    created = client.taskrouter.v1.workspaces.create(friendly_name="Created Over HTTP", template="FIFO")
    _wait(page, lambda d: "Created Over HTTP" in _text(d, "#accounts-list"))
    _wait(page, lambda d: _text(d, "#workspace-heading") == "Workspace Created Over HTTP")
    assert created.sid in _text(page, "#queues")  # the caption names it
    assert "Sample Queue" in _text(page, "#queues")


def test_moving_the_clock_from_the_page_times_a_reservation_out(emulator, page):
    desk, ws = _desk(emulator)
    task = ws.tasks.create(workflow_sid=desk.workflows["Ticket Intake"], attributes=json.dumps({"subject": "printer"}))
    _wait(page, lambda d: "pending" in _text(d, "#reservations tbody"))
    _shot(page, "workspace")

    seconds = page.find_element(By.ID, "advance-seconds")  # the keyboard only: type and press Enter
    seconds.clear()
    seconds.send_keys("60", Keys.ENTER)
    _wait(page, lambda d: "2026-03-02T09:01:00" in _text(d, "#clock-now"))
    _wait(page, lambda d: "timeout" in _text(d, "#reservations tbody"))
    assert _texts(page, "#reservations tbody .status") == ["pending", "timeout"]  # re-offered to Bob
    assert "Clock advanced by 60 s" in page.find_element(By.ID, "status").get_attribute("textContent")

    button = page.find_element(By.CSS_SELECTOR, f"#tasks [data-key='{task.sid}']")
    button.send_keys(Keys.ENTER)  # open the task's timeline from the keyboard
    _wait(page, lambda d: "reservation.timeout" in _text(d, "#detail-body"))
    assert page.switch_to.active_element.get_attribute("id") == "detail"
    events = _texts(page, "#detail-body ol.events li")
    assert events[0].startswith("+0s task.created") and any(e.startswith("+60s reservation.timeout") for e in events)
    page.execute_script("document.getElementById('detail').scrollIntoView()")
    _shot(page, "task-timeline", "#detail")
    assert f"task={task.sid}" in page.current_url  # the address names the view: a reload comes back to it
    page.refresh()
    _wait(page, lambda d: "reservation.timeout" in _text(d, "#detail-body"))

    worker = page.find_element(By.CSS_SELECTOR, "#workers tbody tr [data-key^='WK']")
    worker.click()
    _wait(page, lambda d: "Activity over time" in _text(d, "#detail-body"))
    _wait(page, lambda d: "Unavailable for" in d.find_element(By.CSS_SELECTOR, "#detail svg.timeline").get_attribute(
        "aria-label"))  # Alice did not answer: the workspace's timeout activity
    page.execute_script("document.getElementById('detail').scrollIntoView()")
    _shot(page, "worker-activity", "#detail")
    assert page.find_element(By.CSS_SELECTOR, "#detail svg.timeline").get_attribute("aria-label").startswith("Worker")
    page.switch_to.active_element.send_keys(Keys.ESCAPE)  # Escape closes the detail
    _wait(page, lambda d: not d.find_element(By.ID, "detail").is_displayed())


def test_a_callback_appears_in_the_inbox(emulator, page):
    desk, ws = _desk(emulator, event_callback_url="https://desk.example.com/events")
    task = ws.tasks.create(workflow_sid=desk.workflows["Ticket Intake"], attributes="{}")
    page.find_element(By.CSS_SELECTOR, "[data-view=inbox]").click()
    search = page.find_element(By.ID, "inbox-text")
    search.send_keys(task.sid)
    _wait(page, lambda d: "task.created" in _text(d, "#inbox tbody"))

    def open_task_created(driver):
        row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#inbox tbody tr") if "task.created" in r.text)
        toggle = row.find_element(By.CSS_SELECTOR, "button[aria-expanded]")
        if toggle.get_attribute("aria-expanded") != "true":
            toggle.send_keys(Keys.ENTER)
        return driver.find_elements(By.CSS_SELECTOR, "#inbox tr.expanded") and row.text

    row_text = _wait(page, open_task_created)
    assert "https://desk.example.com/events" in row_text and "captured" in row_text
    details = _text(page, "#inbox tr.expanded")
    assert f"TaskSid\n{task.sid}" in details and "X-Twilio-Signature" in details
    assert page.switch_to.active_element.get_attribute("aria-expanded") == "true"  # focus stays on the toggle
    search.clear()
    search.send_keys(Keys.SPACE, Keys.BACKSPACE)
    _shot(page, "inbox")

    # an assignment callback: what came back and what the answer did
    ws.workflows(desk.workflows["Ticket Intake"]).update(assignment_callback_url="https://desk.example.com/assign")
    emulator.on_assignment(lambda callback: {"instruction": "accept"})
    ws.tasks.create(workflow_sid=desk.workflows["Ticket Intake"], attributes="{}")
    Select(page.find_element(By.ID, "inbox-kind")).select_by_visible_text("assignment")
    # The page polls: wait for the settled view (one assignment row, its answer applied), not the first
    # render that names the URL.
    def one_answered_row(driver):
        rows = _texts(driver, "#inbox tbody tr")
        return rows if len(rows) == 1 and "the reservation is accepted" in rows[0] else None

    [row] = _wait(page, one_answered_row)
    assert "https://desk.example.com/assign" in row and "200" in row


def test_clock_set_snapshot_and_reset_from_the_page(emulator, page, tmp_path):
    _desk(emulator)
    _wait(page, lambda d: "Help Desk" in _text(d, "#accounts-list"))
    when = page.find_element(By.ID, "set-now")
    when.send_keys("not a date", Keys.ENTER)  # refused with the control API's message; nothing moves
    _wait(page, lambda d: d.find_element(By.ID, "alert").is_displayed())
    assert "Now" in _text(page, "#alert") and "09:00:00" in _text(page, "#clock-now")
    when.clear()
    when.send_keys("2026-03-02T10:30:00Z", Keys.ENTER)
    _wait(page, lambda d: "2026-03-02T10:30:00" in _text(d, "#clock-now"))
    assert not page.find_element(By.ID, "alert").is_displayed()

    page.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    page.find_element(By.ID, "snapshot-button").click()
    _wait(page, lambda d: list(tmp_path.glob("taskrouter-snapshot-*.json")))
    [saved] = tmp_path.glob("taskrouter-snapshot-*.json")
    document = json.loads(saved.read_text())
    assert document["clock"]["now"].startswith("2026-03-02T10:30:00")

    page.find_element(By.ID, "reset-button").click()
    page.find_element(By.ID, "reset-confirm").click()
    _wait(page, lambda d: "No workspaces yet" in _text(d, "#accounts-list"))
    assert emulator.client().taskrouter.v1.workspaces.list() == []
    emulator.restore(document)  # the downloaded snapshot is a whole, restorable state
    _wait(page, lambda d: "Help Desk" in _text(d, "#accounts-list"))


def test_a_thousand_tasks_are_shown_a_page_at_a_time(emulator, page):
    desk, ws = _desk(emulator)
    workflow = desk.workflows["Ticket Intake"]
    for n in range(1000):
        ws.tasks.create(workflow_sid=workflow, attributes=json.dumps({"n": n}))
    _wait(page, lambda d: "(1000 tasks)" in _text(d, "#tasks"), timeout=20)
    assert len(page.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")) == 50
    timings = page.execute_script("return window.dashboardTimings")
    print(f"\n1000 tasks: workspace view fetched in {timings['workspaceFetchMs']:.0f} ms, "
          f"rendered in {timings['workspaceRenderMs']:.0f} ms")
    page.find_element(By.CSS_SELECTOR, "[data-key='tasks-next']").send_keys(Keys.ENTER)
    _wait(page, lambda d: "Page 2 of 20" in _text(d, "#tasks"))
    assert page.switch_to.active_element.get_attribute("data-key") == "tasks-next"  # focus survives the re-render
    assert json.loads(_text(page, "#tasks tbody tr:first-child td.mono")) == {"n": 949}


AXE = Path(__file__).resolve().parent / "node" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("view", ["workspace", "task", "inbox"])
def test_axe_finds_no_accessibility_violation(emulator, page, view):
    """axe-core's WCAG 2 A and AA rules (labels, names, roles, contrast, ...) on each main view."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `make node-deps` (npm ci in tests/node)")
    desk, ws = _desk(emulator, event_callback_url="https://desk.example.com/events")
    task = ws.tasks.create(workflow_sid=desk.workflows["Ticket Intake"], attributes="{}")
    _wait(page, lambda d: task.sid in _text(d, "#tasks"))
    if view == "task":
        page.find_element(By.CSS_SELECTOR, f"#tasks [data-key='{task.sid}']").click()
        _wait(page, lambda d: "task.created" in _text(d, "#detail-body"))
    elif view == "inbox":
        page.find_element(By.CSS_SELECTOR, "[data-view=inbox]").click()
        _wait(page, lambda d: "task.created" in _text(d, "#inbox"))
        page.find_element(By.CSS_SELECTOR, "#inbox button[aria-expanded]").click()
    page.execute_script(AXE.read_text(encoding="utf-8"))
    violations = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
          .then((r) => done(r.violations.map((v) => [v.id, v.help, v.nodes.slice(0, 3).map((n) => n.target.join(" "))])));""")
    assert violations == [], json.dumps(violations, indent=1)


def test_the_request_log_view_shows_only_when_the_emulator_keeps_one(emulator, page):
    try:
        urllib.request.urlopen(emulator.url + "/_emulator/requests")
        kept = True
    except urllib.error.HTTPError:
        kept = False
    assert page.find_element(By.ID, "requests-tab").is_displayed() == kept
    if not kept:
        return
    client = emulator.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Logged")
    with pytest.raises(TwilioRestException):  # a 400, logged with its error
        client.taskrouter.v1.workspaces(ws.sid).tasks.create(workflow_sid="WW" + "0" * 32, attributes="{}")
    page.find_element(By.ID, "requests-tab").send_keys(Keys.ENTER)
    _wait(page, lambda d: f"/v1/Workspaces/{ws.sid}/Tasks" in _text(d, "#requests"))
    Select(page.find_element(By.ID, "requests-outcome")).select_by_value("client")
    _wait(page, lambda d: _texts(d, "#requests tbody tr td:nth-child(3)") == ["POST"])
    assert "20001" in _text(page, "#requests tbody") and "WorkflowSid" in _text(page, "#requests tbody")
    _shot(page, "requests")


def _sign_in(driver, user: str, password: str) -> None:
    _wait(driver, lambda d: d.find_element(By.ID, "auth-dialog").get_attribute("open") is not None)
    field = driver.switch_to.active_element  # the dialog puts the focus in its first field
    assert field.get_attribute("id") == "auth-user"
    field.send_keys(user, Keys.TAB, password, Keys.ENTER)
    _wait(driver, lambda d: d.find_element(By.ID, "auth-dialog").get_attribute("open") is None)


def test_in_strict_mode_the_page_asks_for_the_control_apis_credentials(strict_emulator, browser):
    browser.get(strict_emulator.url + "/")
    _sign_in(browser, ACCOUNT, TOKEN)  # an account's own credentials: its workspaces, not the clock
    _wait(browser, lambda d: _text(d, "#workspace-heading") == "Workspace Help Desk")
    assert not browser.find_element(By.CSS_SELECTOR, "#advance-form button").is_enabled()
    assert "need the admin token" in _text(browser, "#access-note")

    browser.find_element(By.ID, "auth-button").click()  # sign out: asked again
    _sign_in(browser, "admin", ADMIN_TOKEN)
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#advance-form button").is_enabled())
    browser.find_element(By.ID, "advance-seconds").send_keys(Keys.ENTER)
    _wait(browser, lambda d: "09:01:00" in _text(d, "#clock-now"))
    assert strict_emulator.clock.now().isoformat().startswith("2026-03-02T09:01:00")
