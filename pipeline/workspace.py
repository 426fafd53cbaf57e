"""Where things live on disk: cleaned transcripts (the source of truth), the index, caches and batch state.

Every write is atomic (a temporary file in the same folder, fsynced, then renamed over the target) and
every change to a talk happens under that talk's lock, so two processes at once, or a kill at any moment,
never leave a half-written or lost file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock
from pydantic import ValidationError

from pipeline.models import Transcript

DEFAULT_WORKSPACE = Path("~/.local/share/talks").expanduser()
WORKSPACE_ENV = "TALKS_WORKSPACE"


class WorkspaceError(Exception):
    """Something in the workspace is missing or damaged; the message says what."""


def resolve_workspace(path: Path | None) -> Path:
    """`--workspace`, else `$TALKS_WORKSPACE`, else `~/.local/share/talks`."""
    if path is not None:
        return path.expanduser()
    from_env = os.environ.get(WORKSPACE_ENV)
    return Path(from_env).expanduser() if from_env else DEFAULT_WORKSPACE


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class Workspace:
    """A workspace directory. Layout: `transcripts/ID.json`, `index/`, `cache/`, `batch/`, `locks/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.transcripts_dir = root / "transcripts"
        self.index_dir = root / "index"
        self.cache_dir = root / "cache"
        self.batch_dir = root / "batch"
        self.locks_dir = root / "locks"

    def create(self) -> Workspace:
        for directory in (self.transcripts_dir, self.index_dir, self.cache_dir, self.batch_dir, self.locks_dir):
            directory.mkdir(parents=True, exist_ok=True)
        return self

    @contextlib.contextmanager
    def talk_lock(self, talk_id: str, timeout: float = 600) -> Iterator[None]:
        """Held while a talk's transcript and index change; other talks go on in parallel."""
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.locks_dir / f"{talk_id}.lock", timeout=timeout):
            yield

    def transcript_path(self, talk_id: str) -> Path:
        return self.transcripts_dir / f"{talk_id}.json"

    def save_transcript(self, transcript: Transcript) -> None:
        atomic_write(self.transcript_path(transcript.talk.id), transcript.model_dump_json(indent=1).encode())

    def has_talk(self, talk_id: str) -> bool:
        return self.transcript_path(talk_id).exists()

    def load_transcript(self, talk_id: str) -> Transcript:
        path = self.transcript_path(talk_id)
        if not path.exists():
            known = ", ".join(self.talk_ids()[:10]) or "none yet"
            raise WorkspaceError(f"no talk '{talk_id}' in workspace {self.root} (talks: {known})")
        try:
            return Transcript.model_validate_json(path.read_bytes())
        except ValidationError as error:
            raise WorkspaceError(f"{path}: damaged transcript ({error.errors()[0]['msg']})") from None

    def talk_ids(self) -> list[str]:
        if not self.transcripts_dir.exists():
            return []
        return sorted(path.stem for path in self.transcripts_dir.glob("*.json"))

    def transcripts(self) -> list[Transcript]:
        return [self.load_transcript(talk_id) for talk_id in self.talk_ids()]

    def remove_transcript(self, talk_id: str) -> None:
        self.transcript_path(talk_id).unlink(missing_ok=True)
