"""Drafts of recaps and digests from the Jinja templates in the `prompts/` folder (`PROMPTS_DIR`), and the other
export formats: `render(result, format)` for `md` (Markdown with YAML front matter), `html` (an `<article>` to paste
into a CMS), `json`, and, for a talk, `chapters` (a YouTube description chapter list) and `vtt-chapters` (WebVTT).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.chapters import recap_chapters, webvtt_chapters, youtube_chapter_list
from pipeline.models import Citation, EventDigest, Quote, Span, Talk, TalkRecap, format_timestamp, youtube_url
from pipeline.resources import PROMPTS_DIR

__all__ = [
    "FORMATS",
    "PROMPTS_DIR",
    "FormatError",
    "byline",
    "environment",
    "front_matter",
    "render",
    "render_digest",
    "render_digest_html",
    "render_recap",
    "render_recap_html",
    "stamp",
]

FORMATS = ("md", "html", "json", "chapters", "vtt-chapters")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG_CHARACTERS = re.compile(r"[^\w-]+")  # spaces and punctuation become `-`
MAX_TAGS = 12
_LIST_GAPS = re.compile(r"^(- .*)\n\n(?=- )", re.M)


def stamp(item: Quote | Citation | Span, talk: Talk | None = None) -> str:
    """`[hh:mm:ss](deep link)`, a plain `hh:mm:ss` without a link, or "" when the time is unknown."""
    if item.start is None:
        return ""
    url = getattr(item, "url", None) or (talk.url_at(item.start) if talk else None)
    return f"[{format_timestamp(item.start)}]({url})" if url else format_timestamp(item.start)


def deep_link(item: Quote | Citation | Span, talk: Talk | None = None) -> str | None:
    """The video link at the item's time, or None."""
    if item.start is None:
        return None
    return getattr(item, "url", None) or (talk.url_at(item.start) if talk else None)


