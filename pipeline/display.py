"""Terminal rendering of answers, talks and transcripts with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.models import Answer, Passage, TalkInfo, Theme, Transcript, format_timestamp


def time_range(start: float | None, end: float | None) -> str:
    if start is None:
        return "no timestamps"
    return f"{format_timestamp(start)}–{format_timestamp(end)}" if end is not None else format_timestamp(start)


def highlighted(passage: Passage) -> str:
    text = escape(passage.text)
    for sentence in passage.highlights:
        text = text.replace(escape(sentence), f"[bold yellow]{escape(sentence)}[/bold yellow]", 1)
    return text


def print_answer(console: Console, answer: Answer) -> None:
    console.print(f"[bold]Q:[/bold] {escape(answer.question)}")
    if answer.answer:
        console.print(f"\n[bold]Answer[/bold] [dim]({answer.method})[/dim]\n{escape(answer.answer)}")
    if not answer.passages:
        console.print("[yellow]No passages found.[/yellow]")
    for number, passage in enumerate(answer.passages, 1):
        speakers = ", ".join(passage.speakers) or "unknown speaker"
        console.print(
            f"\n[bold cyan][{number}] {escape(passage.title)}[/bold cyan] · {escape(speakers)} · "
            f"{time_range(passage.start, passage.end)} · segments {passage.first_segment}–{passage.last_segment}"
            f" · score {passage.score:.4f}"
        )
        if passage.url:
            console.print(f"    [link={passage.url}]{passage.url}[/link]")
        console.print(highlighted(passage), soft_wrap=False)


def talks_table(talks: list[TalkInfo]) -> Table:
    """The talks with their metadata, length and index status."""
    table = Table(title="Talks", show_lines=False)
    for column in ("id", "title", "speakers", "event", "length", "segments", "index"):
        table.add_column(column)
    for info in talks:
        talk = info.talk
        table.add_row(
            escape(talk.id),
            escape(talk.title or ""),
            escape(", ".join(talk.speakers)),
            escape(talk.event or ""),
            format_timestamp(info.duration) if info.duration else "",
            str(info.segments),
            info.status,
        )
    return table


def print_transcript(console: Console, transcript: Transcript) -> None:
    talk = transcript.talk
    console.print(f"[bold]{escape(talk.display_title)}[/bold] [dim]({talk.id})[/dim]")
    details = [", ".join(talk.speakers), talk.event or "", str(talk.date or ""), talk.url_at(0) or talk.source or ""]
    console.print(" · ".join(escape(d) for d in details if d))
    for segment in transcript.segments:
        if not segment.text:
            continue
        speaker = f"[cyan]{escape(segment.speaker)}:[/cyan] " if segment.speaker else ""
        console.print(f"[dim]{format_timestamp(segment.start)} #{segment.index}[/dim] {speaker}{escape(segment.text)}")


def print_themes(console: Console, title: str, themes: list[Theme]) -> None:
    console.print(f"[bold]{escape(title)}[/bold]: {len(themes)} themes")
    for number, theme in enumerate(themes, 1):
        where = ", ".join(
            time_range(span.start, span.end) + (f" ({span.talk_id})" if theme.talk_ids else "") for span in theme.spans
        )
        console.print(f"\n[bold cyan]{number}. {escape(theme.title)}[/bold cyan] [dim]{escape(where)}[/dim]")
        if theme.keywords:
            console.print(f"   [dim]keywords:[/dim] {escape(', '.join(theme.keywords))}")
        for takeaway in theme.takeaways:
            console.print(f"   • {escape(takeaway.text)}")
        for quote in theme.quotes:
            who = f" — {quote.speaker}" if quote.speaker else ""
            link = f" {quote.url}" if quote.url else ""
            console.print(
                f"   [italic]“{escape(quote.text)}”[/italic]{escape(who)}, {format_timestamp(quote.start)}{link}"
            )
