"""Drafts from hand-made recaps and digests (no model needed): Markdown with YAML front matter (read back with
PyYAML), HTML (parsed with the standard library's parser), and the other formats."""

from __future__ import annotations

import os
from datetime import date
from html.parser import HTMLParser

import pytest
import yaml

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pipeline.models import Citation, EventDigest, Quote, Span, Takeaway, Talk, TalkRecap, Theme
from pipeline.render import FORMATS, PROMPTS_DIR, FormatError, render, render_digest, render_recap, stamp

TALK = Talk(
    id="founder-talk",
    title="From Side Project to Company",
    speakers=["Maya Lindqvist"],
    event="Open Source Founders Summit 2026",
    date=date(2026, 5, 14),
    youtube_id="dW7fT3kQm2A",
)
PANEL = Talk(id="panel", title="Panel: Remote Teams", speakers=["Priya Raman", "Jonas Weber"], source="data/panel.srt")


def citation(talk: Talk, segment: int, start: float | None) -> Citation:
    return Citation(talk_id=talk.id, first_segment=segment, last_segment=segment, start=start, url=talk.url_at(start))


def theme(talk: Talk, title: str, start: float | None, segment: int) -> Theme:
    return Theme(
        title=title,
        keywords=[title.lower()],
        takeaways=[
            Takeaway(text=f"{title} matters more than you think.", citations=[citation(talk, segment, start)]),
            Takeaway(text=f"Write down what {title.lower()} means.", citations=[citation(talk, segment + 1, start)]),
        ],
        quotes=[
            Quote(
                text=f"{title} is a promise you keep.",
                talk_id=talk.id,
                speaker=talk.speakers[0],
                start=start,
                segment=segment,
                url=talk.url_at(start),
            )
        ],
        spans=[Span(talk_id=talk.id, first_segment=segment, last_segment=segment + 5, start=start, end=None)],
        talk_ids=[talk.id],
    )


def recap_of(talk: Talk, starts: list[float | None]) -> TalkRecap:
    themes = [
        theme(talk, title, start, 10 * n)
        for n, (title, start) in enumerate(zip(["Open source", "Default alive"], starts, strict=True))
    ]
    return TalkRecap(talk=talk, overview=f"{talk.speakers[0]} covers open source and default alive.", themes=themes)


def split_front_matter(markdown: str) -> tuple[dict, str]:
    """The YAML front matter (parsed with yaml.safe_load) and the draft after it."""
    assert markdown.startswith("---\n")
    header, body = markdown[4:].split("\n---\n\n", 1)
    return yaml.safe_load(header), body


def test_templates_live_in_the_repository_prompts_folder() -> None:
    for name in ("recap.md.jinja", "digest.md.jinja", "recap.html.jinja", "digest.html.jinja"):
        assert (PROMPTS_DIR / name).is_file()


def test_recap_markdown_has_headline_intro_sections_quotes_links_and_video() -> None:
    _, markdown = split_front_matter(render_recap(recap_of(TALK, [651.2, 3725.0])))
    lines = markdown.splitlines()
    assert lines[0] == "# From Side Project to Company"
    assert "*Maya Lindqvist · Open Source Founders Summit 2026 · 14 May 2026*" in lines
    assert "Maya Lindqvist covers open source and default alive." in lines
    assert [line for line in lines if line.startswith("## ")] == ["## Open source", "## Default alive"]
    assert (
        "- Open source matters more than you think. ([00:10:51](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=651s))"
        in lines
    )
    assert "> “Default alive is a promise you keep.”" in lines
    assert "> — Maya Lindqvist, [01:02:05](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=3725s)" in lines
    assert lines[-1] == (
        "Watch the full talk: [From Side Project to Company](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=0s)"
    )
    assert "\n\n\n" not in markdown
    tight_list = "t=651s))\n- Write down what open source means. ([00:10:51]"
    assert tight_list in markdown


def test_blockquotes_are_separated_from_lists() -> None:
    markdown = render_recap(recap_of(TALK, [651.2, 3725.0]))
    for block in markdown.split("\n\n"):
        assert not (block.startswith("- ") and "\n>" in block)


