"""The built-in Web UI in a real headless Chromium (Debian's `chromium` driven by its
`chromedriver` through Selenium): workflows started by the Python SDK appear in the list,
the filter box takes the list-filter language, a workflow's page shows its history, decoded
result, failure and pending activity, signals and terminations sent from the UI reach the
server, a 1,000-event history renders, and parent/child links work. Screenshots are saved
under `tests/e2e/artifacts/ui/` (git-ignored)."""

import asyncio
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import POSTGRES, REPO, TEMPER_BIN, TemperServer, free_port
from scenarios import ChildWorkflow, ParentWorkflow, record
from ui_workflows import BrokenWorkflow, GreetWorkflow, SignalSinkWorkflow, UiWorkflow, flaky_upload

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = REPO / "tests" / "e2e" / "artifacts" / "ui"

pytestmark = [
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed"),
    # The UI reads the store only through the HTTP API; the SQLite pass covers it.
    pytest.mark.skipif(POSTGRES, reason="UI tests run in the SQLite pass"),
]


@pytest.fixture
def ui_server(tmp_path):
    ui_port = free_port()
    server = TemperServer(None, tmp_path / "temper.log",
                          mode_args=["server", "start-dev", "--db-filename", str(tmp_path / "temper.db"),
                                     "--ui-port", str(ui_port), "--log-level", "info"])
    server.start()
    yield server, f"http://127.0.0.1:{ui_port}"
    server.stop()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


