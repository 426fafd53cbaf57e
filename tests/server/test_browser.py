"""The writer's pages in a real headless Chromium (Debian's package, driven by Playwright) against one real uvicorn
server: add the sample talks through the page, edit and download a recap, ask and follow a citation, inert
transcripts, and token login on a non-loopback bind. Screenshots go to tests/server/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pipeline.models import Segment, Talk, Transcript
from tests.conftest import DATA
from tests.server.conftest import ARTIFACTS, CHROMIUM_ARGS, LiveServer, make_app

SAMPLES = sorted(p for p in DATA.iterdir() if p.name != "manifest.csv" and p.name != "README.md")


@pytest.fixture(scope="module")
def samples_added(browser, live_server):
    """Adds the sample talks through the library page's upload form and waits for the live progress to finish."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/")
    page.set_input_files("#files", [str(p) for p in SAMPLES])
    page.click("#add-files button[type=submit]")
    page.wait_for_selector("#job:not([hidden])")
    page.wait_for_selector('#job[data-status="done"]', timeout=240_000)
    statuses = page.locator("#job-items .status").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "add-talks-progress.png"), full_page=True)
    context.close()
    return statuses


def test_add_sample_talks_through_the_page(samples_added, page):
    assert samples_added and set(samples_added) == {"done"}
    page.goto("/")
    titles = page.locator(".talk-list .title").all_inner_texts()
    assert "Panel: Running Remote Engineering Teams" in titles and len(titles) == len(samples_added)
    assert set(page.locator(".talk-list .status").all_inner_texts()) == {"indexed"}
    assert page.locator(".event h2").first.inner_text() == "Open Source Founders Summit 2026"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_talk_page_timestamps_and_search(samples_added, page):
    page.goto("/talks/founder-talk")
    stamps = page.locator(".segment .stamp")
    assert stamps.count() > 20
    href = stamps.nth(5).get_attribute("href")
    assert re.fullmatch(r"https://www\.youtube\.com/watch\?v=[\w-]{11}&t=\d+s", href)
    page.fill("#find", "apache")
    expect(page.locator("#find-count")).to_contain_text("segment")
    assert page.locator(".segment:not(.hidden)").count() >= 1
    assert page.locator(".segment:not(.hidden) mark").first.inner_text().lower() == "apache"
    page.keyboard.press("Escape")
    assert page.locator(".segment.hidden").count() == 0


def test_edit_a_recap_and_download_the_markdown(samples_added, page):
    page.goto("/talks/founder-talk/recap")
    takeaway = page.locator("textarea.takeaway").first
    takeaway.fill("Writers keep the licence story short and specific.")
    page.locator("input.theme-title").first.fill("My retitled theme")
    with page.expect_download() as download_info:
        page.click("#download-md")
    markdown = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "Writers keep the licence story short and specific." in markdown
    assert "## My retitled theme" in markdown
    page.reload()
    assert page.locator("textarea.takeaway").first.input_value() == "Writers keep the licence story short and specific."
    assert "Edited" in page.locator("#save-state").inner_text()
    # regenerating asks first; declining keeps the edited draft
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#regenerate")
    expect(page.locator("#save-state")).to_have_text("Kept your edited draft")
    assert page.locator("textarea.takeaway").first.input_value() == "Writers keep the licence story short and specific."


def test_ask_and_follow_a_citation(samples_added, page):
    page.goto("/ask")
    page.fill("#q", "Why did they keep the Apache license?")
    page.keyboard.press("Enter")
    page.wait_for_selector(".answer")
    assert page.locator(".answer a.cite").count() >= 1
    page.locator(".answer a.cite").first.click()
    target = page.evaluate("location.hash")
    link = page.locator(f"{target} a.passage-link")
    href = link.get_attribute("href")
    link.click()
    page.wait_for_selector(".segment.marked")
    first = int(re.search(r"from=(\d+)", href).group(1))
    assert page.evaluate("location.hash") == f"#seg-{first}"
    assert page.locator(f"#seg-{first}").get_attribute("class").count("marked") == 1


