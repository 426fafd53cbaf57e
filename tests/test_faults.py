"""Faults of the workspace are one line naming the file or talk and what to do, with exit code 1, never a traceback:
a read-only workspace, a workspace that is a file, damaged index and transcript files, leftovers of a kill."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.helpers import run_cli
from tests.test_security import snapshot

TALKS = ("fireside-chat.txt", "lightning-pricing.json")


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


def _ingest(workspace: Path, *store: str) -> Path:
    sources = [str(DATA / name) for name in TALKS]
    result = run_cli("ingest", *sources, "-w", str(workspace), *store, "--restore-punctuation", "off")
    assert result.exit_code == 0, result.output
    return workspace


@pytest.fixture(scope="module")
def default_workspace(shared_root: Path) -> Path:
    """Two talks in the default store."""
    return _ingest(shared_root / "default")


@pytest.fixture(scope="module")
def memory_workspace(shared_root: Path) -> Path:
    """Two talks in the memory store (index/ID.npz)."""
    return _ingest(shared_root / "memory", "--store", "memory")


@pytest.fixture
def copy_of(shared_root: Path, request) -> Iterator:
    """`copy_of(workspace)`: a fresh copy to damage, removed after the test."""
    made: list[Path] = []

    def copy(workspace: Path) -> Path:
        target = shared_root / f"{workspace.name}-{request.node.name}-{len(made)}".replace("[", "-").replace("]", "")
        shutil.copytree(workspace, target)
        made.append(target)
        return target

    yield copy
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


@contextlib.contextmanager
def without_dac_override() -> Iterator[None]:
    """The block runs without root's CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so file modes bind root too (a
    folder without write bits is read-only), while root keeps reading what it owns (the interpreter, the model).
    Only this thread's effective set changes, and it is restored afterwards (capget/capset from glibc, by ctypes:
    no Python package wraps them). Not root: nothing to drop, the modes already bind."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3, this thread
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


