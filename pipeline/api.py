"""The talks library: one object, `Library`, behind the command line, the HTTP server, MCP and batch runs.

    from pipeline.api import Library

    with Library.open("~/talks-workspace") as library:
        report = library.ingest(["data/"])                      # files, folders, YouTube URLs or ids
        answer = library.ask("Why did they keep the Apache license?", top_k=3)
        recap = library.recap(report.talks[0].talk_id)          # a TalkRecap (themes, takeaways, quotes)
        print(library.render(recap, "md"))                      # the Markdown draft

A `Library` holds the workspace, the chunk store's settings and the generator's settings, and keeps its warm parts
(the query pipeline, the ingestor, the recappers, a loaded LLM) for as long as it lives, so a long-running process
(`talks serve`) loads each model once. It is safe to share between threads: each warm part is used under its own
lock, so concurrent questions are answered one at a time by the one warm query pipeline (they are short; the model
and the index are not copied per thread), and ingesting does not wait for questions.

Every call returns a pydantic model (pipeline/models.py) or a list of them; every failure the user can fix is a
`TalksError` with a one-line message and a `kind` (`invalid`, `not_found`, `unavailable`, `failed`) a server maps to
a status code. Long calls take `progress`, a function called with `Step`s (what is being done, how far along, and
each finished item).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pipeline.models import (
    Answer,
    AskRequest,
    EventDigest,
    IngestedTalk,
    IngestFailure,
    IngestOptions,
    IngestReport,
    MigratedTalk,
    MigrationReport,
    RecapStyle,
    RemovedTalk,
    TalkInfo,
    TalkRecap,
    Theme,
    Transcript,
)
from pipeline.workspace import InvalidIdError, Workspace, WorkspaceError, check_talk_id, resolve_workspace

if TYPE_CHECKING:
    from pipeline.batch import BatchOptions, BatchReport
    from pipeline.ingest import Ingestor
    from pipeline.llm.base import Generator
    from pipeline.llm.settings import GeneratorConfig
    from pipeline.query import Searcher
    from pipeline.recap import Recapper
    from pipeline.stores import StoreConfig

__all__ = [
    "FORMATS",
    "PIPELINES",
    "ErrorKind",
    "Library",
    "Step",
    "TalksError",
    "read_questions",
]

ErrorKind = Literal["invalid", "not_found", "unavailable", "failed"]
FORMATS = ("md", "html", "json", "chapters", "vtt-chapters")  # pipeline.render.FORMATS, without importing Jinja
PIPELINES = ("indexing", "query", "recap")


class TalksError(Exception):
    """A call that cannot be done as asked; `str(error)` is one line naming the talk, file or setting.

    `kind`: `invalid` (bad input or settings), `not_found` (no such talk or event), `unavailable` (a store, model or
    endpoint cannot be reached or loaded), `failed` (the work itself failed)."""

    def __init__(self, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


@dataclass(frozen=True)
class Step:
    """Where a long call stands: `stage` (ingest, reindex, ask, migrate, recap, llm), `label` (what is being done
    now), `done` of `total` (None when unknown). `result` is set when an item has just finished: the
    `IngestedTalk` or `IngestFailure`, the `Answer`, the `MigratedTalk`, the `TalkRecap` of a digest's talk."""

    stage: str
    label: str
    done: int = 0
    total: int | None = None
    result: Any = None


ProgressCallback = Callable[[Step], None]


def _ignore(_: Step) -> None:
    """The default progress callback."""


class _NeverRaised(Exception):
    """Stands for an error class whose module is not loaded: nothing can have raised it."""