def test_a_transcript_with_script_renders_inert(samples_added, page, browser, live_server, live_library, tmp_path):
    hostile = tmp_path / "hostile-talk.txt"
    hostile.write_text(
        "[00:00:01] Mallory: <script>window.__pwned = 1</script> hello\n"
        '[00:00:05] Mallory: <img src=x onerror="window.__pwned = 2"> and <a href="javascript:window.__pwned=3">x</a>\n'
        "[00:00:09] Mallory: javascript:alert(document.cookie)\n",
        encoding="utf-8",
    )
    (tmp_path / "hostile-talk.meta.yaml").write_text(
        'title: "<script>window.__pwned = 4</script>Hostile"\nevent: "<b onmouseover=alert(1)>Evil Con</b>"\n'
    )
    page.goto("/")
    page.set_input_files("#files", [str(hostile), str(tmp_path / "hostile-talk.meta.yaml")])
    page.click("#add-files button[type=submit]")
    page.wait_for_selector('#job[data-status="done"]', timeout=120_000)
    for path in ("/", "/talks/hostile-talk", "/talks/hostile-talk/recap", "/ask?q=hello"):
        page.goto(path)
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("a[href^='javascript:']").count() == 0, path
    page.goto("/talks/hostile-talk")
    assert page.locator("h1").inner_text() == "<script>window.__pwned = 4</script>Hostile"
    # ingestion cleans tags out of caption text; a transcript stored by other means may still hold them
    live_library.workspace.save_transcript(
        Transcript(
            talk=Talk(id="raw-hostile", title="<img src=x onerror=window.__pwned=5>", youtube_id="dQw4w9WgXcQ"),
            segments=[
                Segment(index=0, start=1, text="<script>window.__pwned = 1</script> hello", speaker="<b>Mallory</b>"),
                Segment(index=1, start=5, text='<a href="javascript:window.__pwned=3">click</a>'),
            ],
        )
    )
    page.goto("/talks/raw-hostile")
    assert page.locator("#seg-0 .text").inner_text() == "<script>window.__pwned = 1</script> hello"
    assert page.locator("#seg-0 .speaker").inner_text() == "<b>Mallory</b>"
    assert page.locator("h1").inner_text() == "<img src=x onerror=window.__pwned=5>"
    assert page.locator("#transcript script, #transcript img, #transcript a[href^='javascript:']").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.goto("/talks/hostile-talk/recap")
    assert page.evaluate("window.__pwned") is None
    # the Content-Security-Policy is a second line: with it switched off, escaping alone keeps the data inert
    bare = browser.new_context(base_url=live_server.url, bypass_csp=True)
    unguarded = bare.new_page()
    for path in ("/", "/talks/hostile-talk", "/talks/raw-hostile", "/talks/hostile-talk/recap", "/ask?q=hello"):
        unguarded.goto(path)
        unguarded.wait_for_load_state("load")
        assert unguarded.evaluate("window.__pwned") is None, path
    bare.close()


def test_token_login_on_a_non_loopback_bind(browser, live_library):
    """The app as configured for 0.0.0.0 with a token (served here on 127.0.0.1): pages redirect to the login form,
    a wrong token is refused, the right one opens the library with an HttpOnly session cookie."""
    app = make_app(live_library, host="0.0.0.0", token="browser-test-token")
    with LiveServer(app) as server:
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        page.goto("/ask")
        assert page.url.endswith("/login?next=%2Fask")
        page.fill("#token", "wrong-token")
        page.click("#login button[type=submit]")
        assert "That token is not right" in page.content()
        page.fill("#token", "browser-test-token")
        page.click("#login button[type=submit]")
        page.wait_for_url(f"{server.url}/ask")
        assert page.locator("h1").inner_text() == "Ask the talks"
        cookie = next(c for c in context.cookies() if c["name"] == "talks_session")
        assert cookie["httpOnly"] and "browser-test-token" not in cookie["value"]
        assert page.evaluate("document.cookie") == ""
        page.screenshot(path=str(ARTIFACTS / "token-login.png"))
        context.close()


__all__ = ["CHROMIUM_ARGS"]
