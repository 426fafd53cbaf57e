"""Ingesting transcripts into a workspace: the indexing pipeline run talk by talk (`Ingestor.ingest`), or over many
talks with their chunks embedded together (`Ingestor.ingest_many`); failures collected."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.models import Transcript
from pipeline.sources.base import SourceError
from pipeline.stores import StoreConfig, open_store
from pipeline.workspace import Workspace

if TYPE_CHECKING:  # the pipelines (Haystack, torch) load with an Ingestor, not for `remove_talk`
    from haystack import Document

    from pipeline.pipelines import IndexSettings


@dataclass
class IngestResult:
    talk_id: str
    chunks: int
    segments: int
    seconds: float
    replaced: bool


@dataclass
class IngestOutcome:
    """One talk of `Ingestor.ingest_many`: the transcript as given, and its result or the error that stopped it."""

    transcript: Transcript
    result: IngestResult | None = None
    error: Exception | None = None


@dataclass
class _Prepared:
    transcript: Transcript  # as given
    cleaned: Transcript
    documents: list[Document]
    replaced: bool
    seconds: float


class Ingestor:
    """Runs the indexing pipeline over transcripts; the embedding model loads once, in `warm_up`.

    `ingest` runs the whole pipeline for one talk. `ingest_many` runs the same components over many talks: each
    talk is cleaned and chunked on its own, the chunks of several talks are embedded in one embedder call (so the
    model sees few, length-sorted, full batches instead of each talk's short, ragged ones), and each talk is then
    written on its own, atomically and under its lock, exactly as `ingest` writes it.
    """

    #: `ingest_many` embeds once at least this many chunks are waiting (and at the end): about 8 full, length-sorted
    #: batches of 32 (a short talk's own batches cost up to a third more with two torch threads on busy cores; see
    #: README, "Ingestion and query speed"), few enough that results arrive steadily.
    group_chunks = 256

    def __init__(
        self, workspace: Workspace, settings: IndexSettings | None = None, store: StoreConfig | None = None
    ) -> None:
        from pipeline.pipelines import IndexSettings, build_indexing_pipeline

        settings = settings or IndexSettings()
        self.workspace = workspace.create()
        self.settings = settings
        self.store = store or StoreConfig()
        self.pipeline = build_indexing_pipeline(str(workspace.root), settings, self.store)

    def warm_up(self) -> None:
        self.pipeline.warm_up()

    def ingest(self, transcript: Transcript) -> IngestResult:
        from pipeline.pipelines import run_pipeline

        started = time.perf_counter()
        replaced = self.workspace.has_talk(transcript.talk.id)
        output = run_pipeline(self.pipeline, {"cleaner": {"transcript": transcript}})
        return IngestResult(
            talk_id=output["writer"]["talk_id"],
            chunks=output["writer"]["chunks"],
            segments=len(transcript.segments),
            seconds=time.perf_counter() - started,
            replaced=replaced,
        )

    def ingest_many(
        self, transcripts: Iterable[Transcript], group_chunks: int | None = None
    ) -> Iterator[IngestOutcome]:
        """Ingests talk after talk, yielding one `IngestOutcome` a talk, in order; a failing talk never stops the
        others. Chunks wait until `group_chunks` of them (default `Ingestor.group_chunks`) are ready, then are
        embedded together; `transcripts` is read lazily, so it may load talks as it goes."""
        limit = max(1, group_chunks or self.group_chunks)
        cleaner = self.pipeline.get_component("cleaner")
        restorer = self.pipeline.get_component("punctuation")
        chunker = self.pipeline.get_component("chunker")
        waiting: list[_Prepared | IngestOutcome] = []  # in input order; an outcome is a talk that already failed
        chunks = 0
        taken: dict[str, str] = {}  # talk id -> the source that took it in this run
        for transcript in transcripts:
            started = time.perf_counter()
            try:
                talk_id = transcript.talk.id
                if talk_id in taken:  # two inputs of one run with one id: never replace silently
                    problem = f"id '{talk_id}' already used by {taken[talk_id]} in this run; pass --id"
                    raise SourceError(transcript.talk.source or talk_id, problem + " to ingest it under another id")
                taken[talk_id] = transcript.talk.source or talk_id
                replaced = self.workspace.has_talk(talk_id)
                cleaned = cleaner.run(transcript=transcript)["transcript"]
                cleaned = restorer.run(transcript=cleaned)["transcript"]
                documents = chunker.run(transcript=cleaned)["documents"]
            except Exception as error:  # one bad talk must not stop the others
                waiting.append(IngestOutcome(transcript, error=error))
            else:
                waiting.append(_Prepared(transcript, cleaned, documents, replaced, time.perf_counter() - started))
                chunks += len(documents)
            if chunks >= limit or not chunks:  # nothing waits to be embedded: a failure is reported at once
                yield from self._embed_and_write(waiting)
                waiting, chunks = [], 0
        yield from self._embed_and_write(waiting)

    def _embed_and_write(self, group: list[_Prepared | IngestOutcome]) -> Iterator[IngestOutcome]:
        prepared = [p for p in group if isinstance(p, _Prepared)]
        embedder = self.pipeline.get_component("embedder")
        writer = self.pipeline.get_component("writer")
        started = time.perf_counter()
        embedded: list[Document] | None = None
        if prepared:
            try:
                embedded = embedder.run(documents=[doc for p in prepared for doc in p.documents])["documents"]
            except Exception:  # embed talk by talk below, so the error stays with the talk that causes it
                embedded = None
        seconds = time.perf_counter() - started
        total = sum(len(p.documents) for p in prepared) or 1
        offset = 0
        for entry in group:
            if isinstance(entry, IngestOutcome):
                yield entry
                continue
            count = len(entry.documents)
            started = time.perf_counter()
            try:
                if embedded is not None:
                    documents = embedded[offset : offset + count]
                    share = seconds * count / total
                else:
                    documents, share = embedder.run(documents=entry.documents)["documents"], 0.0
                vectors = self._sentence_vectors(documents)
                output = writer.run(transcript=entry.cleaned, documents=documents, sentence_vectors=vectors)
            except Exception as error:
                yield IngestOutcome(entry.transcript, error=error)
            else:
                result = IngestResult(
                    talk_id=output["talk_id"],
                    chunks=output["chunks"],
                    segments=len(entry.transcript.segments),
                    seconds=entry.seconds + share + time.perf_counter() - started,
                    replaced=entry.replaced,
                )
                yield IngestOutcome(entry.transcript, result=result)
            offset += count

    def _sentence_vectors(self, documents: list[Document]) -> list | None:
        """The chunks' sentence embeddings, when the store keeps them (the pipeline then has a `sentences` step)."""
        try:
            sentences = self.pipeline.get_component("sentences")
        except ValueError:
            return None
        return sentences.run(documents=documents)["sentence_vectors"]


def remove_talk(workspace: Workspace, talk_id: str, store: StoreConfig | None = None) -> None:
    """Deletes a talk's chunks and transcript (chunks first, so no index entry outlives its transcript)."""
    with workspace.talk_lock(talk_id), open_store(store or StoreConfig(), workspace.root) as chunk_store:
        chunk_store.remove_talk(talk_id)
        workspace.remove_transcript(talk_id)
