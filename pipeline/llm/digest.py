"""Event digests with an LLM: map (each talk recapped by `LLMRecapper`, grounded) → reduce (the event's themes and
overview written from the talk recaps).

The reduce step only regroups: each event theme names the talk themes it brings together (labels like `T2.3`), and
its takeaways, quotes and spans are those talk themes' own, already checked against their transcripts. A label
that names no talk theme is dropped and counted; a talk theme no event theme claims keeps its own place, so nothing
a talk said is lost. When the reduce reply stays invalid after the repair attempt, the event themes fall back to
one a talk theme, recorded in `grounding.fallbacks`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from haystack.dataclasses import ChatMessage
from pydantic import BaseModel, Field

from pipeline.components.quotes import merge_reports
from pipeline.llm.prompts import render_prompt
from pipeline.llm.recap import LLMRecapper
from pipeline.llm.structured import generate_structured
from pipeline.models import EventDigest, GroundingReport, TalkRecap, Theme, Transcript


class EventThemeItem(BaseModel):
    title: str = Field(description="At most 8 words.")
    talk_themes: list[str] = Field(description="Labels of the talk themes it brings together, like T1.2.")


class EventReply(BaseModel):
    overview: str
    themes: list[EventThemeItem]


def _summary(theme: Theme, takeaways: int = 2) -> str:
    return " ".join(takeaway.text for takeaway in theme.takeaways[:takeaways]) or ", ".join(theme.keywords)


def _with_talk_ids(recap: TalkRecap) -> list[Theme]:
    """The recap's themes as copies whose quotes name their talk (an event digest quotes several talks)."""
    talk_id = recap.talk.id
    themes = []
    for theme in recap.themes:
        quotes = [quote.model_copy(update={"talk_id": quote.talk_id or talk_id}) for quote in theme.quotes]
        themes.append(theme.model_copy(update={"quotes": quotes, "talk_ids": theme.talk_ids or [talk_id]}))
    return themes


def merge_themes(title: str, parts: list[Theme], takeaways: int = 6, quotes: int = 3) -> Theme:
    """One event theme from talk themes: their takeaways and quotes taken in turn, so every talk is heard."""

    def interleave(lists: list[list]) -> list:
        merged = []
        for round_ in range(max((len(items) for items in lists), default=0)):
            merged += [items[round_] for items in lists if round_ < len(items)]
        return merged

    return Theme(
        title=title,
        keywords=list(dict.fromkeys(keyword for part in parts for keyword in part.keywords))[:8],
        takeaways=interleave([part.takeaways for part in parts])[:takeaways],
        quotes=interleave([part.quotes for part in parts])[:quotes],
        spans=[span for part in parts for span in part.spans],
        talk_ids=list(dict.fromkeys(talk_id for part in parts for talk_id in part.talk_ids)),
    )


class LLMEventDigester:
    """The LLM's `EventDigest` of several talks; the talks are recapped one by one first (`on_talk` reports each)."""

    def __init__(self, recapper: LLMRecapper, *, min_themes: int = 3, max_themes: int = 6) -> None:
        self.recapper = recapper
        self.generator = recapper.generator
        self.min_themes = min(min_themes, max_themes)
        self.max_themes = max_themes

    def digest(
        self,
        event: str,
        transcripts: list[Transcript],
        themes: int | None = None,
        on_talk: Callable[[TalkRecap], None] | None = None,
    ) -> EventDigest:
        started = time.perf_counter()
        recaps = []
        for transcript in transcripts:
            recap = self.recapper.recap_transcript(transcript)
            recaps.append(recap)
            if on_talk:
                on_talk(recap)
        labelled = {
            f"T{number}.{index}": theme
            for number, recap in enumerate(recaps, 1)
            for index, theme in enumerate(_with_talk_ids(recap), 1)
        }
        report = merge_reports(*(recap.grounding for recap in recaps))
        reply = self._reduce(event, recaps, labelled, themes)
        if reply is None:
            report.fallbacks.append("event themes: the reply stayed invalid; one event theme a talk theme")
            overview = " ".join(recap.overview for recap in recaps)
            event_themes = list(labelled.values())
        else:
            overview = reply.overview.strip()
            event_themes = self._group(reply, labelled, report)
        info = self.generator.info(time.perf_counter() - started)
        info.parameters.update(talks=len(recaps))
        return EventDigest(
            event=event,
            talks=[recap.talk for recap in recaps],
            overview=overview,
            themes=event_themes,
            generation=info,
            grounding=report,
        )

    def _reduce(
        self, event: str, recaps: list[TalkRecap], labelled: dict[str, Theme], themes: int | None
    ) -> EventReply | None:
        talks = [
            {
                "number": number,
                "title": recap.talk.display_title,
                "speakers": recap.talk.speakers,
                "overview": recap.overview,
                "themes": [
                    {"label": label, "title": theme.title, "summary": _summary(theme)}
                    for label, theme in labelled.items()
                    if label.startswith(f"T{number}.")
                ],
            }
            for number, recap in enumerate(recaps, 1)
        ]
        system = render_prompt("digest_system", event=event, talks=len(recaps))
        user = render_prompt(
            "digest_themes_user",
            talks=talks,
            min_themes=themes or self.min_themes,
            max_themes=themes or self.max_themes,
        )
        messages = [ChatMessage.from_system(system), ChatMessage.from_user(user)]
        reply, _ = generate_structured(self.generator, messages, EventReply, label="event themes")
        return reply

    @staticmethod
    def _group(reply: EventReply, labelled: dict[str, Theme], report: GroundingReport) -> list[Theme]:
        claimed: set[str] = set()
        grouped = []
        for item in reply.themes:
            labels = [label.strip().strip("[]") for label in item.talk_themes]
            report.citations_checked += len(labels)
            valid = [label for label in dict.fromkeys(labels) if label in labelled and label not in claimed]
            report.citations_dropped += len(labels) - len(valid)
            if not valid:
                report.claims_dropped += 1
                continue
            claimed.update(valid)
            grouped.append(merge_themes(item.title.strip() or labelled[valid[0]].title, [labelled[v] for v in valid]))
        grouped += [theme for label, theme in labelled.items() if label not in claimed]
        return grouped