@cache
def environment() -> Environment:
    """The templates: Markdown ones as written, `*.html.jinja` ones autoescaped."""
    env = Environment(
        loader=FileSystemLoader(PROMPTS_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.jinja",), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.filters["stamp"] = stamp
    env.filters["deep_link"] = deep_link
    env.filters["timestamp"] = format_timestamp
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


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def tags(themes: list) -> list[str]:
    """Tags from the themes' keywords, as Obsidian, Hugo and Jekyll take them: lower case, words joined by `-`,
    no other punctuation, not only digits; each once, at most `MAX_TAGS`."""
    found: list[str] = []
    for theme in themes:
        for keyword in theme.keywords:
            tag = re.sub(r"-{2,}", "-", _TAG_CHARACTERS.sub("-", _one_line(keyword).lower())).strip("-_")
            if tag and not tag.replace("-", "").isdigit() and tag not in found:
                found.append(tag)
    return found[:MAX_TAGS]


def front_matter(fields: dict[str, Any]) -> str:
    """A YAML front matter block (`---` ... `---`) of the non-empty fields, written by PyYAML's safe dumper, so any
    title is quoted and escaped as YAML needs; text is kept on one line, so nothing in it can end the block."""
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            value = _one_line(value)
        elif isinstance(value, list):
            value = [_one_line(item) for item in value if _one_line(item)]
        if value not in (None, "", []):
            values[key] = value
    body = yaml.safe_dump(values, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1_000_000)
    return f"---\n{body}---\n\n"


def recap_front_matter(recap: TalkRecap) -> dict[str, Any]:
    talk = recap.talk
    return {
        "title": talk.display_title,
        "speakers": list(talk.speakers),
        "event": talk.event,
        "date": talk.date,
        "source": f"https://www.youtube.com/watch?v={talk.youtube_id}" if talk.youtube_id else talk.source,
        "tags": tags(recap.themes),
    }


def _recap_context(recap: TalkRecap) -> dict[str, Any]:
    talk = recap.talk
    return {
        "recap": recap,
        "talk": talk,
        "headline": _one_line(talk.display_title),
        "byline": _one_line(byline(talk)),
        "video_url": youtube_url(talk.youtube_id, 0),
    }


def render_recap(recap: TalkRecap) -> str:
    """The recap as Markdown: YAML front matter (title, speakers, event, date, source URL, tags from the themes'
    keywords), then headline, byline, overview, a section per theme (takeaways as bullets with timestamp links,
    quotes as blockquotes), and a pointer to the video. A recap with `prose` is rendered as the post instead:
    intro, the questions the talk answers, a section of paragraphs per theme with its quotes woven in."""
    template = "recap_prose.md.jinja" if recap.prose else "recap.md.jinja"
    text = environment().get_template(template).render(**_recap_context(recap))
    return front_matter(recap_front_matter(recap)) + _tidy(text)


def render_recap_html(recap: TalkRecap) -> str:
    """The recap as an HTML `<article>` (same layout as the Markdown draft; every text escaped)."""
    template = "recap_prose.html.jinja" if recap.prose else "recap.html.jinja"
    return environment().get_template(template).render(**_recap_context(recap)).strip() + "\n"


def _digest_context(digest: EventDigest) -> dict[str, Any]:
    talks = {talk.id: talk for talk in digest.talks}
    for theme in digest.themes:  # a theme may cite a talk missing from the list: show its id
        for talk_id in theme.talk_ids:
            talks.setdefault(talk_id, Talk(id=talk_id))
    return {"digest": digest, "talks": talks, "headline": _one_line(f"{digest.event}: the themes across its talks")}


def render_digest(digest: EventDigest) -> str:
    """The event digest as Markdown: YAML front matter (title, speakers, event, date of the latest talk, tags),
    headline, overview, the talks, a section per theme naming the talks (and where in them) it comes up, takeaways
    and quotes, and links to the videos."""
    context = _digest_context(digest)
    dates = [talk.date for talk in digest.talks if talk.date]
    fields = {
        "title": context["headline"],
        "speakers": list(dict.fromkeys(name for talk in digest.talks for name in talk.speakers)),
        "event": digest.event,
        "date": max(dates) if dates else None,
        "tags": tags(digest.themes),
    }
    text = environment().get_template("digest.md.jinja").render(**context)
    return front_matter(fields) + _tidy(text)


def render_digest_html(digest: EventDigest) -> str:
    """The event digest as an HTML `<article>` (same layout as the Markdown draft; every text escaped)."""
    return environment().get_template("digest.html.jinja").render(**_digest_context(digest)).strip() + "\n"


class FormatError(ValueError):
    """The result cannot be written in the format asked for; the message says why."""


def talk_end(recap: TalkRecap) -> float | None:
    """Where the talk ends: the video's length, else the end of its last theme span."""
    ends = [span.end for theme in recap.themes for span in theme.spans if span.end is not None]
    return recap.talk.duration or (max(ends) if ends else None)


def render(result: TalkRecap | EventDigest, output_format: str = "md") -> str:
    """A recap or digest in one of `FORMATS`; raises `FormatError` for an unknown format, or chapters of an event
    or of a talk without times."""
    if output_format not in FORMATS:
        raise FormatError(f"unknown format '{output_format}' (choose one of: {', '.join(FORMATS)})")
    if output_format == "json":
        return result.model_dump_json(indent=2)
    if isinstance(result, EventDigest):
        if output_format in ("chapters", "vtt-chapters"):
            raise FormatError("chapters are made for one talk, not an event: pass a talk id")
        return render_digest_html(result) if output_format == "html" else render_digest(result)
    if output_format == "html":
        return render_recap_html(result)
    if output_format == "md":
        return render_recap(result)
    chapters = recap_chapters(result)
    if not chapters:
        raise FormatError(f"talk '{result.talk.id}' has no times (a plain-text transcript): it cannot have chapters")
    if output_format == "chapters":
        return youtube_chapter_list(chapters, talk_end(result))
    return webvtt_chapters(chapters, talk_end(result))
