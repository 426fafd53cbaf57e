"""One suite, every store: the same `talks` commands behave the same on SQLite, memory, pgvector and Qdrant.

Each store gets a fresh workspace (and a fresh PostgreSQL database or Qdrant folder); the commands run as real
subprocesses with `TALKS_STORE`/`TALKS_STORE_URL` set, so the environment path of the configuration is tested too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.models import Answer
from pipeline.stores import StoreConfig, open_store
from tests.conftest import DATA
from tests.helpers import talks
from tests.pgserver import create_database

TALK_IDS = ["fireside-chat", "founder-talk", "lightning-pricing", "panel-remote-teams"]
APACHE_QUESTION = "Why did they keep the Apache license?"


@dataclass
class StoreUnderTest:
    kind: str
    workspace: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, env: dict[str, str] | None = None):
        return talks(self.workspace, *args, env={**self.env, **(env or {})})

    def config(self) -> StoreConfig:
        return StoreConfig(kind=self.kind, url=self.env.get("TALKS_STORE_URL"))

    def ask(self, *args: str, env: dict[str, str] | None = None) -> Answer:
        result = self.run("ask", *args, "--json", env=env)
        assert result.returncode == 0, result.stderr
        return Answer.model_validate_json(result.stdout)


@pytest.fixture(scope="module", params=["sqlite", "memory", "pgvector", "qdrant"])
def store(request, tmp_path_factory) -> StoreUnderTest:
    kind = request.param
    env = {"TALKS_STORE": kind}
    if kind == "pgvector":
        env["TALKS_STORE_URL"] = create_database(request.getfixturevalue("postgres_url"), "contract")
    return StoreUnderTest(kind, tmp_path_factory.mktemp(f"contract-{kind}") / "ws", env)


@pytest.fixture(scope="module")
def ingested(store: StoreUnderTest) -> StoreUnderTest:
    result = store.run("ingest", str(DATA))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 ingested, 0 failed" in result.stdout
    return store


def chunk_count(store: StoreUnderTest) -> int:
    with open_store(store.config(), store.workspace) as chunks:
        return chunks.count_chunks()


def test_list_shows_every_talk_indexed(ingested: StoreUnderTest):
    result = ingested.run("list")
    assert result.returncode == 0, result.stderr
    for talk_id in TALK_IDS:
        line = next(line for line in result.stdout.splitlines() if talk_id in line)
        assert "indexed" in line and "not indexed" not in line and "stale" not in line


def test_ask_finds_and_cites_the_passage(ingested: StoreUnderTest):
    answer = ingested.ask(APACHE_QUESTION, "--top-k", "3")
    assert len(answer.passages) == 3
    best = answer.passages[0]
    assert best.talk_id == "founder-talk"
    assert "apache" in best.text.lower()
    assert best.start is not None and best.url and "&t=" in best.url
    assert answer.answer and "[1]" in answer.answer


def test_ask_filters_by_talk_speaker_and_event(ingested: StoreUnderTest):
    only_panel = ingested.ask("How do remote teams stay aligned?", "--talk", "panel-remote-teams")
    assert only_panel.passages and {p.talk_id for p in only_panel.passages} == {"panel-remote-teams"}
    by_speaker = ingested.ask("How do remote teams stay aligned?", "--speaker", "priya")
    assert by_speaker.passages and all("Priya Raman" in p.speakers for p in by_speaker.passages)
    result = ingested.run("ask", "anything", "--event", "No Such Conf")
    assert result.returncode == 1 and "no event 'No Such Conf'" in result.stderr
    assert "Traceback" not in result.stderr


def test_reingest_replaces_without_duplicates(ingested: StoreUnderTest):
    before = chunk_count(ingested)
    result = ingested.run("ingest", str(DATA / "panel-remote-teams.srt"))
    assert result.returncode == 0, result.stderr
    assert "replaced panel-remote-teams" in result.stdout + result.stderr
    assert chunk_count(ingested) == before


def test_themes_and_recap_work_on_the_store(ingested: StoreUnderTest):
    themes = ingested.run("themes", "founder-talk", "--json")
    assert themes.returncode == 0, themes.stderr
    recap = ingested.run("recap", "lightning-pricing")
    assert recap.returncode == 0, recap.stderr
    assert recap.stdout.startswith("---\n") and "\n---\n\n# " in recap.stdout  # front matter, then the draft


def test_batch_writes_to_the_store(ingested: StoreUnderTest, tmp_path: Path):
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["source", "id", "title"])
        writer.writerow([str(DATA / "lightning-pricing.json"), "pricing-again", "Pricing, again"])
    result = ingested.run("batch", str(manifest), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    answer = ingested.ask("How should developer tools be priced?", "--talk", "pricing-again")
    assert answer.passages and answer.passages[0].talk_id == "pricing-again"


def test_migrate_copies_without_reembedding(ingested: StoreUnderTest, tmp_path: Path):
    """memory → SQLite; SQLite → a Qdrant folder; pgvector and Qdrant → the workspace's memory store. Same chunks,
    same answers: the same best passage, though a grown passage's edges may differ, since a growth stops before the
    other passages picked and the stores rank the lower ones a little differently (one range holds the other)."""
    if ingested.kind == "memory":
        target_env = {"TALKS_STORE": "sqlite"}
        result = ingested.run("migrate", "--to", "sqlite")
    elif ingested.kind == "sqlite":
        target_env = {"TALKS_STORE": "qdrant", "TALKS_STORE_PATH": str(tmp_path / "qdrant")}
        result = ingested.run("migrate", "--to", "qdrant", "--to-path", str(tmp_path / "qdrant"))
    else:
        target_env = {"TALKS_STORE": "memory", "TALKS_STORE_URL": ""}
        result = ingested.run("migrate", "--to", "memory")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(verified)" in result.stdout
    original = ingested.ask(APACHE_QUESTION, "--top-k", "3")
    copied = ingested.ask(APACHE_QUESTION, "--top-k", "3", env=target_env)
    assert copied.passages[0].talk_id == original.passages[0].talk_id
    first, other = sorted((copied.passages[0], original.passages[0]), key=lambda p: p.last_segment - p.first_segment)
    assert other.first_segment <= first.first_segment <= first.last_segment <= other.last_segment, (first, other)


def test_remove_deletes_the_talk_everywhere(ingested: StoreUnderTest):
    result = ingested.run("remove", "fireside-chat")
    assert result.returncode == 0, result.stderr
    assert "fireside-chat" not in ingested.run("list").stdout
    missing = ingested.run("ask", "anything", "--talk", "fireside-chat")
    assert missing.returncode == 1 and "no talk 'fireside-chat'" in missing.stderr
    with open_store(ingested.config(), ingested.workspace) as chunks:
        assert chunks.header("fireside-chat") is None
