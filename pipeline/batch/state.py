"""The batch state of one manifest, `WORKSPACE/batch/<manifest-stem>-<hash of its absolute path>.json`: each talk's
status (pending, done, failed), reason, attempts, a hash of its manifest row and stage timings.

Every update re-reads the file and merges under a file lock, then replaces it atomically, so a kill at any moment
keeps everything recorded and two processes never clobber each other."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, Field, ValidationError

from pipeline.batch.manifest import BatchError
from pipeline.models import is_valid_talk_id
from pipeline.sources.files import talk_id_from
from pipeline.workspace import Workspace, atomic_write, file_error

STATE_FORMAT = 1

Status = Literal["pending", "done", "failed"]


class TalkState(BaseModel):
    """What the batch knows about one talk."""

    status: Status = "pending"
    row_hash: str
    line: int
    source: str
    attempts: int = 0
    reason: str | None = None
    stage: str | None = Field(default=None, description="Where the last attempt failed: load, ingest or recap.")
    retryable: bool = False
    chunks: int | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage of the last attempt.")
    updated: datetime | None = None


class BatchState(BaseModel):
    format: int = STATE_FORMAT
    manifest: str
    talks: dict[str, TalkState] = Field(default_factory=dict)


def state_name(manifest: Path, digest: str) -> str:
    """`<manifest stem>-<digest>`, the stem made safe (a file name that is a valid talk id, never a path)."""
    stem = talk_id_from(manifest.stem)[:60].rstrip("-._")
    name = f"{stem}-{digest}"
    return name if is_valid_talk_id(name) else f"manifest-{digest}"


class StateFile:
    """The batch state of one manifest: every update merges under a file lock and replaces the file atomically."""

    def __init__(self, workspace: Workspace, manifest: Path, timeout: float = 60) -> None:
        resolved = str(manifest.resolve())
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
        self.manifest = resolved
        self.workspace = workspace
        self.path = workspace.file(workspace.batch_dir, state_name(manifest, digest), ".json")
        self._lock = FileLock(workspace.file(workspace.batch_dir, self.path.stem, ".lock"), timeout=timeout)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock:
            try:
                self._lock.acquire()
            except Timeout:
                raise BatchError(f"{self.path}: locked by another process for too long") from None
            except OSError as error:
                raise BatchError(str(file_error(error, self.workspace.root))) from None
            try:
                yield
            finally:
                self._lock.release()

    def load(self) -> BatchState:
        """The state as stored (empty when there is none yet). Leftover temporary files of a killed run go."""
        with self.locked():
            for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
            return self._read()

    def update(self, talks: Mapping[str, TalkState]) -> BatchState:
        """Merge these talks' entries into the stored state; returns the merged state."""
        with self.locked():
            state = self._read()
            state.talks.update(talks)
            try:
                atomic_write(self.path, state.model_dump_json(indent=1).encode())
            except OSError as error:
                raise BatchError(str(file_error(error, self.workspace.root))) from None
            return state

    def _read(self) -> BatchState:
        if not self.path.exists():
            return BatchState(manifest=self.manifest)
        try:
            return BatchState.model_validate_json(self.path.read_bytes())
        except (ValidationError, OSError) as error:
            raise BatchError(f"{self.path}: damaged batch state ({error}); delete it to start over") from None
