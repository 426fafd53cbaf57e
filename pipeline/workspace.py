"""Where things live on disk: cleaned transcripts (the source of truth), the index, caches and batch state.

Every write is atomic (a temporary file in the same folder, fsynced, then renamed over the target) and
every change to a talk happens under that talk's lock, so two processes at once, or a kill at any moment,
never leave a half-written or lost file. Temporary files a kill left behind go the next time their talk's lock is
taken (`Workspace.talk_lock`, `Workspace.clean_leftovers`).

Safety: a talk id names files, so every id is checked (`check_talk_id`, the `Talk.id` rule) before it reaches a
path, and every path the workspace builds is checked to stay inside it (`inside`); a read-only workspace, a
workspace that is a file and a damaged transcript are each one `WorkspaceError` line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from pydantic import ValidationError

from pipeline.models import TALK_ID_RULE, Transcript, is_valid_talk_id

DEFAULT_WORKSPACE = Path("~/.local/share/talks").expanduser()
WORKSPACE_ENV = "TALKS_WORKSPACE"
CHOOSE_ANOTHER = "choose another with --workspace or TALKS_WORKSPACE"
LEFTOVER_AGE = 3600  # seconds before an unguarded temporary file counts as left by a killed write


class WorkspaceError(Exception):
    """Something in the workspace is missing, damaged or not allowed; the message says what, in one line."""


class InvalidIdError(WorkspaceError):
    """An id (or a path built from one) that could lead outside the workspace: refused before any file is touched."""


class TalkBusyError(WorkspaceError):
    """Another process holds the talk's lock for longer than the timeout."""


def resolve_workspace(path: Path | None) -> Path:
    """`--workspace`, else `$TALKS_WORKSPACE`, else `~/.local/share/talks`."""
    if path is not None:
        return path.expanduser()
    from_env = os.environ.get(WORKSPACE_ENV)
    return Path(from_env).expanduser() if from_env else DEFAULT_WORKSPACE


def shown(value: object, limit: int = 60) -> str:
    """A value for a one-line message: quoted, control characters escaped, cut to `limit` characters."""
    text = repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def check_talk_id(talk_id: object) -> str:
    """`talk_id` when it is a valid talk id (the `Talk.id` rule), else a `WorkspaceError`. Call it wherever an id
    arrives from outside (command line, HTTP, a file) before it reaches a path, a lock or a query."""
    if isinstance(talk_id, str) and is_valid_talk_id(talk_id):
        return talk_id
    raise InvalidIdError(f"{shown(talk_id)} is not a valid talk id ({TALK_ID_RULE})")


def inside(root: Path, path: Path) -> Path:
    """`path`, after checking that it stays inside `root` once `.`, `..` and absolute parts are resolved.

    The check is on the normalised path names, not on symlink targets, so a workspace whose folders are symlinks
    to another disk keeps working; ids can never contain a separator or `..` (`check_talk_id`), this is the
    second line of defence.
    """
    base = os.path.abspath(root)
    target = os.path.abspath(path)
    if "\0" in target or target == base or os.path.commonpath([base, target]) != base:
        raise InvalidIdError(f"{shown(str(path), 120)} is outside {root}: refusing to touch it")
    return path


def file_error(error: OSError, root: Path, doing: str = "write") -> WorkspaceError:
    """One line for an OS error on a file of the workspace at `root`: read-only, a file instead of a folder, full."""
    where = error.filename or root
    if isinstance(error, PermissionError) and doing == "read":
        return WorkspaceError(f"workspace {root}: cannot read {where} (permission denied): fix its permissions")
    if isinstance(error, PermissionError) or error.errno == errno.EROFS:
        return WorkspaceError(
            f"workspace {root} is read-only (cannot {doing} {where}): fix its permissions or {CHOOSE_ANOTHER}"
        )
    with contextlib.suppress(OSError):
        if root.exists() and not root.is_dir():
            return not_a_folder(root)
    if isinstance(error, NotADirectoryError | FileExistsError):
        return WorkspaceError(f"workspace {root}: {where} is in the way (a file where a folder belongs): move it away")
    if error.errno == errno.ENOSPC:
        return WorkspaceError(f"workspace {root}: no space left on the device (writing {where}): free some space")
    return WorkspaceError(f"workspace {root}: cannot {doing} {where} ({error.strerror or error})")