def test_recap_without_video_uses_plain_timestamps_and_omits_unknown_times() -> None:
    markdown = render_recap(recap_of(PANEL, [83.0, None]))
    assert "](" not in markdown
    assert "> — Priya Raman, 00:01:23" in markdown
    assert "- Default alive matters more than you think.\n" in markdown
    assert "--:--:--" not in markdown
    assert markdown.rstrip().endswith("Full talk: Panel: Remote Teams (data/panel.srt)")


def test_stamp() -> None:
    assert stamp(Quote(text="x y z", segment=0, start=75.9, url="https://v/x")) == "[00:01:15](https://v/x)"
    assert stamp(Span(talk_id="founder-talk", first_segment=0, last_segment=1, start=75.9), TALK) == (
        "[00:01:15](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=75s)"
    )
    assert stamp(Citation(talk_id="p", first_segment=0, last_segment=0, start=None)) == ""


def test_digest_markdown_names_talks_per_theme() -> None:
    shared = theme(TALK, "Writing things down", 1180.0, 160)
    panel_side = theme(PANEL, "Writing things down", 660.0, 80)
    shared = shared.model_copy(
        update={
            "takeaways": shared.takeaways + panel_side.takeaways,
            "quotes": shared.quotes + panel_side.quotes,
            "spans": shared.spans + panel_side.spans,
            "talk_ids": [TALK.id, PANEL.id],
        }
    )
    digest = EventDigest(
        event="Open Source Founders Summit 2026",
        talks=[TALK, PANEL],
        overview="Two talks. Themes shared across talks: Writing things down.",
        themes=[shared, theme(PANEL, "On-call", 200.0, 30)],
    )
    front, markdown = split_front_matter(render_digest(digest))
    assert front == {
        "title": "Open Source Founders Summit 2026: the themes across its talks",
        "speakers": ["Maya Lindqvist", "Priya Raman", "Jonas Weber"],
        "event": "Open Source Founders Summit 2026",
        "date": date(2026, 5, 14),
        "tags": ["writing-things-down", "on-call"],
    }
    lines = markdown.splitlines()
    assert lines[0] == "# Open Source Founders Summit 2026: the themes across its talks"
    assert "- **From Side Project to Company** — Maya Lindqvist (2026-05-14)" in lines
    assert [line for line in lines if line.startswith("## ")] == ["## Writing things down", "## On-call"]
    assert (
        "*In 2 talks: From Side Project to Company ([00:19:40](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=1180s));"
        " Panel: Remote Teams (00:11:00)*" in lines
    )
    assert "*In Panel: Remote Teams (00:03:20)*" in lines
    assert "> — Priya Raman, Panel: Remote Teams, 00:11:00" in lines
    assert "- Watch: [From Side Project to Company](https://www.youtube.com/watch?v=dW7fT3kQm2A&t=0s)" in lines
    assert "- Panel: Remote Teams (data/panel.srt)" in lines


# -- front matter --------------------------------------------------------------------------------------------------


def test_recap_front_matter_reads_back_with_yaml() -> None:
    front, body = split_front_matter(render_recap(recap_of(TALK, [651.2, 3725.0])))

    assert front == {
        "title": "From Side Project to Company",
        "speakers": ["Maya Lindqvist"],
        "event": "Open Source Founders Summit 2026",
        "date": date(2026, 5, 14),
        "source": "https://www.youtube.com/watch?v=dW7fT3kQm2A",
        "tags": ["open-source", "default-alive"],
    }
    assert body.startswith("# From Side Project to Company\n")


HOSTILE = "Yes: \"No\" 'maybe' #1 & <b>bold</b> {{x}} [link](javascript:alert(1))\n---\nevil: true"


