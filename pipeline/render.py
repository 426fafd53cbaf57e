"""Markdown drafts of recaps and digests, from the Jinja templates in the repository's `prompts/` folder."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.models import Citation, EventDigest, Quote, Span, Talk, TalkRecap, format_timestamp, youtube_url

PROMPTS_DIR = Path(__file__).parents[1] / "prompts"
_BLANK_LINES = re.compile(r"\n{3,}")
_LIST_GAPS = re.compile(r"^(- .*)\n\n(?=- )", re.M)


def stamp(item: Quote | Citation | Span, talk: Talk | None = None) -> str:
    """`[hh:mm:ss](deep link)`, a plain `hh:mm:ss` without a link, or "" when the time is unknown."""
    if item.start is None:
        return ""
    url = getattr(item, "url", None) or (talk.url_at(item.start) if talk else None)
    return f"[{format_timestamp(item.start)}]({url})" if url else format_timestamp(item.start)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PROMPTS_DIR),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.filters["stamp"] = stamp
    return env


def byline(talk: Talk) -> str:
    """ "Maya Lindqvist · Open Source Founders Summit 2026 · 14 May 2026"."""
    parts = [", ".join(talk.speakers), talk.event or "", f"{talk.date.day} {talk.date:%B %Y}" if talk.date else ""]
    return " · ".join(part for part in parts if part)


def _tidy(markdown: str) -> str:
    """One blank line between blocks, none between the items of a list."""
    markdown = _BLANK_LINES.sub("\n\n", markdown)
    while _LIST_GAPS.search(markdown):
        markdown = _LIST_GAPS.sub(r"\1\n", markdown)
    return markdown.strip() + "\n"


def render_recap(recap: TalkRecap) -> str:
    """The recap as Markdown: headline, byline, overview, a section per theme (takeaways as bullets with
    timestamp links, quotes as blockquotes), and a pointer to the video."""
    talk = recap.talk
    text = (
        environment()
        .get_template("recap.md.jinja")
        .render(
            recap=recap,
            talk=talk,
            headline=talk.display_title,
            byline=byline(talk),
            video_url=youtube_url(talk.youtube_id, 0),
        )
    )
    return _tidy(text)


def render_digest(digest: EventDigest) -> str:
    """The event digest as Markdown: headline, overview, the talks, a section per theme naming the talks (and
    where in them) it comes up, takeaways and quotes, and links to the videos."""
    talks = {talk.id: talk for talk in digest.talks}
    for theme in digest.themes:  # a theme may cite a talk missing from the list: show its id
        for talk_id in theme.talk_ids:
            talks.setdefault(talk_id, Talk(id=talk_id))
    text = (
        environment()
        .get_template("digest.md.jinja")
        .render(digest=digest, talks=talks, headline=f"{digest.event}: the themes across its talks")
    )
    return _tidy(text)