def not_a_folder(root: Path) -> WorkspaceError:
    return WorkspaceError(f"workspace {root} is a file, not a folder: {CHOOSE_ANOTHER}")


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


def leftover_owner(path: Path) -> str | None:
    """The file name an `atomic_write` temporary file was for (`.NAME.RANDOM.tmp` → `NAME`), or None."""
    name = path.name
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    owner, _, random = name[1:-4].rpartition(".")
    return owner if owner and random else None


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@dataclass(frozen=True)
class DamagedTalk:
    """A transcript file of the workspace that cannot be read, and why."""

    talk_id: str
    path: Path
    message: str  # one line naming the file, what is wrong and what to do

    def __str__(self) -> str:
        return self.message


class Workspace:
    """A workspace directory. Layout: `transcripts/ID.json`, `index/`, `cache/`, `batch/`, `locks/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.transcripts_dir = root / "transcripts"
        self.index_dir = root / "index"
        self.cache_dir = root / "cache"
        self.batch_dir = root / "batch"
        self.locks_dir = root / "locks"

    # checks

    def check_root(self) -> None:
        """`WorkspaceError` when the workspace path is a file (a missing workspace is fine: it is empty)."""
        try:
            is_file = self.root.exists() and not self.root.is_dir()
        except OSError as error:
            raise file_error(error, self.root, "read") from None
        if is_file:
            raise not_a_folder(self.root)

    def check_writable(self) -> None:
        """`WorkspaceError` when the workspace, or one of its folders, cannot be written (read-only)."""
        self.check_root()
        effective = os.access in os.supports_effective_ids  # the ids files are written with, not the login's
        for directory in (self.root, self.transcripts_dir, self.index_dir, self.locks_dir, self.batch_dir):
            if directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK, effective_ids=effective):
                raise file_error(PermissionError(errno.EACCES, "Permission denied", str(directory)), self.root)

    def file(self, directory: Path, name: str, suffix: str) -> Path:
        """`directory/NAME+suffix` for a name that passes `check_talk_id`, checked to be inside the workspace."""
        return inside(self.root, directory / f"{check_talk_id(name)}{suffix}")

    def create(self) -> Workspace:
        """Makes the folders; `WorkspaceError` when the workspace is a file or read-only."""
        self.check_root()
        try:
            for directory in (self.transcripts_dir, self.index_dir, self.cache_dir, self.batch_dir, self.locks_dir):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise file_error(error, self.root) from None
        self.check_writable()
        return self

    # locks and leftovers

    @contextlib.contextmanager
    def talk_lock(self, talk_id: str, timeout: float = 600) -> Iterator[None]:
        """Held while a talk's transcript and index change; other talks go on in parallel. Temporary files a killed
        writer of this talk left behind are removed once the lock is held."""
        lock = self._acquire(talk_id, timeout)
        try:
            self._remove_leftovers(talk_id)
            yield
        finally:
            lock.release()

    def _acquire(self, talk_id: str, timeout: float) -> FileLock:
        path = self.file(self.locks_dir, talk_id, ".lock")
        self.check_writable()
        lock = FileLock(path, timeout=timeout)
        try:
            self.locks_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise TalkBusyError(
                f"talk '{talk_id}' is being changed by another process (lock {path} held for over {timeout:g}s): "
                "try again later"
            ) from None
        except OSError as error:
            raise file_error(error, self.root) from None
        return lock

    def _leftovers(self) -> Iterator[tuple[str, Path]]:
        """`(talk id, path)` of every temporary file of an interrupted transcript or index write."""
        for directory in (self.transcripts_dir, self.index_dir):
            if not directory.is_dir():
                continue
            for path in directory.glob(".*.tmp"):
                owner = leftover_owner(path)
                talk_id = owner.rpartition(".")[0] if owner else ""
                if is_valid_talk_id(talk_id):
                    yield talk_id, path

    def _remove_leftovers(self, talk_id: str) -> list[Path]:
        """Under `talk_id`'s lock: its writers' temporary files are orphans (no writer of it runs now)."""
        removed = []
        for owner, path in self._leftovers():
            if owner == talk_id:
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    raise file_error(error, self.root, "remove") from None
                removed.append(path)
        return removed

    def clean_leftovers(self) -> list[Path]:
        """Removes the temporary files killed writers left: a talk's under its lock (a talk being written now is
        skipped), the others' once old (`LEFTOVER_AGE`); returns what was removed. Nothing to remove writes nothing,
        so a read-only workspace is fine."""
        removed: list[Path] = []
        for talk_id in sorted({owner for owner, _ in self._leftovers()}):
            try:
                lock = self._acquire(talk_id, timeout=0)
            except TalkBusyError:
                continue
            try:
                removed += self._remove_leftovers(talk_id)
            finally:
                lock.release()
        return removed + self._remove_old_leftovers()

    def _remove_old_leftovers(self) -> list[Path]:
        """Temporary files in the folders no talk lock guards (caches, batch state, recaps, drafts), once they are
        older than `LEFTOVER_AGE`: a write that is still going takes milliseconds, not an hour."""
        removed = []
        cutoff = time.time() - LEFTOVER_AGE
        for directory in (self.cache_dir / "youtube", self.batch_dir, self.root / "recaps", self.root / "drafts"):
            for path in directory.glob(".*.tmp") if directory.is_dir() else []:
                with contextlib.suppress(FileNotFoundError):
                    if leftover_owner(path) and path.stat().st_mtime < cutoff:
                        try:
                            path.unlink()
                        except OSError as error:
                            raise file_error(error, self.root, "remove") from None
                        removed.append(path)
        return removed

    # transcripts

    def transcript_path(self, talk_id: str) -> Path:
        return self.file(self.transcripts_dir, talk_id, ".json")

    def save_transcript(self, transcript: Transcript) -> None:
        path = self.transcript_path(transcript.talk.id)
        try:
            atomic_write(path, transcript.model_dump_json(indent=1).encode())
        except OSError as error:
            raise file_error(error, self.root) from None

    def has_talk(self, talk_id: str) -> bool:
        self.check_root()
        return self.transcript_path(talk_id).exists()

    def load_transcript(self, talk_id: str) -> Transcript:
        path = self.transcript_path(talk_id)
        self.check_root()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            known = ", ".join(self.talk_ids()[:10]) or "none yet"
            raise WorkspaceError(f"no talk '{talk_id}' in workspace {self.root} (talks: {known})") from None
        except OSError as error:
            raise file_error(error, self.root, "read") from None
        try:
            transcript = Transcript.model_validate_json(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"]))
            problem = f"{first['msg']} at {where}" if where else first["msg"]
            raise WorkspaceError(f"{path}: damaged transcript ({problem}); {self._repair(talk_id)}") from None
        if transcript.talk.id != talk_id:
            raise WorkspaceError(
                f"{path}: damaged transcript (it holds talk '{transcript.talk.id}'); {self._repair(talk_id)}"
            )
        return transcript

    @staticmethod
    def _repair(talk_id: str) -> str:
        return f"ingest its source again with --id {talk_id}, or `talks remove {talk_id}`"

    def talk_ids(self) -> list[str]:
        """The ids of the transcripts in the workspace, sorted (files whose names are not talk ids are left out)."""
        self.check_root()
        if not self.transcripts_dir.is_dir():
            return []
        return sorted(path.stem for path in self.transcripts_dir.glob("*.json") if is_valid_talk_id(path.stem))

    def transcripts(self) -> list[Transcript]:
        """Every transcript; the first damaged one raises `WorkspaceError` (see `scan` to go on past it)."""
        return [self.load_transcript(talk_id) for talk_id in self.talk_ids()]

    def scan(self) -> tuple[list[Transcript], list[DamagedTalk]]:
        """Every transcript that reads, and every one that does not (a damaged file, a name that is no talk id)."""
        transcripts: list[Transcript] = []
        damaged: list[DamagedTalk] = []
        for talk_id in self.talk_ids():
            try:
                transcripts.append(self.load_transcript(talk_id))
            except WorkspaceError as error:
                damaged.append(DamagedTalk(talk_id, self.transcripts_dir / f"{talk_id}.json", str(error)))
        for path in sorted(self.transcripts_dir.glob("*.json")) if self.transcripts_dir.is_dir() else []:
            if not is_valid_talk_id(path.stem):
                problem = f"{path}: the name is not a valid talk id ({TALK_ID_RULE}): rename or delete the file"
                damaged.append(DamagedTalk(path.stem, path, problem))
        return transcripts, damaged

    def remove_transcript(self, talk_id: str) -> None:
        path = self.transcript_path(talk_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise file_error(error, self.root, "remove") from None