def test_read_only_workspace_is_one_line_and_unchanged(default_workspace: Path, copy_of, shared_root: Path):
    workspace = copy_of(default_workspace)
    manifest = shared_root / "one.csv"
    manifest.write_text(f"source,id\n{DATA / 'fireside-chat.txt'},fireside-chat\n")
    for path in [workspace, *workspace.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)  # read-only for everyone but root
    before = snapshot(workspace, skip=workspace / "none")
    commands = [
        ("remove", "fireside-chat"),
        ("reindex", "--all"),
        ("reindex", "fireside-chat"),
        ("ingest", str(DATA / "fireside-chat.txt"), "--restore-punctuation", "off"),
        ("batch", str(manifest), "--out", str(shared_root / "recaps")),
    ]
    try:
        for command in commands:
            with without_dac_override():
                assert not os.access(workspace, os.W_OK, effective_ids=True)
                result = run_cli(*command, "-w", str(workspace))
            assert result.exit_code == 1, (command, result.output)
            assert len(error_lines(result)) == 1, (command, result.stderr)
            assert f"workspace {workspace} is read-only" in result.stderr, (command, result.stderr)
        reads = {("list",): "fireside-chat", ("show", "fireside-chat"): "Lena Park", ("ask", "Who is on call?"): "[1]"}
        for command, expected in reads.items():
            with without_dac_override():  # reading a read-only workspace works
                result = run_cli(*command, "-w", str(workspace))
            assert result.exit_code == 0, (command, result.output, result.stderr)
            assert expected in result.stdout, (command, result.stdout)
    finally:
        for path in [workspace, *workspace.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert snapshot(workspace, skip=workspace / "none") == before


@pytest.mark.parametrize(
    "command",
    [
        ("list",),
        ("list", "--json"),
        ("reindex",),
        ("ingest", str(DATA / "fireside-chat.txt")),
        ("batch", str(DATA / "manifest.csv")),
        ("remove", "fireside-chat"),
        ("ask", "pricing"),
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_workspace_that_is_a_file_is_one_line(tmp_path: Path, command: tuple[str, ...]):
    workspace = tmp_path / "notes.txt"
    workspace.write_text("not a workspace")
    result = run_cli(*command, "-w", str(workspace))
    assert result.exit_code == 1, result.output
    assert error_lines(result) == [f"error: workspace {workspace} is a file, not a folder: {_choose()}"]
    assert workspace.read_text() == "not a workspace" and list(tmp_path.iterdir()) == [workspace]


def _choose() -> str:
    from pipeline.workspace import CHOOSE_ANOTHER

    return CHOOSE_ANOTHER


def _damage(path: Path, kind: str) -> None:
    data = path.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
        "nul-bytes": b"\0" * len(data),
    }[kind]
    path.write_bytes(damaged)


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage"])
def test_damaged_index_files_are_named_and_rebuilt_by_reindex(memory_workspace: Path, copy_of, kind: str):
    workspace = copy_of(memory_workspace)
    damaged = workspace / "index" / "fireside-chat.npz"
    _damage(damaged, kind)
    memory = ("-w", str(workspace), "--store", "memory")

    listed = run_cli("list", *memory)
    assert listed.exit_code == 1
    assert "lightning-pricing" in listed.stdout and "damaged" in listed.stdout
    assert f"{damaged}: damaged index file" in listed.stderr and "talks reindex" in listed.stderr

    asked = run_cli("ask", "How should pricing work?", *memory)
    assert asked.exit_code == 1 and len(error_lines(asked)) == 1
    assert f"{damaged}: damaged index file" in asked.stderr

    rebuilt = run_cli("reindex", *memory)  # no talk named: finds the damaged entry itself
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "fireside-chat" in rebuilt.stderr + rebuilt.stdout and "lightning-pricing" not in rebuilt.stderr
    assert run_cli("list", *memory).exit_code == 0
    assert run_cli("ask", "How should pricing work?", *memory).exit_code == 0


def test_any_damage_to_an_index_file_reads_as_damaged(memory_workspace: Path, tmp_path: Path):
    """A seeded fuzz of truncations and byte flips: every read of the file is a header, None, or one
    WorkspaceError naming it; never another exception."""
    import random

    from pipeline.stores import WorkspaceIndex
    from pipeline.workspace import WorkspaceError

    data = (memory_workspace / "index" / "fireside-chat.npz").read_bytes()
    index = tmp_path / "index"
    index.mkdir()
    store = WorkspaceIndex(index)
    rng = random.Random(10)
    cases = [data[:size] for size in range(0, len(data), len(data) // 100)]
    for _ in range(300):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 30)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        cases.append(bytes(flipped))
    for case in cases:
        (index / "talk.npz").write_bytes(case)
        assert store.header("talk") is None or store.problem("talk") is None
        try:
            store.documents("talk")
        except WorkspaceError as error:
            assert str(error).startswith(f"{index / 'talk.npz'}: damaged index file")


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage", "nul-bytes", "another-talk"])
def test_a_damaged_transcript_is_marked_and_the_rest_still_lists(default_workspace: Path, copy_of, kind: str):
    workspace = copy_of(default_workspace)
    damaged = workspace / "transcripts" / "fireside-chat.json"
    if kind == "another-talk":
        shutil.copyfile(workspace / "transcripts" / "lightning-pricing.json", damaged)
    else:
        _damage(damaged, kind)
    where = ("-w", str(workspace))

    listed = run_cli("list", *where)
    assert listed.exit_code == 1
    assert "lightning-pricing" in listed.stdout and "indexed" in listed.stdout
    assert f"{damaged}: damaged transcript" in listed.stderr and "talks remove fireside-chat" in listed.stderr

    as_json = run_cli("list", "--json", *where)
    assert as_json.exit_code == 1
    infos = {info["talk"]["id"]: info for info in json.loads(as_json.stdout)}
    assert infos["lightning-pricing"]["status"] == "indexed"
    assert infos["fireside-chat"]["status"] == "damaged" and str(damaged) in infos["fireside-chat"]["problem"]

    reindexed = run_cli("reindex", *where)
    assert reindexed.exit_code == 1 and f"{damaged}: damaged transcript" in reindexed.output
    shown = run_cli("show", "fireside-chat", *where)
    assert shown.exit_code == 1 and len(error_lines(shown)) == 1 and str(damaged) in shown.stderr
    assert run_cli("show", "lightning-pricing", *where).exit_code == 0
    assert run_cli("remove", "fireside-chat", *where).exit_code == 0  # the way out the message names
    assert run_cli("list", *where).exit_code == 0


def test_leftovers_of_a_kill_are_removed_under_the_lock(memory_workspace: Path, copy_of):
    from pipeline.workspace import Workspace

    workspace = copy_of(memory_workspace)
    leftovers = [
        workspace / "transcripts" / ".fireside-chat.json.k1ll3d.tmp",
        workspace / "index" / ".fireside-chat.npz.k1ll3d.tmp",
        workspace / "transcripts" / ".lightning-pricing.json.abc_12.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half a file")
    unrelated = workspace / "transcripts" / ".notes.tmp"
    unrelated.write_text("not ours")
    (workspace / "cache" / "youtube").mkdir(parents=True, exist_ok=True)
    old_cache, fresh_cache = (workspace / "cache" / "youtube" / f".dQw4w9WgXcQ.json.{n}.tmp" for n in ("old", "new"))
    for path in (old_cache, fresh_cache):
        path.write_bytes(b"half a cache file")
    os.utime(old_cache, (1, 1))  # long ago: no write is still going on

    with Workspace(workspace).talk_lock("fireside-chat"):  # a writer of one talk removes that talk's leftovers
        assert [path.exists() for path in leftovers] == [False, False, True]
    result = run_cli("reindex", "-w", str(workspace), "--store", "memory")  # and reindex everyone's
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in leftovers) and unrelated.exists()
    assert not old_cache.exists() and fresh_cache.exists()  # an unguarded one may be a write in progress
