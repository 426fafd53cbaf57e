"""Ingesting transcripts into a workspace: the indexing pipeline run talk by talk (`Ingestor.ingest`), or over many
talks with their chunks embedded together (`Ingestor.ingest_many`); failures collected."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.models import Transcript
from pipeline.sources.base import SourceError
from pipeline.stores import StoreConfig, open_store
from pipeline.workspace import Workspace

if TYPE_CHECKING:  # the pipelines (Haystack, torch) load with an Ingestor, not for `remove_talk`
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
    """A talk of `ingest_many` that went through the steps before the batched ones."""

    transcript: Transcript  # as given
    inputs: dict[str, dict[str, Any]]  # what the steps still to run receive, by component and socket
    chunks: int
    replaced: bool
    seconds: float


class Ingestor:
    """Runs the indexing pipeline over transcripts; the embedding model loads once, in `warm_up`.

    `ingest` runs the whole pipeline for one talk. `ingest_many` walks the same pipeline over many talks: each
    talk is cleaned and chunked on its own, the chunks of several talks are embedded in one embedder call (so the
    model sees few full batches, sorted by token count, instead of each talk's short, ragged ones), and each talk is
    then written on its own, atomically and under its lock, exactly as `ingest` writes it.
    """

    #: `ingest_many` embeds once at least this many chunks are waiting (and at the end): about 8 full, length-sorted
    #: batches of 32 (a short talk's own batches cost up to a third more with two torch threads on busy cores; see
    #: README, "Ingestion and query speed"), few enough that results arrive steadily.
    group_chunks = 256

    #: Steps that take a talk's chunks (`documents`) and give one item a chunk on each output: `ingest_many` runs
    #: them once over the chunks of several talks.
    batched = ("embedder", "sentences")

    def __init__(
        self, workspace: Workspace, settings: IndexSettings | None = None, store: StoreConfig | None = None
    ) -> None:
        import networkx  # Haystack's graph library; loaded with it

        from pipeline.pipelines import IndexSettings, build_indexing_pipeline

        settings = settings or IndexSettings()
        self.workspace = workspace.create()
        self.settings = settings
        self.store = store or StoreConfig()
        self.pipeline = build_indexing_pipeline(str(workspace.root), settings, self.store)
        order = list(networkx.topological_sort(self.pipeline.graph))
        batched = [order.index(name) for name in order if name in self.batched]
        #: the pipeline's components in run order, cut into (before, batched, after) the `batched` steps
        self.steps = order[: batched[0]], order[batched[0] : batched[-1] + 1], order[batched[-1] + 1 :]

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
        embedded together; `transcripts` is read lazily, so it may load talks as it goes.

        The indexing pipeline is walked along its own declared connections (one graph, declared in
        `pipeline.pipelines`): the steps before the embedder run talk by talk, the `batched` steps once over the
        chunks of the whole group, the rest talk by talk again. Haystack's `Pipeline.run` takes one set of inputs,
        so it cannot gather several talks' chunks for one embedder call: that is the only reason for this walk."""
        limit = max(1, group_chunks or self.group_chunks)
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
                inputs = {"cleaner": {"transcript": transcript}}
                self._walk(self.steps[0], inputs)
            except Exception as error:  # one bad talk must not stop the others
                waiting.append(IngestOutcome(transcript, error=error))
            else:
                count = len(inputs[self.steps[1][0]]["documents"])
                prepared = _Prepared(transcript, inputs, count, replaced, time.perf_counter() - started)
                waiting.append(prepared)
                chunks += prepared.chunks
            if chunks >= limit or not chunks:  # nothing waits to be embedded: a failure is reported at once
                yield from self._finish(waiting)
                waiting, chunks = [], 0
        yield from self._finish(waiting)

    def _walk(self, names: list[str], inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Runs components `names` in order, each on the inputs its senders routed to it (`inputs`, by component
        and socket, filled as it goes along the declared connections); returns the last one's outputs."""
        outputs: dict[str, Any] = {}
        for name in names:
            outputs = self.pipeline.get_component(name).run(**inputs.pop(name, {}))
            for _, receiver, edge in self.pipeline.graph.out_edges(name, data=True):
                inputs.setdefault(receiver, {})[edge["to_socket"].name] = outputs[edge["from_socket"].name]
        return outputs

    def _run_batched(self, group: list[_Prepared]) -> None:
        """The `batched` steps once over the chunks of all talks in `group`; each output list is cut back into
        the talks' shares and routed on as if each talk had run alone. The talks' inputs change only if all of it
        succeeds."""
        routed = [{name: dict(sockets) for name, sockets in p.inputs.items()} for p in group]
        for name in self.steps[1]:
            counts = [len(inputs[name]["documents"]) for inputs in routed]
            merged = {
                socket: [item for inputs in routed for item in inputs[name][socket]] for socket in routed[0][name]
            }
            outputs = self.pipeline.get_component(name).run(**merged)
            offset = 0
            for inputs, count in zip(routed, counts, strict=True):
                del inputs[name]
                for _, receiver, edge in self.pipeline.graph.out_edges(name, data=True):
                    value = outputs[edge["from_socket"].name]
                    if len(value) != sum(counts):
                        raise ValueError(f"batched step {name!r} gave {len(value)} items for {sum(counts)} chunks")
                    inputs.setdefault(receiver, {})[edge["to_socket"].name] = value[offset : offset + count]
                offset += count
        for prepared, inputs in zip(group, routed, strict=True):
            prepared.inputs = inputs

    def _finish(self, group: list[_Prepared | IngestOutcome]) -> Iterator[IngestOutcome]:
        prepared = [p for p in group if isinstance(p, _Prepared)]
        started = time.perf_counter()
        batched = False
        if prepared:
            try:
                self._run_batched(prepared)
                batched = True
            except Exception:  # run talk by talk below, so the error stays with the talk that causes it
                pass
        seconds = time.perf_counter() - started
        total = sum(p.chunks for p in prepared) or 1
        for entry in group:
            if isinstance(entry, IngestOutcome):
                yield entry
                continue
            started = time.perf_counter()
            _, middle, after = self.steps
            try:
                output = self._walk(after if batched else middle + after, entry.inputs)
            except Exception as error:
                yield IngestOutcome(entry.transcript, error=error)
            else:
                result = IngestResult(
                    talk_id=output["talk_id"],
                    chunks=output["chunks"],
                    segments=len(entry.transcript.segments),
                    seconds=entry.seconds
                    + (seconds * entry.chunks / total if batched else 0.0)
                    + time.perf_counter()
                    - started,
                    replaced=entry.replaced,
                )
                yield IngestOutcome(entry.transcript, result=result)


def remove_talk(workspace: Workspace, talk_id: str, store: StoreConfig | None = None) -> None:
    """Deletes a talk's chunks and transcript (chunks first, so no index entry outlives its transcript)."""
    with workspace.talk_lock(talk_id), open_store(store or StoreConfig(), workspace.root) as chunk_store:
        chunk_store.remove_talk(talk_id)
        workspace.remove_transcript(talk_id)