async def wait_until(driver, predicate, timeout: float = 20.0, what: str = ""):
    """Polls `predicate(driver)` off the event loop (the SDK worker shares it) until true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = await asyncio.to_thread(predicate, driver)
        except Exception:  # an element replaced while being read: ask again
            value = None
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            screenshot(driver, f"timeout-{uuid.uuid4().hex[:8]}")
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.1)


def text_of(driver, css: str) -> str:
    from selenium.webdriver.common.by import By
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


async def click(driver, css: str) -> None:
    from selenium.webdriver.common.by import By
    await asyncio.to_thread(lambda: driver.find_element(By.CSS_SELECTOR, css).click())


async def type_into(driver, css: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    def fill():
        element = driver.find_element(By.CSS_SELECTOR, css)
        element.clear()
        element.send_keys(text)
    await asyncio.to_thread(fill)


async def open_page(driver, url: str) -> None:
    await asyncio.to_thread(driver.get, url)


async def test_list_filter_history_pending_activity_signal_and_terminate(ui_server, browser):
    server, ui = ui_server
    client = await Client.connect(server.target)
    task_queue = f"ui-{uuid.uuid4()}"
    greet_id, ui_id = f"greet-{uuid.uuid4()}", f"ui-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[UiWorkflow, GreetWorkflow],
                      activities=[record, flaky_upload]):
        assert await client.execute_workflow(GreetWorkflow.run, "ui", id=greet_id, task_queue=task_queue)
        handle = await client.start_workflow(UiWorkflow.run, "ui", id=ui_id, task_queue=task_queue)

        await open_page(browser, f"{ui}/namespaces/default/workflows")
        await wait_until(browser, lambda d: greet_id in text_of(d, "#workflows") and ui_id in text_of(d, "#workflows"),
                         what="both workflows listed")
        assert "Completed" in text_of(browser, "#workflows") and "Running" in text_of(browser, "#workflows")
        assert "Running 1" in text_of(browser, "#status-filters")
        screenshot(browser, "01-workflows")

        await type_into(browser, "#filter input[name=query]", 'WorkflowType = "GreetWorkflow"')
        await click(browser, "#filter button[type=submit]")
        await wait_until(browser, lambda d: greet_id in text_of(d, "#workflows") and ui_id not in text_of(d, "#workflows"),
                         what="the filter to leave only GreetWorkflow")
        assert "WorkflowType" in browser.current_url
        screenshot(browser, "02-filtered")
        await type_into(browser, "#filter input[name=query]", "WorkflowType = ")
        await click(browser, "#filter button[type=submit]")
        await wait_until(browser, lambda d: text_of(d, "#workflows .error"), what="a clear error for a bad filter")

        await open_page(browser, f"{ui}/namespaces/default/workflows?query=WorkflowId%3D%22{greet_id}%22")
        await wait_until(browser, lambda d: greet_id in text_of(d, "#workflows"))
        await click(browser, f"#workflows a[href*='{greet_id}']")
        await wait_until(browser, lambda d: "hello ui" in text_of(d, "#result"), what="the decoded result")
        assert '"ui"' in text_of(browser, "#input")
        assert "WorkflowExecutionCompleted" in text_of(browser, "#tab-history")
        await click(browser, "tr.event[data-event-type=ActivityTaskScheduled], tr.event[data-event-id='1']")
        await wait_until(browser, lambda d: "taskQueue" in text_of(d, "tr.event-detail"), what="event details")
        screenshot(browser, "03-completed-workflow")

        run_id = (await handle.describe()).run_id
        await open_page(browser, f"{ui}/namespaces/default/workflows/{ui_id}/{run_id}/pending-activities")
        await wait_until(browser, lambda d: "disk on fire" in text_of(d, "#pending-activities"),
                         what="the pending activity's last failure")
        pending = text_of(browser, "#pending-activities")
        assert "flaky_upload" in pending and "Attempt\n2" in pending.replace(" of", "")
        assert "uploaded 40%" in pending
        screenshot(browser, "04-pending-activity")

        await click(browser, "#signal-button")
        await type_into(browser, "dialog input[name=signal-name]", "add")
        await type_into(browser, "dialog textarea[name=signal-input]", '"from the ui"')
        await click(browser, "#confirm-action")
        await wait_until(browser, lambda d: "sent" in text_of(d, "#action-notice"), what="the signal notice")
        events = [e async for e in handle.fetch_history_events()]
        signalled = [e for e in events if e.HasField("workflow_execution_signaled_event_attributes")]
        assert signalled and signalled[0].workflow_execution_signaled_event_attributes.signal_name == "add"
        await open_page(browser, f"{ui}/namespaces/default/workflows/{ui_id}/{run_id}/history")
        await wait_until(browser, lambda d: "WorkflowExecutionSignaled" in text_of(d, "#tab-history"),
                         what="the signal in the history")
        screenshot(browser, "05-signalled")

        await click(browser, "#terminate-button")
        await type_into(browser, "dialog input[name=terminate-reason]", "stopped from the browser")
        await click(browser, "#confirm-action")
        await wait_until(browser, lambda d: "Terminated" in text_of(d, "#summary"), what="the terminated status")
        description = await handle.describe()
        assert description.status.name == "TERMINATED"
        screenshot(browser, "06-terminated")

        # A refused action says why: signalling a closed run.
        await asyncio.to_thread(browser.execute_script, "document.getElementById('signal-button').disabled = false")
        await click(browser, "#signal-button")
        await type_into(browser, "dialog input[name=signal-name]", "add")
        await click(browser, "#confirm-action")
        await wait_until(browser, lambda d: "already completed" in text_of(d, "dialog .error"),
                         what="the server's refusal in the dialog")


async def test_failed_workflow_shows_its_failure_and_stack(ui_server, browser):
    server, ui = ui_server
    client = await Client.connect(server.target)
    task_queue, workflow_id = f"ui-{uuid.uuid4()}", f"broken-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[BrokenWorkflow]):
        handle = await client.start_workflow(BrokenWorkflow.run, id=workflow_id, task_queue=task_queue)
        with pytest.raises(Exception):
            await handle.result()
    await open_page(browser, f"{ui}/namespaces/default/workflows/{workflow_id}")
    await wait_until(browser, lambda d: "the order book is inconsistent" in text_of(d, "#failure"),
                     what="the failure message")
    assert "Failed" in text_of(browser, "#summary")
    assert "raise ApplicationError" in text_of(browser, "#failure .stack-trace")
    screenshot(browser, "07-failed-workflow")


async def test_a_thousand_event_history(ui_server, browser):
    server, ui = ui_server
    client = await Client.connect(server.target)
    workflow_id = f"long-{uuid.uuid4()}"
    # No worker: every signal is one event.
    handle = await client.start_workflow(SignalSinkWorkflow.run, id=workflow_id, task_queue=f"none-{uuid.uuid4()}")
    for batch in range(10):
        await asyncio.gather(*(handle.signal("poke", f"{batch}-{i}") for i in range(100)))
    length = (await handle.describe()).history_length
    assert length >= 1000
    await open_page(browser, f"{ui}/namespaces/default/workflows/{workflow_id}/{handle.result_run_id}/history")
    await wait_until(browser, lambda d: d.execute_script("return document.querySelectorAll('tr.event').length") == length,
                     what="every event in the table")
    painted = browser.execute_script(
        "const m = performance.getEntriesByName('workflow-painted')[0]; return m ? m.startTime : null")
    print(f"1,000-event history: first paint {painted:.0f} ms after navigation start")
    assert painted is not None and painted < 2000
    screenshot(browser, "08-long-history")


async def test_parent_and_child_link_to_each_other(ui_server, browser):
    server, ui = ui_server
    client = await Client.connect(server.target)
    task_queue, parent_id = f"ui-{uuid.uuid4()}", f"parent-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[ParentWorkflow, ChildWorkflow]):
        handle = await client.start_workflow(ParentWorkflow.run, ["kid"], id=parent_id, task_queue=task_queue)
        assert await handle.result() == ["child kid"]
    await open_page(browser, f"{ui}/namespaces/default/workflows/{parent_id}/{handle.result_run_id}/relationships")
    await wait_until(browser, lambda d: f"{parent_id}-kid" in text_of(d, "#relationships"), what="the child link")
    screenshot(browser, "09-relationships")
    await click(browser, "#relationships a.child-link")
    await wait_until(browser, lambda d: f"{parent_id}-kid" in d.current_url and "child kid" in text_of(d, "#result"),
                     what="the child's page")
    await wait_until(browser, lambda d: parent_id in text_of(d, "#parent-link"))
    await click(browser, "#parent-link")
    await wait_until(browser, lambda d: f"/workflows/{parent_id}/" in d.current_url and "child kid" in text_of(d, "#result"),
                     what="back on the parent's page")


async def test_namespaces_task_queue_schedules_and_search_attribute_pages(ui_server, browser):
    server, ui = ui_server
    client = await Client.connect(server.target)
    task_queue = f"ui-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[GreetWorkflow], identity="ui-test-worker"):
        await client.execute_workflow(GreetWorkflow.run, "q", id=f"q-{uuid.uuid4()}", task_queue=task_queue)
        await open_page(browser, f"{ui}/namespaces/default/task-queues/{task_queue}")
        await wait_until(browser, lambda d: "ui-test-worker" in text_of(d, ".queue-workflow"), what="the poller")
        screenshot(browser, "10-task-queue")
    await open_page(browser, f"{ui}/namespaces")
    await wait_until(browser, lambda d: "default" in text_of(d, "main table"))
    assert "1 day" in text_of(browser, "main table")
    await open_page(browser, f"{ui}/namespaces/default/search-attributes")
    await wait_until(browser, lambda d: "WorkflowType" in text_of(d, "main table"))
    from temporalio.client import Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleSpec
    await client.create_schedule("ui-schedule", Schedule(
        action=ScheduleActionStartWorkflow(GreetWorkflow.run, "s", id="ui-scheduled", task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])))
    await open_page(browser, f"{ui}/namespaces/default/schedules")
    await wait_until(browser, lambda d: "ui-schedule" in text_of(d, "main table"))
    await click(browser, "main table a")
    await wait_until(browser, lambda d: "GreetWorkflow" in text_of(d, ".summary"))
    await click(browser, "#pause-button")
    await wait_until(browser, lambda d: "Paused" in text_of(d, ".summary"), what="the paused schedule")
    assert (await client.get_schedule_handle("ui-schedule").describe()).schedule.state.paused
    screenshot(browser, "11-schedule")


def free_port_pair() -> int:
    """A free port P whose P + 1000 is free too (start-dev's default UI port)."""
    import socket
    for _ in range(50):
        port = free_port()
        if port + 1000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1000))
                return port
            except OSError:
                continue
    raise AssertionError("no free port pair")


