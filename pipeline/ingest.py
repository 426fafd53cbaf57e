"""Ingesting transcripts into a workspace: the indexing pipeline run talk by talk, failures collected."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipeline.models import Transcript
from pipeline.pipelines import IndexSettings, build_indexing_pipeline
from pipeline.stores import StoreConfig, open_store
from pipeline.workspace import Workspace


@dataclass
class Failure:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class IngestResult:
    talk_id: str
    chunks: int
    segments: int
    seconds: float
    replaced: bool


@dataclass
class IngestReport:
    done: list[IngestResult] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


class Ingestor:
    """Runs the indexing pipeline over transcripts; the embedding model loads once, in `warm_up`."""

    def __init__(
        self, workspace: Workspace, settings: IndexSettings = IndexSettings(), store: StoreConfig | None = None
    ) -> None:
        self.workspace = workspace.create()
        self.settings = settings
        self.store = store or StoreConfig()
        self.pipeline = build_indexing_pipeline(str(workspace.root), settings, self.store)

    def warm_up(self) -> None:
        self.pipeline.warm_up()

    def ingest(self, transcript: Transcript) -> IngestResult:
        started = time.perf_counter()
        replaced = self.workspace.has_talk(transcript.talk.id)
        output = self.pipeline.run({"cleaner": {"transcript": transcript}})
        return IngestResult(
            talk_id=output["writer"]["talk_id"],
            chunks=output["writer"]["chunks"],
            segments=len(transcript.segments),
            seconds=time.perf_counter() - started,
            replaced=replaced,
        )


def remove_talk(workspace: Workspace, talk_id: str, store: StoreConfig | None = None) -> None:
    """Deletes a talk's chunks and transcript (chunks first, so no index entry outlives its transcript)."""
    with workspace.talk_lock(talk_id), open_store(store or StoreConfig(), workspace.root) as chunk_store:
        chunk_store.remove_talk(talk_id)
        workspace.remove_transcript(talk_id)
