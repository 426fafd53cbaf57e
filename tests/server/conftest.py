"""Server fixtures: one app (TestClient) over a copy of the sample workspace, one real uvicorn server on 127.0.0.1
for the browser tests, and headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots; gitignored


@pytest.fixture(scope="session")
def library(tmp_path_factory, sample_workspace):
    """A warm Library over a copy of the sample workspace (the copy may be changed by tests)."""
    from pipeline.api import Library

    root = tmp_path_factory.mktemp("served") / "workspace"
    shutil.copytree(sample_workspace.root, root)
    with Library(root) as shared:
        shared.warm_up()
        yield shared


def make_app(library, **settings):
    from pipeline.server import ServerSettings, create_app

    values = {"workspace": library.workspace.root, "warm": False, **settings}
    return create_app(ServerSettings(**values), library=library)


@pytest.fixture(scope="session")
def client(library):
    from fastapi.testclient import TestClient

    with TestClient(make_app(library), base_url="http://127.0.0.1") as test_client:
        yield test_client


def wait_for_job(client, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {timeout}s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """A real uvicorn server in a thread of this process."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_library(tmp_path_factory, library):
    """An empty workspace for the browser tests (talks are added through the page); the model is shared."""
    from pipeline.api import Library

    with Library(tmp_path_factory.mktemp("browser") / "workspace") as fresh:
        yield fresh


@pytest.fixture(scope="session")
def live_server(live_library) -> Iterator[LiveServer]:
    """The one real HTTP server of the session, on 127.0.0.1, without a token (a loopback bind)."""
    with LiveServer(make_app(live_library)) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageProblems:
    """Console errors and uncaught exceptions of a page: every browser test asserts there are none."""

    def __init__(self, page) -> None:
        self.messages: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.messages.append(message.text))
        page.on("pageerror", lambda error: self.messages.append(str(error)))


@pytest.fixture
def page(browser, live_server, request):
    viewport = {"width": 1280, "height": 900}
    context = browser.new_context(base_url=live_server.url, accept_downloads=True, viewport=viewport)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.problems = PageProblems(tab)
    yield tab
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert tab.problems.messages == [], tab.problems.messages