def banner_of(args: list[str]) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen([str(TEMPER_BIN), "server", "start-dev", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    lines = []
    # The banner ends with the metrics address (start-dev always serves metrics).
    while not lines or not lines[-1].startswith("Metrics:"):
        line = process.stdout.readline().decode()
        assert line, f"the server exited: {lines}"
        lines.append(line)
    return process, lines


def test_start_dev_serves_the_ui_on_port_plus_1000_unless_headless():
    port = free_port_pair()
    process, lines = banner_of(["--port", str(port)])
    try:
        assert f"UI:      http://127.0.0.1:{port + 1000}\n" in lines, lines
        with urllib.request.urlopen(f"http://127.0.0.1:{port + 1000}/namespaces/default/workflows", timeout=10) as page:
            assert page.headers["Content-Type"].startswith("text/html")
            assert b"/assets/app.js" in page.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port + 1000}/assets/app.js", timeout=10) as script:
            assert script.headers["Content-Type"].startswith("text/javascript")
        # The UI port also answers Temporal's HTTP API, which the page reads.
        with urllib.request.urlopen(f"http://127.0.0.1:{port + 1000}/api/v1/namespaces/default", timeout=10) as api:
            assert json.loads(api.read())["namespaceInfo"]["name"] == "default"
    finally:
        process.terminate()
        process.wait(timeout=15)
    process, lines = banner_of(["--port", str(free_port()), "--headless"])
    try:
        assert not [line for line in lines if line.startswith("UI:")], lines
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_paging_cancel_reset_and_a_phone_screen(ui_server, browser):
    server, ui = ui_server
    client = await Client.connect(server.target)
    idle_queue = f"idle-{uuid.uuid4()}"
    prefix = f"page-{uuid.uuid4().hex[:8]}"
    for i in range(30):
        await client.start_workflow(SignalSinkWorkflow.run, id=f"{prefix}-{i:02}", task_queue=idle_queue)
    query = f'WorkflowId STARTS_WITH "{prefix}"'
    await open_page(browser, f"{ui}/namespaces/default/workflows?query={urllib.parse.quote(query)}")
    await wait_until(browser, lambda d: len(d.find_elements("css selector", "tr.workflow-row")) == 25,
                     what="a first page of 25")
    first_page = text_of(browser, "#workflows")
    await click(browser, "#next-page")
    await wait_until(browser, lambda d: len(d.find_elements("css selector", "tr.workflow-row")) == 5,
                     what="a second page of 5")
    assert not set(text_of(browser, "#workflows").split()) & {w for w in first_page.split() if w.startswith(prefix)}

    await open_page(browser, f"{ui}/namespaces/default/workflows/{prefix}-00")
    await wait_until(browser, lambda d: "Running" in text_of(d, "#summary"))
    await click(browser, "#cancel-button")
    await click(browser, "#confirm-action")
    await wait_until(browser, lambda d: "Cancellation requested" in text_of(d, "#action-notice"))
    await wait_until(browser, lambda d: "WorkflowExecutionCancelRequested" in text_of(d, "#tab-history"))

    task_queue, greet_id = f"ui-{uuid.uuid4()}", f"reset-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[GreetWorkflow]):
        handle = await client.start_workflow(GreetWorkflow.run, "reset", id=greet_id, task_queue=task_queue)
        await handle.result()
    first_run = handle.result_run_id
    await open_page(browser, f"{ui}/namespaces/default/workflows/{greet_id}/{first_run}/history")
    await wait_until(browser, lambda d: "hello reset" in text_of(d, "#result"))
    await click(browser, "#reset-button")
    await click(browser, "#confirm-action")
    await wait_until(browser, lambda d: f"/workflows/{greet_id}/" in d.current_url and first_run not in d.current_url,
                     what="the new run's page")
    new_run = browser.current_url.rstrip("/").split("/")[-2]
    description = await client.get_workflow_handle(greet_id, run_id=new_run).describe()
    assert description.run_id == new_run != first_run

    await asyncio.to_thread(browser.set_window_size, 390, 844)
    await open_page(browser, f"{ui}/namespaces/default/workflows/{greet_id}/{first_run}/history")
    await wait_until(browser, lambda d: "hello reset" in text_of(d, "#result"))
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, f"the page scrolls sideways on a phone: {width}"
    screenshot(browser, "12-phone")
    await open_page(browser, f"{ui}/namespaces/default/workflows")
    await wait_until(browser, lambda d: d.find_elements("css selector", "tr.workflow-row"))
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, f"the list scrolls sideways on a phone: {width}"
    screenshot(browser, "13-phone-list")


async def test_dark_mode_follows_the_system(ui_server, browser):
    server, ui = ui_server
    await asyncio.to_thread(browser.execute_cdp_cmd, "Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    await open_page(browser, f"{ui}/namespaces")
    await wait_until(browser, lambda d: "default" in text_of(d, "main table"))
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    red, green, blue = [int(part) for part in background[background.index("(") + 1:-1].split(",")[:3]]
    assert max(red, green, blue) < 64, background
    screenshot(browser, "14-dark")


async def test_pause_and_unpause_an_activity_from_the_ui(ui_server, browser):
    from activity_operation_workflows import ALLOWED, FlakyActivityWorkflow, flaky
    server, ui = ui_server
    client = await Client.connect(server.target)
    task_queue, workflow_id = f"ui-{uuid.uuid4()}", f"ui-flaky-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[FlakyActivityWorkflow], activities=[flaky]):
        handle = await client.start_workflow(FlakyActivityWorkflow.run, id=workflow_id, task_queue=task_queue)
        await open_page(browser, f"{ui}/namespaces/default/workflows/{workflow_id}/{handle.result_run_id}/pending-activities")
        await wait_until(browser, lambda d: d.find_elements("css selector", "button.pause-activity"), what="a Pause button")
        await click(browser, "button.pause-activity")
        await wait_until(browser, lambda d: "Paused" in text_of(d, "#pending-activities")
                         and "Temper UI" in text_of(d, "#pending-activities"), what="the paused activity")
        described = await handle.describe()
        assert described.raw_description.pending_activities[0].paused
        screenshot(browser, "15-paused-activity")
        ALLOWED.add(workflow_id)
        await click(browser, "button.unpause-activity")
        assert (await handle.result()).startswith("ok@")


async def test_nexus_endpoints_pages(ui_server, browser):
    import json as json_module
    from temporalio.api.common.v1 import Payload
    from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
    from temporalio.api.operatorservice.v1 import CreateNexusEndpointRequest
    server, ui = ui_server
    client = await Client.connect(server.target)
    name = f"ui-ep-{uuid.uuid4().hex[:8]}"
    spec = EndpointSpec(name=name, target=EndpointTarget(
        worker=EndpointTarget.Worker(namespace="default", task_queue="handlers")))
    spec.description.CopyFrom(Payload(metadata={"encoding": b"json/plain"},
                                      data=json_module.dumps("Echoes things").encode()))
    await client.operator_service.create_nexus_endpoint(CreateNexusEndpointRequest(spec=spec))
    await open_page(browser, f"{ui}/nexus")
    await wait_until(browser, lambda d: name in text_of(d, "main table"), what="the endpoint listed")
    assert "default / handlers" in text_of(browser, "main table")
    await click(browser, f"main table a[href^='/nexus/']")
    await wait_until(browser, lambda d: "Echoes things" in text_of(d, "main"), what="the endpoint's page")
    assert "default / handlers" in text_of(browser, "#endpoint")
    screenshot(browser, "16-nexus-endpoint")


async def test_a_server_that_needs_tokens_asks_for_one(tmp_path, browser):
    """With `--auth-jwks-path`, the UI's first call is refused (401): it asks for a token once,
    keeps it for the tab, and shows the namespace's workflows."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from test_authorization import jwk

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk(key.public_key(), "k1")]}))
    token = jwt.encode({"sub": "viewer", "permissions": ["default:write"], "exp": int(time.time()) + 600}, key,
                       algorithm="ES256", headers={"kid": "k1"})
    ui_port = free_port()
    server = TemperServer(None, tmp_path / "temper.log", mode_args=[
        "server", "start-dev", "--db-filename", str(tmp_path / "temper.db"), "--ui-port", str(ui_port),
        "--auth-jwks-path", str(tmp_path / "jwks.json")])
    server.start()
    try:
        client = await Client.connect(server.target, api_key=token, tls=False)
        workflow_id = f"secured-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow("Anything", id=workflow_id, task_queue="nowhere")
        await open_page(browser, f"http://127.0.0.1:{ui_port}/namespaces/default/workflows")
        prompt = await asyncio.to_thread(
            lambda: WebDriverWait(browser, 20).until(expected_conditions.alert_is_present()))
        assert "token" in prompt.text
        prompt.send_keys(token)
        prompt.accept()
        await wait_until(browser, lambda d: workflow_id in text_of(d, "#workflows"), what="the secured list")
        screenshot(browser, "30-token")
        await handle.terminate()
    finally:
        server.stop()
