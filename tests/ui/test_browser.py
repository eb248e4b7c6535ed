"""A real browser (Playwright driving Debian chromium) asks the customer chat a question in Spanish.

The UI runs as ``supportbot ui`` (a Streamlit server) talking to the real API; the screenshot is saved to
``<SUPPORTBOT_HOME>/screenshots/customer-chat-es.png`` (the test data home, or the one CI sets to keep it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from retrieval.language import detect_language
from tests.ui.conftest import HOME, SPANISH_QUESTION, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Debian chromium in containers and CI runners: no user namespaces for the sandbox, no GPU, no network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = HOME / "screenshots" / "customer-chat-es.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (`make install` installs it)"),
]


@pytest.fixture(scope="module")
def ui_url(api_server: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``supportbot ui`` on a free port, talking to the test API with an agent key."""
    api_url, key = api_server
    port = free_port()
    env = {**os.environ, "SUPPORTBOT_API_URL": api_url, "SUPPORTBOT_API_KEY": key, "SUPPORTBOT_HOME": str(HOME)}
    log = tmp_path_factory.mktemp("ui-server") / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "supportbot", "ui", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"supportbot ui exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the UI did not start:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_customer_asks_in_spanish_and_gets_a_spanish_answer_with_a_source(ui_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(ui_url)
            box = page.get_by_test_id("stChatInputTextArea")
            expect(box).to_be_enabled()
            box.fill(SPANISH_QUESTION)
            box.press("Enter")

            sources = page.get_by_test_id("stExpander").filter(has_text="Fuentes")
            expect(sources).to_be_visible()
            expect(page.get_by_role("heading", name="Asistente de soporte")).to_be_visible()  # the UI followed
            answer = page.get_by_test_id("stChatMessage").last.get_by_test_id("stMarkdownContainer").first.inner_text()
            assert detect_language(answer) == "es", answer
            sources.get_by_text("Fuentes").click()
            link = sources.locator("a[href^='https://nimbus.example/']").first
            expect(link).to_be_visible()

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
    print(f"screenshot: {SCREENSHOT}")
