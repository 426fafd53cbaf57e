"""Jobs survive a server restart: a job the old server was running shows as interrupted and resumes; cancel."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from pipeline.server.schemas import Job, JobItem
from tests.conftest import DATA
from tests.server.conftest import make_app, wait_for_job


def test_a_job_killed_with_the_server_is_interrupted_and_resumes(library, tmp_path):
    """The first server is gone mid-job (its record says running, one talk done, one in progress); the next server
    shows it interrupted, and resuming finishes only what was left."""
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for name in ("lightning-pricing.json", "lightning-pricing.meta.yaml"):
        shutil.copy(DATA / name, uploads / name)
    shutil.copy(DATA / "fireside-chat.txt", uploads / "restart-chat.txt")
    jobs_dir = library.workspace.root / "server" / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    record = Job(
        id="0123456789ab",
        kind="ingest",
        status="running",
        created=datetime.now(UTC),
        params={"sources": [str(uploads / "lightning-pricing.json"), str(uploads / "restart-chat.txt")], "options": {}},
        items=[
            JobItem(name="lightning-pricing.json", status="done", talk_id="lightning-pricing", message="ingested"),
            JobItem(name="restart-chat.txt", status="running", talk_id="restart-chat"),
        ],
    )
    (jobs_dir / f"{record.id}.json").write_text(record.model_dump_json())  # what a kill leaves on disk

    with TestClient(make_app(library), base_url="http://127.0.0.1") as restarted:
        job = restarted.get(f"/api/jobs/{record.id}").json()
        assert job["status"] == "interrupted" and "resume" in job["error"]
        assert [item["status"] for item in job["items"]] == ["done", "pending"]
        assert restarted.post(f"/api/jobs/{record.id}/cancel").status_code == 409
        resumed = restarted.post(f"/api/jobs/{record.id}/resume")
        assert resumed.status_code == 200
        job = wait_for_job(restarted, record.id)
        assert job["status"] == "done" and [item["status"] for item in job["items"]] == ["done", "done"]
        assert job["items"][0]["message"] == "ingested"  # not redone
        assert restarted.get("/api/talks/restart-chat").json()["status"] == "indexed"
        restarted.delete("/api/talks/restart-chat")


def test_cancel_stops_between_talks(library, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    names = []
    for number in range(3):
        name = f"cancel-{number}.txt"
        shutil.copy(DATA / "fireside-chat.txt", uploads / name)
        names.append(name)
    with TestClient(make_app(library), base_url="http://127.0.0.1") as client:
        manager = client.app.state.talks.jobs
        items = [JobItem(name=name, talk_id=name[:-4]) for name in names]
        job = manager.submit("ingest", {"sources": [str(uploads / n) for n in names], "options": {}}, items)
        cancelled = client.post(f"/api/jobs/{job.id}/cancel")
        assert cancelled.status_code == 200
        final = wait_for_job(client, job.id)
        assert final["status"] == "cancelled"
        done = [item["talk_id"] for item in final["items"] if item["status"] == "done"]
        assert len(done) < 3
        for talk_id in done:
            client.delete(f"/api/talks/{talk_id}")


def test_cancel_a_batch_then_resume_it(client):
    """Cancelling a batch interrupts it as Ctrl-C does; resuming finishes it from its state file."""
    rows = ["source,id,title"] + [f"lightning-pricing.json,cancel-batch-{n},Copy {n}" for n in range(3)]
    files = [("files", ("lightning-pricing.json", (DATA / "lightning-pricing.json").read_bytes()))]
    response = client.post("/api/batch", files=[("manifest", ("many.csv", "\n".join(rows).encode())), *files])
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = wait_for_job(client, job_id, timeout=300)
    assert job["status"] == "cancelled", job
    assert client.post(f"/api/jobs/{job_id}/resume").status_code == 200
    job = wait_for_job(client, job_id, timeout=300)
    assert job["status"] == "done", job
    assert [item["status"] for item in job["items"]] == ["done"] * 3
    assert job["report"]["counts"]["failed"] == 0
    for n in range(3):
        client.delete(f"/api/talks/cancel-batch-{n}")
