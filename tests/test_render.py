"""Markdown drafts from hand-made recaps and digests (no model needed)."""

from __future__ import annotations

import os
from datetime import date

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pipeline.models import Citation, EventDigest, Quote, Span, Takeaway, Talk, TalkRecap, Theme
from pipeline.render import PROMPTS_DIR, render_digest, render_recap, stamp

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


def test_templates_live_in_the_repository_prompts_folder() -> None:
    assert (PROMPTS_DIR / "recap.md.jinja").is_file() and (PROMPTS_DIR / "digest.md.jinja").is_file()


def test_recap_markdown_has_headline_intro_sections_quotes_links_and_video() -> None:
    markdown = render_recap(recap_of(TALK, [651.2, 3725.0]))
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
    markdown = render_digest(digest)
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
