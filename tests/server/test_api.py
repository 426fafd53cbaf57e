"""The REST API through the ASGI app: every endpoint, its errors, and the pydantic bodies."""

from __future__ import annotations

from pipeline.models import Answer, EventDigest, TalkInfo, TalkRecap
from tests.conftest import DATA, FIXTURES
from tests.server.conftest import wait_for_job

EVENT = "Open Source Founders Summit 2026"


def test_openapi_lists_the_models(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/talks", "/api/ask", "/api/ingest/files", "/api/batch", "/api/jobs/{job_id}/events"} <= set(
        schema["paths"]
    )
    assert {"Answer", "TalkInfo", "RecapDraft", "JobView"} <= set(schema["components"]["schemas"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "https://" not in docs.text  # served offline, from the swagger-ui-bundle package
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_talks_list_and_filters(client):
    talks = [TalkInfo.model_validate(item) for item in client.get("/api/talks").json()]
    assert {"founder-talk", "panel-remote-teams", "fireside-chat"} <= {t.talk.id for t in talks}
    assert all(t.status == "indexed" for t in talks)
    by_event = client.get("/api/talks", params={"event": EVENT.lower()}).json()
    assert by_event and all(t["talk"]["event"] == EVENT for t in by_event)
    priya = client.get("/api/talks", params={"speaker": "priya"}).json()
    assert [t["talk"]["id"] for t in priya] == ["panel-remote-teams"]
    assert client.get("/api/talks", params={"event": "No Such Event"}).json() == []


def test_get_talk_and_errors(client):
    assert client.get("/api/talks/founder-talk").json()["talk"]["speakers"] == ["Maya Lindqvist"]
    missing = client.get("/api/talks/no-such-talk")
    assert missing.status_code == 404 and "no talk 'no-such-talk'" in missing.json()["detail"]
    for hostile in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E", "a%00b", "-leading-dash"):
        response = client.get(f"/api/talks/{hostile}")
        assert response.status_code in (404, 422), hostile
        assert "root:" not in response.text


def test_transcript_whole_and_span(client):
    whole = client.get("/api/talks/founder-talk/transcript").json()
    assert whole["first_segment"] == 0 and whole["last_segment"] == whole["total_segments"] - 1
    assert len(whole["segments"]) == whole["total_segments"]
    span = client.get("/api/talks/founder-talk/transcript", params={"first": 3, "last": 5}).json()
    assert [s["index"] for s in span["segments"]] == [3, 4, 5]
    outside = client.get("/api/talks/founder-talk/transcript", params={"first": 100000})
    assert outside.status_code == 400 and "outside talk 'founder-talk'" in outside.json()["detail"]
    assert client.get("/api/talks/founder-talk/transcript", params={"first": -1}).status_code == 422


def test_ask_answers_with_citations(client):
    response = client.post("/api/ask", json={"question": "Why did they keep the Apache license?", "top_k": 3})
    answer = Answer.model_validate(response.json())
    assert response.status_code == 200 and answer.error is None
    assert len(answer.passages) == 3 and answer.sentences
    assert all(1 <= n <= 3 for sentence in answer.sentences for n in sentence.citations)
    filtered = Answer.model_validate(
        client.post("/api/ask", json={"question": "on-call", "speaker": "Priya", "top_k": 2}).json()
    )
    assert {p.talk_id for p in filtered.passages} == {"panel-remote-teams"}


def test_ask_errors_are_one_line(client):
    unknown = client.post("/api/ask", json={"question": "pricing", "talk": "nope"})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("no talk 'nope'")
    assert client.post("/api/ask", json={"question": ""}).status_code == 422
    assert client.post("/api/ask", json={"question": "x", "top_k": 0}).status_code == 422
    assert client.post("/api/ask", json={"question": "x", "surprise": 1}).status_code == 422
    bad_generator = client.post("/api/ask", json={"question": "x", "generator": "telepathy"})
    assert bad_generator.status_code == 400 and "\n" not in bad_generator.json()["detail"]


def test_ask_batch_goes_on_past_a_bad_question(client):
    body = {"questions": [{"question": "How do they price it?"}, {"question": "x", "event": "Nowhere"}]}
    answers = client.post("/api/ask/batch", json=body).json()["answers"]
    assert answers[0]["error"] is None and answers[0]["passages"]
    assert answers[1]["error"].startswith("no event 'Nowhere'")


def test_recap_themes_and_digest(client):
    recap = TalkRecap.model_validate(client.get("/api/talks/lightning-pricing/recap").json())
    assert recap.talk.id == "lightning-pricing" and recap.themes
    markdown = client.get("/api/talks/lightning-pricing/recap", params={"format": "md", "themes": 2})
    assert markdown.headers["content-type"].startswith("text/markdown") and "\n---\n\n# " in markdown.text
    themes = client.get("/api/talks/lightning-pricing/themes", params={"themes": 2}).json()
    assert len(themes) == 2 and all(theme["title"] for theme in themes)
    assert client.get("/api/talks/lightning-pricing/recap", params={"format": "pdf"}).status_code == 422
    assert client.get("/api/talks/lightning-pricing/recap", params={"themes": 99}).status_code == 422
    events = client.get("/api/events").json()
    assert events[0]["event"] == EVENT and "founder-talk" in events[0]["talks"]
    digest = EventDigest.model_validate(client.get(f"/api/events/{EVENT}/digest").json())
    assert digest.event == EVENT and len(digest.talks) >= 4
    assert "\n---\n\n# " in client.get(f"/api/events/{EVENT}/digest", params={"format": "md"}).text
    missing = client.get("/api/events/Nowhere Conf/digest")
    assert missing.status_code == 404 and "no talks of event 'Nowhere Conf'" in missing.json()["detail"]


def test_draft_edit_verbatim_and_regenerate(client):
    draft = client.get("/api/talks/fireside-chat/draft").json()
    assert not draft["edited"] and draft["generated"]["talk"]["id"] == "fireside-chat"
    themes = draft["themes"]
    themes[0]["title"] = "A title of my own"
    themes[0]["takeaways"][0]["text"] = "My own takeaway sentence."
    quote = next(q for t in themes for q in t["quotes"])
    quote["text"] = quote["text"] + " (and more)"
    quote["pinned"] = True
    themes.reverse()
    saved = client.put(
        "/api/talks/fireside-chat/draft", json={"overview": "Edited overview.", "themes": themes, "key_quotes": []}
    ).json()
    assert saved["edited"] and saved["overview"] == "Edited overview."
    changed = [q for t in saved["themes"] for q in t["quotes"] if q["text"].endswith("(and more)")]
    assert changed and not changed[0]["verbatim"] and changed[0]["original"] + " (and more)" == changed[0]["text"]
    untouched = [q for t in saved["themes"] for q in t["quotes"] if not q["text"].endswith("(and more)")]
    assert all(q["verbatim"] for q in untouched)
    markdown = client.get("/api/talks/fireside-chat/draft.md", params={"download": True})
    assert 'filename="fireside-chat.md"' in markdown.headers["content-disposition"]
    assert "A title of my own" in markdown.text and "My own takeaway sentence." in markdown.text
    assert "(and more) *(edited: not verbatim)*" in markdown.text
    # the generated recap is untouched, and regenerating asks before replacing the edits
    assert "A title of my own" not in client.get("/api/talks/fireside-chat/recap", params={"format": "md"}).text
    refused = client.post("/api/talks/fireside-chat/draft/regenerate")
    assert refused.status_code == 409 and "overwrite=true" in refused.json()["detail"]
    assert client.get("/api/talks/fireside-chat/draft").json()["overview"] == "Edited overview."
    fresh = client.post("/api/talks/fireside-chat/draft/regenerate", params={"overwrite": True}).json()
    assert not fresh["edited"] and fresh["overview"] != "Edited overview."
    assert client.delete("/api/talks/fireside-chat/draft").status_code == 200


def test_ingest_upload_job_progress_and_delete(client):
    files = [
        ("files", ("server-upload.srt", (FIXTURES / "panel.srt").read_bytes())),
        ("files", ("broken.vtt", (FIXTURES / "malformed.vtt").read_bytes())),
    ]
    response = client.post("/api/ingest/files", files=files, data={"event": "Upload Day"})
    assert response.status_code == 202
    job = wait_for_job(client, response.json()["id"])
    items = {item["name"]: item for item in job["items"]}
    assert job["status"] == "done" and job["error"] == "1 of 2 failed"
    assert items["server-upload.srt"]["status"] == "done" and items["server-upload.srt"]["talk_id"] == "server-upload"
    assert items["broken.vtt"]["status"] == "failed" and items["broken.vtt"]["message"].startswith("broken.vtt: ")
    assert "/" not in items["broken.vtt"]["message"].split(":")[0]
    talk = client.get("/api/talks/server-upload").json()
    assert talk["talk"]["event"] == "Upload Day" and talk["status"] == "indexed"
    answer = client.post("/api/ask", json={"question": "remote teams", "talk": "server-upload"}).json()
    assert {p["talk_id"] for p in answer["passages"]} == {"server-upload"}
    events = client.get(f"/api/jobs/{job['id']}/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert "event: job" in events.text and 'event: end\ndata: {"status": "done"}' in events.text
    assert job["id"] in [j["id"] for j in client.get("/api/jobs").json()]
    removed = client.delete("/api/talks/server-upload")
    assert removed.status_code == 200 and removed.json()["talk_id"] == "server-upload"
    assert client.get("/api/talks/server-upload").status_code == 404
    assert client.delete("/api/talks/server-upload").status_code == 404


def test_upload_errors_are_4xx_with_the_cli_line(client, library):
    bad = client.post("/api/ingest/files", files=[("files", ("empty.vtt", b""))])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("empty.vtt: ")
    binary = client.post("/api/ingest/files", files=[("files", ("blob.srt", bytes(range(256)) * 4))])
    assert binary.status_code == 400 and binary.json()["detail"].startswith("blob.srt: ")
    wrong_type = client.post("/api/ingest/files", files=[("files", ("talk.exe", b"MZ"))])
    assert wrong_type.status_code == 400 and "unsupported file type" in wrong_type.json()["detail"]
    nothing = client.post("/api/ingest/files", files=[])
    assert nothing.status_code in (400, 422)
    traversal = client.post("/api/ingest/files", files=[("files", ("../../escape.txt", b"[00:00:01] A: hello there"))])
    assert traversal.status_code == 202
    wait_for_job(client, traversal.json()["id"])
    assert not (library.workspace.root.parent / "escape.txt").exists()
    assert not list(library.workspace.root.parent.parent.glob("escape.txt"))
    client.delete("/api/talks/escape")


def test_upload_limits(library):
    from fastapi.testclient import TestClient

    from tests.server.conftest import make_app

    with TestClient(make_app(library, max_upload_bytes=1000, max_upload_files=2), base_url="http://127.0.0.1") as small:
        big = small.post("/api/ingest/files", files=[("files", ("big.txt", b"a " * 1000))])
        assert big.status_code == 413 and big.json()["detail"] == "big.txt: larger than the upload limit (1,000 bytes)"
        many = [("files", (f"t{n}.txt", b"[00:00:01] A: hi")) for n in range(3)]
        too_many = small.post("/api/ingest/files", files=many)
        assert too_many.status_code == 413 and "at most 2" in too_many.json()["detail"]


def test_youtube_request_validation(client):
    bad = client.post("/api/ingest/youtube", json={"videos": ["not a video"]})
    assert bad.status_code == 400 and bad.json()["detail"] == "not a video: not a YouTube URL or video id"
    languages = client.post("/api/ingest/youtube", json={"videos": ["dQw4w9WgXcQ"], "languages": "en;rm -rf"})
    assert languages.status_code == 400
    assert client.post("/api/ingest/youtube", json={"videos": []}).status_code == 422


def test_batch_manifest_job_report(client, tmp_path):
    manifest = (DATA / "manifest.csv").read_text().splitlines()
    rows = [manifest[0], manifest[3].replace("lightning-pricing,", "batch-pricing,", 1)]
    files = [("files", ("lightning-pricing.json", (DATA / "lightning-pricing.json").read_bytes()))]
    response = client.post(
        "/api/batch", files=[("manifest", ("conf.csv", "\n".join(rows).encode())), *files], data={"jobs": "1"}
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"], timeout=300)
    assert job["status"] == "done", job
    assert job["report"]["counts"]["done"] == 1 and job["report"]["talks"][0]["talk_id"] == "batch-pricing"
    assert [(i["name"], i["status"]) for i in job["items"]] == [("batch-pricing", "done")]
    again = client.post(f"/api/jobs/{job['id']}/resume")
    assert again.status_code == 409
    client.delete("/api/talks/batch-pricing")


def test_batch_refuses_files_outside_the_upload(client):
    for source in ("/etc/passwd", "../../transcripts/founder-talk.json"):
        manifest = f"source,id\n{source},sneaky\n".encode()
        response = client.post("/api/batch", files=[("manifest", ("conf.csv", manifest))])
        assert response.status_code == 400, source
        assert "is not among the uploaded files" in response.json()["detail"]
    broken = client.post("/api/batch", files=[("manifest", ("conf.toml", b"x"))])
    assert broken.status_code == 400


def test_jobs_errors(client):
    assert client.get("/api/jobs/000000000000").status_code == 404
    assert client.get("/api/jobs/..%2F..").status_code in (404, 422)
    assert client.post("/api/jobs/not-an-id/cancel").status_code == 422


def test_many_asks_while_an_ingest_job_writes(client):
    """Eight questions at once from threads while an upload is being ingested: every ask answers, the job finishes."""
    from concurrent.futures import ThreadPoolExecutor

    upload = client.post(
        "/api/ingest/files", files=[("files", ("concurrent-chat.txt", (DATA / "fireside-chat.txt").read_bytes()))]
    )
    questions = ["How do they price it?", "What helps maintainers avoid burnout?", "remote teams", "Apache license"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda q: client.post("/api/ask", json={"question": q, "top_k": 2}), questions * 2))
    assert [a.status_code for a in answers] == [200] * 8
    assert all(a.json()["passages"] for a in answers)
    assert wait_for_job(client, upload.json()["id"])["status"] == "done"
    assert client.post("/api/ask", json={"question": "burnout", "talk": "concurrent-chat"}).status_code == 200
    client.delete("/api/talks/concurrent-chat")
