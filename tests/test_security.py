"""Ids are paths: every id-taking command and library entry refuses a hostile id in one line, and nothing outside
the workspace is read, written or deleted (a sibling folder is snapshotted before and after)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.helpers import run_cli


def hostile_ids(victim: Path) -> list[str]:
    """Ids that would reach `victim/secret.*` (or elsewhere) if they were used as file names."""
    return [
        "../../victim/secret",  # transcripts/../../victim/secret.json is the sibling folder's file
        "../victim/secret",
        str(victim / "secret"),  # absolute
        "a/b",
        "a\x00b",
        "x" * 300,  # longer than a file name may be
        "..",
        "ok\n",
    ]


def snapshot(base: Path, skip: Path) -> dict[str, str]:
    """Every file and folder under `base` except the `skip` subtree, with a hash of each file's bytes."""
    state = {}
    for path in sorted(base.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        state[str(path.relative_to(base))] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "/"
    return state


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """`site/ws` (a workspace with one talk) beside `site/victim` (files named like a talk's)."""
    base = tmp_path_factory.mktemp("site")
    victim = base / "victim"
    victim.mkdir()
    for suffix in (".json", ".npz", ".md", ".lock"):
        (victim / f"secret{suffix}").write_text(f"do not touch {suffix}")
    result = run_cli("ingest", str(DATA / "fireside-chat.txt"), "-w", str(base / "ws"), "--restore-punctuation", "off")
    assert result.exit_code == 0, result.output
    return base


COMMANDS = [
    ("show", "{id}"),
    ("remove", "{id}"),
    ("remove", "{id}", "--store", "memory"),
    ("themes", "{id}"),
    ("recap", "{id}", "--out", "{victim}/secret.md"),
    ("reindex", "{id}"),
    ("ask", "pricing", "--talk", "{id}"),
    ("migrate", "--to", "memory", "--talk", "{id}"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command[:3]))
def test_hostile_ids_are_one_line_and_touch_nothing_outside(site: Path, command: tuple[str, ...]):
    workspace, victim = site / "ws", site / "victim"
    before = snapshot(site, skip=workspace)
    for talk_id in hostile_ids(victim):
        args = [part.format(id=talk_id, victim=victim) for part in command]
        result = run_cli(*args, "-w", str(workspace))
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.exit_code == 1, (args, result.output)
        assert len(errors) == 1 and "valid talk id" in errors[0], (args, result.stderr)
    assert snapshot(site, skip=workspace) == before
    assert run_cli("list", "-w", str(workspace)).exit_code == 0  # the workspace is intact


def test_ingest_with_a_hostile_id_touches_nothing_outside(site: Path):
    workspace, victim = site / "ws", site / "victim"
    before = snapshot(site, skip=workspace)
    for talk_id in hostile_ids(victim):
        result = run_cli("ingest", str(DATA / "fireside-chat.txt"), "--id", talk_id, "-w", str(workspace))
        assert result.exit_code == 1 and "bad talk metadata 'id'" in result.output, (talk_id, result.output)
    assert snapshot(site, skip=workspace) == before


def test_a_batch_row_with_a_hostile_id_touches_nothing_outside(site: Path):
    workspace, victim = site / "ws", site / "victim"
    manifest = site / "hostile.csv"
    rows = [f"{DATA / 'fireside-chat.txt'},{talk_id}" for talk_id in ("../../victim/secret", str(victim / "secret"))]
    manifest.write_text("source,id\n" + "\n".join(rows) + "\n")
    before = snapshot(site, skip=workspace)
    result = run_cli("batch", str(manifest), "-w", str(workspace), "--out", str(site / "recaps"))
    assert result.exit_code == 1 and "bad id" in result.stdout
    assert snapshot(site, skip=workspace) == before


def test_the_library_checks_ids_wherever_they_reach_a_path(site: Path, tmp_path: Path):
    from pipeline.api import Library, TalksError
    from pipeline.batch.state import state_name
    from pipeline.batch.work import write_recap_files
    from pipeline.models import Talk, TalkRecap
    from pipeline.sources.base import SourceError
    from pipeline.sources.youtube import YouTubeFetcher
    from pipeline.stores import WorkspaceIndex
    from pipeline.workspace import InvalidIdError, Workspace, check_talk_id, inside

    workspace = Workspace(site / "ws")
    victim = site / "victim"
    before = snapshot(site, skip=site / "ws")
    for talk_id in hostile_ids(victim):
        with pytest.raises(InvalidIdError):
            check_talk_id(talk_id)
        for call in (
            workspace.transcript_path,
            workspace.has_talk,
            workspace.load_transcript,
            workspace.remove_transcript,
            WorkspaceIndex(workspace.index_dir).header,
            WorkspaceIndex(workspace.index_dir).remove_talk,
        ):
            with pytest.raises(InvalidIdError):
                call(talk_id)
        with pytest.raises(InvalidIdError), workspace.talk_lock(talk_id):
            pass
        with Library(workspace.root) as library:
            for call in (library.transcript, library.remove, library.recap):
                with pytest.raises(TalksError) as raised:
                    call(talk_id)
                assert raised.value.kind == "invalid"
        # defence in depth: files named from an id that slipped past the model stay inside their folder
        hostile = TalkRecap.model_construct(talk=Talk.model_construct(id=talk_id), overview="", themes=[])
        with pytest.raises(InvalidIdError):
            write_recap_files(victim, hostile, {})
        with pytest.raises(SourceError):
            YouTubeFetcher(cache_dir=workspace.cache_dir / "youtube")._cache_path(talk_id)
    for escaping in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(InvalidIdError):
            inside(workspace.root, workspace.root / escaping)
    assert check_talk_id("fireside-chat") == "fireside-chat"
    assert state_name(Path("/m/../..manifest..csv"), "0123456789") == "manifest-0123456789"
    assert state_name(Path("/m/conf 2026.csv"), "0123456789") == "conf-2026-0123456789"
    assert snapshot(site, skip=site / "ws") == before
    stray = [path for path in site.rglob("*.lock") if path.relative_to(site).parts[0] != "ws"]
    assert stray == [victim / "secret.lock"]