def test_front_matter_quotes_and_escapes_hostile_values() -> None:
    talk = TALK.model_copy(
        update={"title": HOSTILE, "speakers": ["- dash", "a: b", "*star"], "event": "@event | %yaml"}
    )
    recap = recap_of(talk, [10.0, 40.0])
    recap.themes[0].keywords = ["C++ & Rust: 2026", "#hash tag", "2026", "Über-Größe"]

    front, body = split_front_matter(render_recap(recap))

    one_line = " ".join(HOSTILE.split())
    assert front["title"] == one_line and "evil" not in front  # nothing in a value can end the block
    assert front["speakers"] == ["- dash", "a: b", "*star"] and front["event"] == "@event | %yaml"
    assert front["tags"] == ["c-rust-2026", "hash-tag", "über-größe", "default-alive"]  # numbers alone are no tag
    assert body.startswith(f"# {one_line}\n")


def test_front_matter_leaves_out_what_is_unknown() -> None:
    bare = TalkRecap(talk=Talk(id="bare"), overview="Short.", themes=[])

    front, body = split_front_matter(render_recap(bare))

    assert front == {"title": "bare"} and body.startswith("# bare\n")


# -- HTML ----------------------------------------------------------------------------------------------------------


class Elements(HTMLParser):
    """Start tags (with attributes) and text, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def test_html_recap_has_the_draft_layout() -> None:
    html = render(recap_of(TALK, [651.2, 3725.0]), "html")
    page = parse_html(html)
    names = [tag for tag, _ in page.tags]

    assert names[:3] == ["article", "h1", "p"] and names.count("h2") == 2 and names.count("blockquote") == 2
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert "https://www.youtube.com/watch?v=dW7fT3kQm2A&t=651s" in links  # `&amp;` in the source, `&` when parsed
    text = "".join(page.text)
    assert "From Side Project to Company" in text and "“Default alive is a promise you keep.”" in text


def test_html_escapes_hostile_titles_quotes_and_names() -> None:
    talk = TALK.model_copy(update={"title": '<script>alert("t")</script>', "speakers": ["<img src=x onerror=1>"]})
    recap = recap_of(talk, [10.0, 40.0])
    recap.themes[0].title = "</h2><iframe src=//evil>"
    recap.themes[0].quotes[0].text = '"><svg onload=alert(1)>'
    recap.overview = "Tom & Jerry <3"

    html = render(recap, "html")
    page = parse_html(html)

    assert {tag for tag, _ in page.tags} <= {
        "article",
        "h1",
        "p",
        "em",
        "section",
        "h2",
        "ul",
        "li",
        "a",
        "blockquote",
        "footer",
        "hr",
    }
    assert all(set(attrs) <= {"class", "href"} for _, attrs in page.tags)
    text = "".join(page.text)
    assert '<script>alert("t")</script>' in text and "</h2><iframe src=//evil>" in text and "Tom & Jerry <3" in text
    assert "&lt;script&gt;" in html and "<script" not in html


def test_html_digest_escapes_too() -> None:
    digest = EventDigest(
        event="<b>Conf</b>", talks=[TALK, PANEL], overview="x", themes=[theme(PANEL, "<i>On-call", 200.0, 3)]
    )

    html = render(digest, "html")

    assert "<b>" not in html and "&lt;b&gt;Conf&lt;/b&gt;" in html and "&lt;i&gt;On-call" in html
    assert [tag for tag, _ in parse_html(html).tags][:2] == ["article", "h1"]


# -- formats -------------------------------------------------------------------------------------------------------


def test_every_format_renders_a_recap() -> None:
    recap = recap_of(TALK, [651.2, 3725.0])
    for output_format in FORMATS:
        assert render(recap, output_format).strip()
    assert TalkRecap.model_validate_json(render(recap, "json")) == recap


def test_chapters_of_an_event_or_a_talk_without_times_are_clear_errors() -> None:
    digest = EventDigest(event="Conf", talks=[TALK], overview="x", themes=[])
    with pytest.raises(FormatError, match="chapters are made for one talk"):
        render(digest, "chapters")
    with pytest.raises(FormatError, match="has no times"):
        render(recap_of(PANEL, [None, None]), "vtt-chapters")
    with pytest.raises(FormatError, match="unknown format 'pdf'"):
        render(recap_of(TALK, [1.0, 2.0]), "pdf")