def _loaded_error(module: str, name: str) -> type[Exception]:
    """`module.name` if that module is imported (only then can its error have been raised), else `_NeverRaised`."""
    import sys

    loaded = sys.modules.get(module)
    return getattr(loaded, name) if loaded is not None else _NeverRaised


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The package's own errors, raised as `TalksError` of the right kind (the original kept as the cause). The
    errors of heavy modules (batch, query, recap: they import Haystack and torch; sources: requests) are looked up
    only when something was raised, so `talks list/show/remove` never import them."""
    from pipeline.config import ConfigError
    from pipeline.llm.settings import GeneratorError
    from pipeline.stores import StoreError

    try:
        yield
    except TalksError:
        raise
    except InvalidIdError as error:  # a hostile or mistyped id: refused before any file is touched
        raise TalksError(str(error), "invalid") from error
    except WorkspaceError as error:
        kind: ErrorKind = "not_found" if str(error).startswith("no talk") else "failed"
        raise TalksError(str(error), kind) from error
    except (StoreError, GeneratorError, _loaded_error("pipeline.onnx_encoder", "OnnxEncoderError")) as error:
        raise TalksError(str(error), "unavailable") from error
    except _loaded_error("pipeline.query", "QueryError") as error:
        kind = "not_found" if str(error).startswith("no ") else "invalid"
        raise TalksError(str(error), kind) from error
    except _loaded_error("pipeline.recap", "RecapError") as error:
        kind = "not_found" if str(error).startswith("no talks of event") else "invalid"
        raise TalksError(str(error), kind) from error
    except (
        _loaded_error("pipeline.sources.base", "SourceError"),  # `pipeline.sources` imports requests, YouTube's client
        _loaded_error("pipeline.batch.manifest", "BatchError"),
        ConfigError,
    ) as error:
        raise TalksError(str(error), "invalid") from error


def read_questions(path: Path) -> list[AskRequest | Answer]:
    """The questions of a JSON Lines file, one `{"question", "talk", "event", "speaker", "top_k", "answer_words"}`
    object a line (other keys are ignored); a line that is not one becomes an `Answer` whose `error` names the file
    and line, so `Library.ask_many` reports it in its place and goes on."""
    import json

    from pydantic import ValidationError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TalksError(f"{path}: cannot read questions ({error})") from None
    requests: list[AskRequest | Answer] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not str(item.get("question", "")).strip():
                raise ValueError('needs a non-empty "question"')
            requests.append(AskRequest.model_validate({k: v for k, v in item.items() if k in AskRequest.model_fields}))
        except (json.JSONDecodeError, ValueError, RecursionError) as error:  # RecursionError: absurdly deep JSON
            reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
            problem = f"{path}:{number}: not a question object ({reason})"
            requests.append(Answer(question=line.strip()[:80], error=problem))
    if not requests:
        raise TalksError(f"{path}: no questions in file")
    return requests


class Library:
    """A workspace of talks with its chunk store and generator: ingest, list, ask, theme, recap, batch, migrate.

    Build one with `Library.open` (settings resolved like the CLI's: arguments > `TALKS_*` environment > `talks.toml`
    in the workspace > `~/.config/talks/config.toml`), or directly with explicit `StoreConfig`/`GeneratorConfig`.
    Close it (or use it as a context manager) to free the store connection and the models.
    """

    def __init__(
        self,
        workspace: Path | str | None = None,
        *,
        store: StoreConfig | None = None,
        generator: GeneratorConfig | None = None,
    ) -> None:
        """:param workspace: the workspace folder (default: `$TALKS_WORKSPACE`, else `~/.local/share/talks`).
        :param store: the chunk store (default: the embedded default store in the workspace).
        :param generator: who writes answers and recaps (default: extractive, no LLM)."""
        from pipeline.llm.settings import GeneratorConfig
        from pipeline.stores import StoreConfig

        self.workspace = Workspace(resolve_workspace(Path(workspace) if workspace is not None else None))
        self.store_config: StoreConfig = store or StoreConfig()
        self.generator_config: GeneratorConfig = generator or GeneratorConfig()
        self._searcher: Searcher | None = None
        self._searcher_state: tuple[int, int] | None = None
        self._ingestors: dict[str, Ingestor] = {}  # by punctuation restore mode
        self._recapper: Recapper | None = None
        self._generators: dict[str, Generator] = {}
        self._search_lock = threading.Lock()
        self._ingest_lock = threading.Lock()
        self._recap_lock = threading.Lock()
        self._llm_lock = threading.RLock()

    @classmethod
    def open(
        cls,
        workspace: Path | str | None = None,
        *,
        store: str | None = None,
        store_url: str | None = None,
        generator: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
    ) -> Library:
        """A library with its store and generator settings resolved like the CLI's flags: the arguments, then the
        environment (`TALKS_STORE`, `TALKS_GENERATOR`, …), then `[store]`/`[generator]` in `talks.toml` in the
        workspace, then `~/.config/talks/config.toml`. Cheap: nothing is loaded or connected yet."""
        from pipeline.llm.settings import GeneratorConfig
        from pipeline.stores import StoreConfig

        root = resolve_workspace(Path(workspace) if workspace is not None else None)
        with _errors():
            store_config = StoreConfig.resolve(kind=store, url=store_url, workspace=root)
            generator_config = GeneratorConfig.resolve(
                backend=generator, model=model, base_url=base_url, workspace=root
            )
        return cls(root, store=store_config, generator=generator_config)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the store connection and frees the LLM; the library may be used again afterwards (it reopens)."""
        with self._search_lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None
        with self._llm_lock:
            for generator in self._generators.values():
                generator.close()
            self._generators.clear()

    def warm_up(self) -> None:
        """Loads the query pipeline (the embedding model and the index) now rather than on the first question, for
        long-running processes (`talks serve`, `talks mcp`); a workspace without talks has nothing to load yet."""
        with contextlib.suppress(TalksError):
            self._warm_searcher()

    def describe_store(self) -> str:
        """The chunk store in words, e.g. `memory store /…/index` (no credentials)."""
        from pipeline.stores import open_store

        with _errors(), open_store(self.store_config, self.workspace.root) as store:
            return store.describe()

    # -- talks --------------------------------------------------------------------------------------------------

    def talks(self) -> list[TalkInfo]:
        """Every talk of the workspace, with whether its chunks in the store match its transcript. A talk whose
        transcript or index entry is damaged is listed with status `damaged` and the `problem` (the others still
        list)."""
        from pipeline.models import Talk, is_valid_talk_id
        from pipeline.stores import index_status, open_store

        with _errors():
            transcripts, damaged = self.workspace.scan()
            infos = [
                TalkInfo(talk=Talk(id=d.talk_id), segments=0, words=0, status="damaged", problem=str(d))
                for d in damaged
                if is_valid_talk_id(d.talk_id)
            ]
            if transcripts:
                with open_store(self.store_config, self.workspace.root) as store:
                    for t in transcripts:
                        status = index_status(store, t)
                        infos.append(
                            TalkInfo(
                                talk=t.talk,
                                segments=len(t.segments),
                                words=t.word_count,
                                duration=t.duration,
                                status=status,  # type: ignore[arg-type]
                                problem=store.problem(t.talk.id) if status == "damaged" else None,
                            )
                        )
            return sorted(infos, key=lambda info: info.talk.id)

    def talk_ids(self) -> list[str]:
        """The ids of the workspace's talks, sorted."""
        return self.workspace.talk_ids()

    def transcript(self, talk_id: str) -> Transcript:
        """A talk's cleaned transcript (`TalksError` not_found when there is no such talk)."""
        with _errors():
            return self.workspace.load_transcript(talk_id)

    def remove(self, talk_id: str) -> RemovedTalk:
        """Removes a talk: its chunks from the store, then its transcript (so no chunk outlives its transcript)."""
        from pipeline.ingest import remove_talk
        from pipeline.stores import open_store

        with _errors():
            check_talk_id(talk_id)  # before any store or file is opened
            self.workspace.check_writable()
            with open_store(self.store_config, self.workspace.root) as store:
                where = store.describe()
                known = self.workspace.has_talk(talk_id) or store.header(talk_id) is not None
            if not known:
                raise TalksError(f"no talk '{talk_id}' in workspace {self.workspace.root}", "not_found")
            with self._ingest_lock:
                remove_talk(self.workspace, talk_id, self.store_config)
        return RemovedTalk(talk_id=talk_id, workspace=str(self.workspace.root), store=where)

    # -- ingesting ----------------------------------------------------------------------------------------------

    def ingest(
        self,
        sources: Sequence[str | Path | Transcript],
        options: IngestOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Reads, cleans, chunks, embeds and stores each source: transcript files, folders (searched recursively),
        YouTube URLs or video ids, or `Transcript`s. Re-ingesting a talk replaces it. A source that fails is in the
        report's `failures` and never stops the others."""
        from pipeline.sources import expand_sources, load_source
        from pipeline.sources.base import SourceError
        from pipeline.sources.youtube import YouTubeFetcher

        options = options or IngestOptions()
        notify = progress or _ignore
        with _errors():
            self.workspace.create()
            fetcher = YouTubeFetcher(
                languages=[code.strip() for code in options.languages if code.strip()] or ["en"],
                translate_to=options.translate,
                proxy=options.proxy,
                cache_dir=self.workspace.cache_dir / "youtube",
                refresh=options.refresh,
                # YouTube's retries, each on the progress line (report and items exist by the time one happens)
                on_retry=lambda line: notify(Step("ingest", line, self._done(report), len(items))),
            )
        items: list[str | Transcript] = []
        unreadable: list[SourceError] = []  # playlists that cannot be read
        for source in sources:
            items.extend(
                [source] if isinstance(source, Transcript) else expand_sources([str(source)], fetcher, unreadable)
            )
        if options.talk_id and len(items) > 1:
            raise TalksError(f"a talk id names one talk, but {len(items)} sources were given")
        report = self._report()
        for error in unreadable:
            self._fail(report, IngestFailure(source=error.where, problem=error.problem), notify, len(items))
        overrides = options.overrides()

        def loaded() -> Iterator[Transcript]:
            """The transcripts that load; a source that does not is reported and skipped."""
            for item in items:
                if isinstance(item, Transcript):
                    yield item
                    continue
                notify(Step("ingest", f"reading {Path(item).name}", self._done(report), len(items)))
                try:
                    yield load_source(item, overrides, fetcher)
                except SourceError as error:
                    self._fail(report, IngestFailure(source=error.where, problem=error.problem), notify, len(items))
                except Exception as error:  # one bad talk must not stop the others
                    problem = f"unexpected error: {type(error).__name__}: {error}"
                    self._fail(report, IngestFailure(source=item, problem=problem), notify, len(items))

        self._ingest_into(report, loaded(), "ingest", len(items), notify, options.restore_punctuation)
        return report

    def reindex(
        self,
        talk_ids: Sequence[str] | None = None,
        *,
        everything: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Rebuilds the store's chunks from the stored transcripts (the source of truth): the talks named, else
        every talk (`everything`), else the talks whose chunks do not match their transcript."""
        from pipeline.stores import index_status, open_store

        damaged: list = []
        with _errors():
            self.workspace.check_writable()  # a read-only workspace is one line before any work
            if talk_ids:
                chosen = [self.workspace.load_transcript(t) for t in talk_ids]
            else:
                chosen, damaged = self.workspace.scan()  # a damaged transcript is reported, the rest rebuilt
            self.workspace.clean_leftovers()
            if not talk_ids and not everything:
                with open_store(self.store_config, self.workspace.root) as store:
                    chosen = [t for t in chosen if index_status(store, t) != "indexed"]
        report = self._report()
        notify, total = progress or _ignore, len(chosen) + len(damaged)
        for talk in damaged:  # named, the others rebuilt
            self._fail(report, IngestFailure(source=talk.talk_id, problem=str(talk)), notify, total)
        if chosen:
            self._ingest_into(report, iter(chosen), "reindex", total, notify)
        return report

    def _report(self) -> IngestReport:
        return IngestReport(workspace=str(self.workspace.root), store=self.describe_store())

    @staticmethod
    def _done(report: IngestReport) -> int:
        return len(report.talks) + len(report.failures)

    def _fail(self, report: IngestReport, failure: IngestFailure, notify: ProgressCallback, total: int) -> None:
        report.failures.append(failure)
        notify(Step("ingest", failure.source, self._done(report), total, result=failure))

    def _ingest_into(
        self,
        report: IngestReport,
        transcripts: Iterator[Transcript],
        stage: str,
        total: int,
        notify: ProgressCallback,
        restore: str = "auto",
    ) -> None:
        from pipeline.sources.base import SourceError
        from pipeline.stores import StoreError

        with self._ingest_lock:
            notify(Step(stage, "loading the embedding model", 0, total))
            ingestor = self._warm_ingestor(restore)
            for outcome in ingestor.ingest_many(transcripts):
                talk = outcome.transcript.talk
                if outcome.error is not None:
                    error = outcome.error
                    known = isinstance(error, StoreError | WorkspaceError | SourceError)
                    problem = str(error) if known else f"unexpected error: {type(error).__name__}: {error}"
                    item: IngestedTalk | IngestFailure = IngestFailure(
                        source=talk.id if stage == "reindex" else talk.source or talk.id, problem=problem
                    )
                    report.failures.append(item)
                else:
                    result = outcome.result
                    item = IngestedTalk(
                        talk_id=result.talk_id,
                        chunks=result.chunks,
                        segments=result.segments,
                        seconds=round(result.seconds, 3),
                        replaced=result.replaced,
                    )
                    report.talks.append(item)
                notify(Step(stage, talk.id, self._done(report), total, result=item))

    def _warm_ingestor(self, restore: str = "auto") -> Ingestor:
        from pipeline.ingest import Ingestor
        from pipeline.pipelines import IndexSettings

        if restore not in self._ingestors:
            with _errors():
                ingestor = Ingestor(self.workspace, IndexSettings(restore_punctuation=restore), store=self.store_config)
                try:
                    ingestor.warm_up()
                except OSError as error:  # a model file missing or unreadable: the install is broken, say which
                    raise TalksError(f"cannot load the indexing models: {error}", "unavailable") from error
            self._ingestors[restore] = ingestor
        return self._ingestors[restore]

    # -- questions ----------------------------------------------------------------------------------------------

    def ask(
        self,
        question: str | AskRequest,
        *,
        top_k: int | None = None,
        talk: str | None = None,
        event: str | None = None,
        speaker: str | None = None,
        answer_words: int | None = None,
        generator: GeneratorConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> Answer:
        """The answer to one question across the talks (or those of `talk`, `event`, `speaker`): the `top_k` best
        passages with timestamps, and an answer citing them as [n], written by the LLM when one is configured
        (`generator` overrides the library's for this call), else extractive (`answer_words` long, 0 for none).
        A question given as an `AskRequest` keeps its own settings; the keyword arguments fill in the rest.
        `progress` gets the LLM call's `Step("llm", ...)`s as it streams (none for an extractive answer)."""
        request = self._request(question, top_k, talk, event, speaker, answer_words)
        searcher = self._warm_searcher()
        with _errors():
            with self._search_lock:
                answer = searcher.ask(
                    request.question,
                    top_k=request.top_k,
                    talk=request.talk,
                    event=request.event,
                    speaker=request.speaker,
                    answer_words=request.answer_words,
                )
            llm = self._llm(generator)
            if llm is None:
                return answer
            from pipeline.llm.answer import LLMAnswerWriter

            with self._llm_lock, self._llm_progress(llm, progress) as on_plan:
                on_plan(0, 1)
                return LLMAnswerWriter(llm).write(answer)

    def ask_many(
        self,
        questions: Iterable[str | AskRequest | Answer],
        *,
        top_k: int | None = None,
        talk: str | None = None,
        event: str | None = None,
        speaker: str | None = None,
        answer_words: int | None = None,
        generator: GeneratorConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[Answer]:
        """The answers to several questions, in order. A question that cannot be asked (an unknown talk, an empty
        question) gets an `Answer` with its `error` set; the others go on. The keyword arguments are defaults for
        requests that leave them unset. An `Answer` among the questions (e.g. a line of a questions file that could not
        be read, from `read_questions`) is passed through as it is."""
        notify = progress or _ignore
        pending = list(questions)
        answers: list[Answer] = []
        for number, item in enumerate(pending, 1):
            text = item if isinstance(item, str) else item.question
            notify(Step("ask", text[:60], number - 1, len(pending)))
            if isinstance(item, Answer):
                answers.append(item)
                notify(Step("ask", text[:60], number, len(pending), result=item))
                continue
            try:
                answer = self.ask(
                    item,
                    top_k=top_k,
                    talk=talk,
                    event=event,
                    speaker=speaker,
                    answer_words=answer_words,
                    generator=generator,
                )
            except TalksError as error:
                if error.kind == "unavailable":
                    raise
                answer = Answer(question=text, error=str(error))
            answers.append(answer)
            notify(Step("ask", text[:60], number, len(pending), result=answer))
        return answers

    @staticmethod
    def _request(question: str | AskRequest, *defaults: Any) -> AskRequest:
        names = ("top_k", "talk", "event", "speaker", "answer_words")
        request = question if isinstance(question, AskRequest) else AskRequest(question=question)
        filled = {name: value for name, value in zip(names, defaults, strict=True) if value is not None}
        update = {name: value for name, value in filled.items() if getattr(request, name) is None}
        request = request.model_copy(update=update)
        if not request.question.strip():
            raise TalksError("the question is empty")
        return request

    def _warm_searcher(self) -> Searcher:
        """The one warm query pipeline, rebuilt when the workspace's talks changed (here or in another process):
        the store's facets and the embedded store's loaded chunks are read when it is built."""
        from pipeline.query import Searcher

        state = self._workspace_state()
        with self._search_lock:
            if self._searcher is not None and self._searcher_state != state:
                self._searcher.close()
                self._searcher = None
            if self._searcher is None:
                with _errors():
                    self.workspace.check_root()
                    searcher = Searcher(self.workspace, store=self.store_config)
                    if not searcher.talk_ids:
                        searcher.close()
                        where = searcher.store.describe()
                        raise TalksError(f"no talks in {where}: add some with `talks ingest PATH`", "not_found")
                    searcher.warm_up()
                self._searcher, self._searcher_state = searcher, state
            return self._searcher

    def _workspace_state(self) -> tuple[int, int]:
        """Changes whenever a talk is ingested, replaced or removed: every such change renames a file in the
        transcripts folder (atomically), which updates the folder's modification time."""
        folder = self.workspace.transcripts_dir
        try:
            stat = folder.stat()
        except OSError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_ino)

    # -- themes, recaps and digests -----------------------------------------------------------------------------

    def themes(
        self,
        talk: str | None = None,
        *,
        event: str | None = None,
        count: int | None = None,
        generator: GeneratorConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[Theme]:
        """The main themes of a talk, or of an event's talks, with takeaways, verified quotes and where they are."""
        if (talk is None) == (event is None):
            raise TalksError("give either a talk id or an event name")
        if talk is not None:
            return self.recap(talk, count=count, generator=generator, progress=progress).themes
        return self.digest(event or "", count=count, generator=generator, progress=progress).themes

    def recap(
        self,
        talk: str,
        *,
        count: int | None = None,
        generator: GeneratorConfig | None = None,
        progress: ProgressCallback | None = None,
        style: RecapStyle = "bullets",
    ) -> TalkRecap:
        """A talk's `TalkRecap`: overview, `count` themes (default: chosen from the talk) with takeaways and verified
        quotes, key quotes; by the LLM when one is configured, else extractive. `style="prose"` also writes the
        post (`TalkRecap.prose`: intro, the questions the talk answers, paragraphs per theme), which `render`
        then draws instead of the bullets."""
        self._check_count(count)
        if style not in get_args(RecapStyle):
            raise TalksError(f"unknown recap style '{style}' (choose one of: {', '.join(get_args(RecapStyle))})")
        with _errors():
            transcript = self.workspace.load_transcript(talk)
            llm = self._llm(generator)
            if llm is None:
                from pipeline.prose import extractive_prose

                with self._recap_lock:
                    recap = self._warm_recapper().recap_transcript(transcript, count)
                if style == "prose":
                    recap.prose = extractive_prose(recap, transcript)
                return recap
            with self._llm_lock, self._llm_progress(llm, progress) as on_plan:
                return self._llm_recapper(llm, on_plan).recap_transcript(transcript, count, style)

    def digest(
        self,
        event: str,
        *,
        count: int | None = None,
        generator: GeneratorConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> EventDigest:
        """An event's `EventDigest` (the event matched case-insensitively): the themes across its talks. With an
        LLM each talk is recapped first (`progress` gets each `TalkRecap`), then the event's themes are grouped from
        them. Talks without text are left out, and named in `grounding.fallbacks`."""
        from pipeline.recap import Recapper

        self._check_count(count)
        with _errors():
            transcripts, spoken = Recapper(self.workspace).event_transcripts(event)
            llm = self._llm(generator)
            if llm is None:
                with self._recap_lock:
                    return self._warm_recapper().event_digest(event, count)
            from pipeline.llm.digest import LLMEventDigester

            notify = progress or _ignore
            name = spoken[0].talk.event or event
            with self._llm_lock, self._llm_progress(llm, progress) as on_plan:
                done: list[TalkRecap] = []

                def on_talk(recap: TalkRecap) -> None:
                    done.append(recap)
                    notify(Step("digest", recap.talk.id, len(done), len(spoken) + 1, result=recap))

                recapper = self._llm_recapper(llm, on_plan)
                digest = LLMEventDigester(recapper).digest(name, spoken, count, on_talk=on_talk)
        skipped = [t.talk.id for t in transcripts if t not in spoken]
        if skipped:
            digest.grounding.fallbacks.append(f"left out talks without text: {', '.join(skipped)}")
            digest.talks = [t.talk for t in transcripts]
        return digest

    @staticmethod
    def render(result: TalkRecap | EventDigest, output_format: str = "md") -> str:
        """A recap or digest as text in one of `FORMATS` (see `pipeline.render.render`): `md` (the Markdown draft with
        YAML front matter), `html`, `json` (the model, dumped), and for a talk `chapters` and `vtt-chapters`."""
        from pipeline.render import FormatError, render

        try:
            return render(result, output_format)
        except FormatError as error:
            raise TalksError(str(error)) from None

    @staticmethod
    def _check_count(count: int | None) -> None:
        if count is not None and not 1 <= count <= 20:
            raise TalksError(f"the number of themes must be between 1 and 20 (got {count})")

    def _warm_recapper(self) -> Recapper:
        from pipeline.recap import Recapper

        if self._recapper is None:
            recapper = Recapper(self.workspace)
            recapper.warm_up()
            self._recapper = recapper
        return self._recapper

    def _llm_recapper(self, llm: Generator, on_plan: Callable[[int, int], None] | None = None) -> Any:
        from pipeline.llm.recap import LLMRecapper

        with self._recap_lock:
            extractive = self._warm_recapper()  # for the parts whose reply stays invalid
        return LLMRecapper(llm, self.workspace, extractive=extractive, on_plan=on_plan)

    # -- the LLM ------------------------------------------------------------------------------------------------

    def _llm(self, config: GeneratorConfig | None) -> Generator | None:
        """The warm LLM generator `config` (default: the library's) names, or None for extractive."""
        from pipeline.llm.factory import create_generator

        config = config or self.generator_config
        if config.backend == "extractive":
            return None
        key = config.model_dump_json()
        with self._llm_lock:
            generator = self._generators.get(key)
            if generator is None:
                with _errors():
                    generator = create_generator(config)
                    generator.warm_up()
                self._generators[key] = generator
            return generator

    @contextlib.contextmanager
    def _llm_progress(self, llm: Generator, progress: ProgressCallback | None) -> Iterator[Callable[[int, int], None]]:
        """The generator's progress goes to `progress` as `Step("llm", label, calls done, calls planned)` while this
        block runs (the caller holds the LLM lock, so no other call's progress mixes in): one step as each call
        starts and streams, and one with the finished call's `ProgressEvent` (tokens read and written, seconds) as
        `result`. Yields the `on_plan` hook for `LLMRecapper`, which sets the number of calls planned."""
        notify = progress or _ignore
        calls = 0
        planned: int | None = None

        def forward(event: Any) -> None:
            nonlocal calls, planned
            calls += event.done
            if planned is not None:  # a repair attempt is a call the plan did not count: the bar's total grows
                planned = max(planned, calls)
            notify(Step("llm", event.label, calls, planned, result=event if event.done else None))

        def on_plan(made: int, total: int) -> None:
            nonlocal planned
            planned = calls - made + total  # calls before this recap (an event's earlier talks) + this recap's

        previous = llm.progress
        llm.progress = forward
        try:
            yield on_plan
        finally:
            llm.progress = previous

    # -- batch, migrate, pipelines ------------------------------------------------------------------------------

    def batch(
        self,
        manifest: Path | str,
        options: BatchOptions | None = None,
        *,
        console: Any = None,
        **settings: Any,
    ) -> BatchReport:
        """Processes a conference from a manifest (CSV, JSON Lines or YAML): each talk ingested into this library's
        workspace and store and recapped (`<id>.json`, `<id>.md`), with a state file so that running it again
        resumes. `options` is a `BatchOptions` (or give its fields as keywords: jobs, retry_failed, out_dir,
        languages, translate, proxy, refresh, engine, address, restore_punctuation); the store is the library's.
        Progress goes to `console` (a rich Console; default stderr). Talk failures are in the report."""
        from pydantic import ValidationError

        from pipeline.batch import BatchOptions, run_batch
        from pipeline.config import validation_problems

        try:
            options = (options or BatchOptions(**settings)).model_copy(update={"store": self.store_config})
        except ValidationError as error:
            raise TalksError(validation_problems(error)) from None
        with _errors(), self._ingest_lock:
            return run_batch(Path(manifest), self.workspace, options, console=console)

    def migrate(
        self,
        target: StoreConfig,
        talk_ids: Sequence[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> MigrationReport:
        """Copies talks (default: all) from this library's store into `target`, without re-embedding, and reads them
        back to verify: `report.verified` when the target holds exactly the source's chunks. A target that keeps
        sentence embeddings (SQLite) gets them from the source or has them computed here (the packaged model)."""
        from pipeline.migrate import migrate
        from pipeline.stores import open_store

        if target.model_dump() == self.store_config.model_dump():
            raise TalksError("the source and the target are the same store")
        if target.kind == "pgvector" and not target.url:
            raise TalksError("a pgvector target needs a PostgreSQL connection string")
        notify = progress or _ignore
        with _errors():
            self.workspace.check_root()
            for talk_id in talk_ids or ():
                check_talk_id(talk_id)
        with _errors(), open_store(self.store_config, self.workspace.root) as source:
            total = len(talk_ids) if talk_ids else len(source.talk_ids())
            done = 0

            def on_talk(result: MigratedTalk) -> None:
                nonlocal done
                done += 1
                notify(Step("migrate", result.talk_id, done, total, result=result))

            def on_start(talk_id: str) -> None:  # embedding a talk's sentences for the SQLite store takes seconds
                notify(Step("migrate", talk_id, done, total))

            notify(Step("migrate", "opening the target", 0, total))
            with open_store(target, self.workspace.root) as destination:
                chosen = list(talk_ids) if talk_ids else None
                return migrate(source, destination, chosen, on_talk=on_talk, on_start=on_start)

    def pipeline_yaml(self, name: str = "query") -> str:
        """The Haystack Pipeline `name` (indexing, query or recap) as YAML that `Pipeline.loads` loads and runs on
        another machine with this package installed: the embedding model named by its package, the store by its
        location (credentials left out: a pgvector connection string is read from `PG_CONN_STR` there), and
        `metadata` naming the inputs and outputs (`pipeline.pipelines.pipeline_run_inputs` builds the run inputs).
        Load it with `Pipeline.loads(text, allowed_modules=["pipeline.*"])` (Haystack trusts its own modules only)."""
        from pipeline.pipelines import build_indexing_pipeline, build_query_pipeline
        from pipeline.stores import open_store

        if name not in PIPELINES:
            raise TalksError(f"unknown pipeline '{name}' (choose one of: {', '.join(PIPELINES)})")
        with _errors():
            if name == "indexing":
                return build_indexing_pipeline(str(self.workspace.root), store=self.store_config).dumps()
            if name == "recap":
                from pipeline.recap import build_recap_pipeline

                return build_recap_pipeline().dumps()
            if self.store_config.kind == "memory":
                raise TalksError(
                    "the memory store's retrievers hold its chunks in this process only, so a dump would load empty "
                    "elsewhere: move them into the SQLite store first (`talks migrate --to sqlite`)"
                )
            with open_store(self.store_config, self.workspace.root) as store:
                return build_query_pipeline(store).dumps()
