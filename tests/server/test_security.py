"""Tokens, sessions, CSRF, the Host check and the bind rules."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pipeline.server import ServerError, ServerSettings
from tests.server.conftest import make_app

TOKEN = "correct-horse-battery"


@pytest.fixture(scope="module")
def guarded(library):
    """The app as bound on a non-loopback address: a token is required everywhere."""
    with TestClient(make_app(library, host="0.0.0.0", token=TOKEN), base_url="http://talks.example") as test_client:
        yield test_client


def test_a_non_loopback_bind_needs_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("TALKS_TOKEN", raising=False)
    with pytest.raises(ServerError, match="needs a token"):
        ServerSettings.resolve(workspace=tmp_path, host="0.0.0.0")
    with pytest.raises(ServerError, match="at least 8"):
        ServerSettings.resolve(workspace=tmp_path, host="0.0.0.0", token="short")
    monkeypatch.setenv("TALKS_TOKEN", TOKEN)
    assert ServerSettings.resolve(workspace=tmp_path, host="192.168.1.5").token == TOKEN
    assert ServerSettings.resolve(workspace=tmp_path, host="::1").host == "::1"


def test_every_api_call_and_page_needs_the_token(guarded):
    for path in ("/api/talks", "/api/talks/founder-talk/transcript", "/api/jobs", "/openapi.json"):
        response = guarded.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "a valid token is required"}
    assert guarded.post("/api/ask", json={"question": "x"}).status_code == 401
    assert guarded.get("/api/talks", headers={"Authorization": "Bearer wrong-token-here"}).status_code == 401
    page = guarded.get("/talks/founder-talk", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Ftalks%2Ffounder-talk"
    assert guarded.get("/docs", follow_redirects=False).status_code == 303
    assert guarded.get("/login").status_code == 200
    assert guarded.get("/static/app.css").status_code == 200


def test_bearer_token(guarded):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/api/talks", headers=headers).status_code == 200
    answer = guarded.post("/api/ask", json={"question": "pricing", "top_k": 1}, headers=headers)
    assert answer.status_code == 200  # a bearer request is no browser's: no CSRF token needed


def test_login_sets_an_httponly_session_cookie(library):
    with TestClient(make_app(library, host="0.0.0.0", token=TOKEN), base_url="http://talks.example") as browser:
        wrong = browser.post("/login", data={"token": "nope", "next": "/"})
        assert wrong.status_code == 401 and "That token is not right" in wrong.text
        response = browser.post("/login", data={"token": TOKEN, "next": "//evil.example/x"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert browser.get("/api/talks").status_code == 200
        assert browser.get("/").status_code == 200
        # a state-changing request from a browser (Origin set) needs the page's CSRF token
        origin = {"Origin": "http://talks.example"}
        refused = browser.post("/api/ask", json={"question": "pricing"}, headers=origin)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        page = browser.get("/ask").text
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        allowed = browser.post("/api/ask", json={"question": "pricing"}, headers={**origin, "X-CSRF-Token": csrf})
        assert allowed.status_code == 200
        forged = browser.post("/api/ask", json={"question": "pricing"}, headers={**origin, "X-CSRF-Token": "x" * 64})
        assert forged.status_code == 403
        logout = browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert logout.status_code == 303
        browser.cookies.clear()
        assert browser.get("/api/talks").status_code == 401


def test_cross_site_posts_are_refused_without_a_token(client):
    """A loopback server without a token still refuses state changes a web page elsewhere could forge."""
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert client.delete("/api/talks/founder-talk", headers=evil).status_code == 403
    upload = client.post("/api/ingest/files", files=[("files", ("x.txt", b"[00:00:01] A: hi"))], headers=evil)
    assert upload.status_code == 403
    assert client.get("/api/talks/founder-talk").status_code == 200


def test_loopback_server_refuses_other_host_names(client):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    response = client.get("/api/talks", headers={"Host": "evil.example:8765"})
    assert response.status_code == 400 and "loopback names only" in response.json()["detail"]
    assert client.get("/api/talks", headers={"Host": "localhost:8765"}).status_code == 200


def test_pages_render_data_inert_and_send_a_csp(client):
    response = client.get("/ask", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert client.get("/talks/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/talks/a b").status_code == 404
