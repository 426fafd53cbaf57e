"""Abstractive talk recaps with an LLM that reads only what the extractive stage picked, grounded before output.

1. The extractive `Recapper` runs first (seconds): themes with their spans, takeaways with citations and verified
   quotes. Its themes are the recap's themes (they follow the uploader's chapters when the talk has them).
2. One call a theme: the model sees the theme's extractive takeaways and quotes as transcript lines `[n] text`
   with their neighbours, up to `excerpt_tokens` (not the whole talk), and writes a title and up to three
   takeaways with the segments that say them. Replies are capped at `max_tokens`.
3. One call for the overview (and, for a post, the questions the talk answers) from the written takeaways.
4. For `style="prose"`, a theme's paragraphs are asked for in the same conversation as its takeaways, so llama.cpp
   reuses the whole prompt from its cache and reads only the new request.

Checks in code (`pipeline.llm.recap_checks`): a takeaway's citation must lie inside its theme's spans; it must
share content words with the segments it cites; "The speaker / <name> emphasizes …" is rewritten to the point
itself when followed by "that …", else rejected; "the importance of …" is rejected; near-duplicates across themes
are dropped. A rejected takeaway is replaced by an unused extractive takeaway of its theme; a title that shares a
content word with an earlier theme's title is replaced by the extractive title (an uploader's chapter title always
stays). Quotes are the extractive stage's
verified quotes, grown to whole sentences (or dropped). Every fallback is recorded in `grounding.fallbacks`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haystack.dataclasses import ChatMessage
from pydantic import BaseModel, Field

from pipeline.components.quotes import QuoteVerifier, TalkText, merge_reports, normalise
from pipeline.llm.base import Generator
from pipeline.llm.prompts import render_prompt
from pipeline.llm.recap_checks import (
    VAGUE_PHRASES,
    check_takeaway,
    content_stems,
    framing_pattern,
    repeats,
    snap_quote,
    title_problem,
)
from pipeline.llm.structured import generate_structured
from pipeline.models import (
    Citation,
    GroundingReport,
    Prose,
    ProseSection,
    Quote,
    RecapStyle,
    Segment,
    Span,
    Takeaway,
    TalkRecap,
    Theme,
    Transcript,
)
from pipeline.prose import extractive_prose, extractive_section, talk_questions
from pipeline.recap import EmptyTalkError, RecapError, Recapper
from pipeline.workspace import Workspace

logger = logging.getLogger(__name__)
GENERIC_OPENING = re.compile(r"^(?:in this (?:talk|section),?\s+)?the (?:speaker|presenter|talk)\b", re.I)


class TakeawayItem(BaseModel):
    text: str
    first_segment: int
    last_segment: int


class ThemeReply(BaseModel):
    title: str
    takeaways: list[TakeawayItem] = Field(default_factory=list, max_length=4)


class OverviewReply(BaseModel):
    overview: str
    questions: list[str] = Field(default_factory=list, max_length=4)


class ProseReply(BaseModel):
    paragraphs: list[str] = Field(default_factory=list, max_length=4)


@dataclass
class ThemePlan:
    """A theme to write: the extractive theme, the segments its prompt shows, and what was written for it."""

    number: int
    extractive: Theme
    allowed: list[tuple[int, int]]
    segments: list[int]
    excerpt: str
    title: str = ""
    takeaways: list[Takeaway] = field(default_factory=list)
    conversation: list[ChatMessage] = field(default_factory=list)


def segment_line(segment: Segment, with_speaker: bool) -> str:
    speaker = f"{segment.speaker}: " if with_speaker and segment.speaker else ""
    return f"[{segment.index}] {speaker}{' '.join(segment.text.split())}"


def pick_segments(
    transcript: Transcript, theme: Theme, budget: int, count_tokens: Callable[[str], int]
) -> tuple[list[int], list[tuple[int, int]]]:
    """(segments to show, the theme's ranges): the segments the extractive takeaways and quotes cite, then their
    neighbours one step further at a time, while they fit `budget` tokens, inside the theme's spans."""
    talk_id = transcript.talk.id
    allowed = [(s.first_segment, s.last_segment) for s in theme.spans if s.talk_id == talk_id]
    seeds = [(c.first_segment, c.last_segment) for t in theme.takeaways for c in t.citations[:1]]
    seeds += [(q.segment, q.last_segment if q.last_segment is not None else q.segment) for q in theme.quotes]
    seeds = seeds or [(a, a) for a, _ in allowed]
    with_speaker = len({s.speaker for s in transcript.segments if s.speaker}) > 1
    chosen: set[int] = set()
    used = 0
    for radius in range(4):
        for first, last in seeds:
            for index in range(first - radius, last + radius + 1):
                inside = any(a <= index <= b for a, b in allowed)
                if index in chosen or not inside or not transcript.segments[index].text.strip():
                    continue
                cost = count_tokens(segment_line(transcript.segments[index], with_speaker)) + 1
                if used + cost <= budget:
                    chosen.add(index)
                    used += cost
    return sorted(chosen), allowed


def excerpt_lines(transcript: Transcript, segments: list[int]) -> str:
    """The segments as `[n] text` lines, with "…" where segments are skipped."""
    with_speaker = len({s.speaker for s in transcript.segments if s.speaker}) > 1
    lines: list[str] = []
    for position, index in enumerate(segments):
        if position and index != segments[position - 1] + 1:
            lines.append("…")
        lines.append(segment_line(transcript.segments[index], with_speaker))
    return "\n".join(lines)


class LLMRecapper:
    """Recaps talks with an LLM (see the module's docstring); the same calls as the extractive `Recapper`.

    recapper = LLMRecapper(create_generator(GeneratorConfig(backend="llama-cpp", model="qwen2.5-1.5b")))
    recap = recapper.recap_transcript(transcript, style="prose")
    """

    def __init__(
        self,
        generator: Generator,
        workspace: Workspace | None = None,
        *,
        min_themes: int = 2,
        max_themes: int = 5,
        takeaways_per_theme: int = 3,
        quotes_per_theme: int = 2,
        key_quotes: int = 5,
        excerpt_tokens: int = 700,
        max_tokens: int | None = 320,
        extractive: Recapper | None = None,
        verifier: QuoteVerifier | None = None,
        on_plan: Callable[[int, int], None] | None = None,
    ) -> None:
        """:param workspace: where `recap(talk_id)` loads talks from (`recap_transcript` needs none).
        :param min_themes: fewest themes (a `themes` count given to `recap` overrides both bounds); the extractive
            stage is asked again for `max_themes` when it found more.
        :param takeaways_per_theme: takeaways asked for and kept per theme.
        :param excerpt_tokens: transcript tokens a theme's prompt shows.
        :param max_tokens: longest reply of one call (None: the generator's `max_tokens`).
        :param extractive: the extractive `Recapper` (made when first needed if not given).
        :param verifier: the `QuoteVerifier` (made here if not given).
        :param on_plan: told `(calls made, calls planned)` for the recap under way (repair attempts come on top)."""
        if generator is None:
            raise ValueError("LLMRecapper needs an LLM generator (llama-cpp or openai); use Recapper otherwise")
        if min(min_themes, max_themes) < 1:
            raise ValueError("min_themes and max_themes must be at least 1")
        self.generator = generator
        self.workspace = workspace
        self.min_themes = min(min_themes, max_themes)
        self.max_themes = max_themes
        self.takeaways_per_theme = takeaways_per_theme
        self.quotes_per_theme = quotes_per_theme
        self.key_quotes = key_quotes
        self.excerpt_tokens = excerpt_tokens
        self.max_tokens = max_tokens
        self._extractive = extractive
        self.on_plan = on_plan
        self.verifier = verifier or QuoteVerifier()

    def warm_up(self) -> None:
        self.generator.warm_up()

    def recap(self, talk_id: str, themes: int | None = None, style: RecapStyle = "bullets") -> TalkRecap:
        """The recap of one talk of the workspace (`WorkspaceError` when there is no such talk)."""
        if self.workspace is None:
            raise RecapError("LLMRecapper.recap(talk_id) needs a workspace; use recap_transcript")
        return self.recap_transcript(self.workspace.load_transcript(talk_id), themes, style)

    def recap_transcript(
        self, transcript: Transcript, themes: int | None = None, style: RecapStyle = "bullets"
    ) -> TalkRecap:
        """The recap of a (cleaned) transcript; `themes` asks for exactly that many themes; `style="prose"` also
        writes the post (`TalkRecap.prose`)."""
        if themes is not None and themes < 1:
            raise RecapError(f"the number of themes must be at least 1 (got {themes})")
        if style not in ("bullets", "prose"):
            raise RecapError(f"unknown recap style '{style}' (choose bullets or prose)")
        if not any(segment.text.strip() for segment in transcript.segments):
            raise EmptyTalkError(f"talk '{transcript.talk.id}' has no transcript text to recap")
        started = time.perf_counter()
        self.warm_up()
        usage = self.generator.usage
        calls_before, tokens_before, read_before = usage.calls, usage.tokens, usage.prompt_tokens
        run = _Run(transcript, TalkText.of(transcript), framing_pattern(transcript.talk.speakers))
        extractive = self._extractive_recap(run, themes)
        if not extractive.themes:  # a talk too short for themes: the extractive recap says what there is
            recap = extractive.model_copy(deep=True)
            recap.grounding.fallbacks.append("themes: none found; used the extractive recap")
            if style == "prose":
                recap.prose = extractive_prose(recap, transcript)
            return recap
        plans = [self._plan_theme(run, number, theme) for number, theme in enumerate(extractive.themes, 1)]
        per_theme = 2 if style == "prose" else 1
        self._plan(0, per_theme * len(plans) + 1)
        theme_results: list[Theme] = []
        sections: list[ProseSection] = []
        for plan in plans:
            theme = self._write_theme(run, plan, plans)
            theme_results.append(theme)
            if style == "prose":
                sections.append(self._write_section(run, plan, theme))
            self._plan(
                usage.calls - calls_before, usage.calls - calls_before + per_theme * (len(plans) - plan.number) + 1
            )
        overview, questions = self._overview(run, theme_results, style)
        key_quotes = [theme.quotes[0] for theme in theme_results if theme.quotes][: self.key_quotes]
        info = self.generator.info(time.perf_counter() - started)
        info.parameters.update(
            style=style,
            calls=usage.calls - calls_before,
            tokens=usage.tokens - tokens_before,
            prompt_tokens=usage.prompt_tokens - read_before,
            excerpt_tokens=self.excerpt_tokens,
        )
        recap = TalkRecap(
            talk=transcript.talk,
            overview=overview,
            themes=theme_results,
            key_quotes=key_quotes,
            generation=info,
            grounding=run.report,
        )
        if style == "prose":
            recap.prose = Prose(
                intro=overview, questions=questions or talk_questions(recap, transcript), sections=sections
            )
        return recap

    def _plan(self, made: int, planned: int) -> None:
        if self.on_plan is not None:
            self.on_plan(made, planned)

    # -- the steps ----------------------------------------------------------------------------------------------

    def _extractive_recap(self, run: _Run, themes: int | None) -> TalkRecap:
        if self._extractive is None:
            self._extractive = Recapper()  # recap_transcript needs no workspace
        recap = self._extractive.recap_transcript(run.transcript, themes)
        if themes is None and len(recap.themes) > self.max_themes:
            recap = self._extractive.recap_transcript(run.transcript, self.max_themes)
        run.extractive = recap
        return recap

    def _plan_theme(self, run: _Run, number: int, theme: Theme) -> ThemePlan:
        segments, allowed = pick_segments(run.transcript, theme, self.excerpt_tokens, self.generator.count_tokens)
        return ThemePlan(number, theme, allowed, segments, excerpt_lines(run.transcript, segments))

    def _system(self, transcript: Transcript) -> str:
        talk = transcript.talk
        return render_prompt("recap_system", title=talk.display_title, speakers=talk.speakers, event=talk.event)

    def _ask(self, run: _Run, messages: list[ChatMessage], model_cls: type[BaseModel], label: str) -> Any:
        value, attempts = generate_structured(
            self.generator, messages, model_cls, label=label, max_tokens=self.max_tokens
        )
        if value is None:
            run.failures[label] = attempts.errors[-1] if attempts.errors else "no reply"
        return value

    def _write_theme(self, run: _Run, plan: ThemePlan, plans: list[ThemePlan]) -> Theme:
        """The theme's title and takeaways from the model, checked; the extractive ones where they fail."""
        extractive = plan.extractive
        others = [p.title or p.extractive.title for p in plans if p is not plan]
        user = render_prompt(
            "recap_theme_user",
            number=plan.number,
            themes=len(plans),
            first=plan.allowed[0][0] if plan.allowed else 0,
            last=plan.allowed[-1][1] if plan.allowed else 0,
            keywords=extractive.keywords[:5],
            others=others,
            excerpt=plan.excerpt,
            takeaways=self.takeaways_per_theme,
            speaker=run.transcript.talk.speakers[0] if run.transcript.talk.speakers else "The speaker",
        )
        messages = [ChatMessage.from_system(self._system(run.transcript)), ChatMessage.from_user(user)]
        label = f"theme {plan.number}/{len(plans)}"
        reply = self._ask(run, messages, ThemeReply, label)
        problems: list[str] = []
        if reply is None:
            run.fallback(label, "the extractive title and takeaways")
            items: list[TakeawayItem] = []
            title = extractive.title
        else:
            plan.conversation = [*messages, ChatMessage.from_assistant(reply.model_dump_json())]
            items = reply.takeaways
            title = " ".join(reply.title.split()).strip(" .\"'") or extractive.title
        # the titles it must not share a word with: the earlier themes' and the later themes' extractive titles
        # (their fallbacks), so that no fallback can clash either
        rivals = [p.title if p.number < plan.number else p.extractive.title for p in plans if p is not plan]
        problem = title_problem(title, plan.excerpt, rivals) if reply is not None else None
        if extractive.title in {chapter.title for chapter in run.transcript.talk.chapters}:
            title, problem = extractive.title, None  # the uploader's chapter title stays
        if problem is not None:
            run.fallback(f"{label} title", f"the extractive title '{extractive.title}'", reason=f"'{title}': {problem}")
            title = extractive.title
        plan.title = title
        for item in items:
            run.report.citations_checked += 1
            problem, text, (first, last) = check_takeaway(
                item.text, (item.first_segment, item.last_segment), run.transcript, run.names, plan.allowed
            )
            if not (problem or "").startswith("citation") and repeats(text, run.written):
                problem = "repeats another takeaway"
            if problem is not None:
                logger.info("%s: takeaway rejected (%s): %s", label, problem, item.text)
                problems.append(problem)
                if problem.startswith("citation"):
                    run.report.citations_dropped += 1
                run.report.claims_dropped += 1
                continue
            if len(plan.takeaways) < self.takeaways_per_theme:
                run.written.append(text)
                plan.takeaways.append(self._takeaway(run.transcript, text, first, last))
        wanted = min(self.takeaways_per_theme, max(len(items), 2))
        self._fill_from_extractive(run, plan, wanted, problems, label)
        quotes = self._quotes(run, extractive.quotes)
        spans = self._spans(run.transcript, plan)
        return Theme(
            title=plan.title,
            keywords=list(extractive.keywords),
            takeaways=sorted(plan.takeaways, key=lambda t: t.citations[0].first_segment),
            quotes=quotes,
            spans=spans,
            talk_ids=[run.transcript.talk.id],
        )

    def _fill_from_extractive(self, run: _Run, plan: ThemePlan, wanted: int, problems: list[str], label: str) -> None:
        """Extractive takeaways of the theme for the ones rejected, up to `wanted`."""
        added = 0
        for takeaway in plan.extractive.takeaways:
            if len(plan.takeaways) >= wanted:
                break
            if not repeats(takeaway.text, run.written):
                run.written.append(takeaway.text)
                plan.takeaways.append(takeaway)
                added += 1
        if problems or added:
            reasons = "; ".join(sorted(set(problems))) or "too few takeaways"
            run.fallback(
                f"{label} takeaways",
                f"{added} extractive takeaway{'s' if added != 1 else ''}",
                reason=f"{len(problems)} rejected ({reasons})",
            )

    def _takeaway(self, transcript: Transcript, text: str, first: int, last: int) -> Takeaway:
        start = transcript.segments[first].start
        citation = Citation(
            talk_id=transcript.talk.id,
            first_segment=first,
            last_segment=last,
            start=start,
            url=transcript.talk.url_at(start),
        )
        return Takeaway(text=text, citations=[citation])

    def _quotes(self, run: _Run, quotes: list[Quote]) -> list[Quote]:
        """The extractive quotes grown to whole sentences and verified again (dropped when that fails)."""
        snapped = []
        for quote in quotes:
            whole = snap_quote(quote, run.text)
            if whole is None:
                run.report.quotes_dropped += 1
                continue
            snapped.append(whole)
        if not snapped:
            return []
        result = self.verifier.run(quotes=snapped, transcript=run.transcript)
        run.report = merge_reports(run.report, result["report"])
        kept = []
        for quote in result["quotes"]:
            if normalise(quote.text) not in run.quoted and len(kept) < self.quotes_per_theme:
                run.quoted.add(normalise(quote.text))
                kept.append(quote)
        return kept

    @staticmethod
    def _spans(transcript: Transcript, plan: ThemePlan) -> list[Span]:
        segments = transcript.segments
        return [
            Span(
                talk_id=transcript.talk.id,
                first_segment=a,
                last_segment=b,
                start=segments[a].start,
                end=segments[b].end,
            )
            for a, b in plan.allowed
        ]

    def _overview(self, run: _Run, themes: list[Theme], style: RecapStyle) -> tuple[str, list[str]]:
        talk = run.transcript.talk
        user = render_prompt(
            "recap_overview_user",
            speakers=talk.speakers,
            event=talk.event,
            themes=themes,
            prose=style == "prose",
        )
        messages = [ChatMessage.from_system(self._system(run.transcript)), ChatMessage.from_user(user)]
        reply = self._ask(run, messages, OverviewReply, "overview")
        overview = " ".join(reply.overview.split()) if reply is not None else ""
        if len(overview.split()) < 12:
            reason = f"'{overview[:60]}' is too short" if overview else None
            run.fallback("overview", "the extractive overview", reason=reason)
            return run.extractive.overview if run.extractive else "", []
        questions = [" ".join(q.split()).rstrip(".") for q in reply.questions]
        # a question of a few words that is not the instruction copied back
        questions = [q for q in questions if 4 <= len(q.split()) <= 25 and "questions" not in q.lower()]
        return overview, [q if q.endswith("?") else f"{q}?" for q in questions]

    def _write_section(self, run: _Run, plan: ThemePlan, theme: Theme) -> ProseSection:
        """The theme's paragraphs, asked for after its takeaways in the same conversation (the prompt is in the
        model's cache); paragraphs that name figures the excerpt lacks or open vaguely are dropped."""
        fallback = extractive_section(theme, run.transcript.talk)
        if not plan.conversation:
            run.fallback(f"section {plan.number}", "the extractive paragraphs", reason="no theme reply to build on")
            return fallback
        user = render_prompt(
            "recap_section_user",
            title=theme.title,
            takeaways=[t.text for t in theme.takeaways],
            speakers=run.transcript.talk.speakers,
        )
        label = f"section {plan.number}"
        reply = self._ask(run, [*plan.conversation, ChatMessage.from_user(user)], ProseReply, label)
        if reply is None:
            run.fallback(label, "the extractive paragraphs")
            return fallback
        known = content_stems(plan.excerpt) | content_stems(" ".join(t.text for t in theme.takeaways))
        kept = []
        for paragraph in reply.paragraphs:
            text = " ".join(paragraph.split())
            numbers = set(re.findall(r"\d[\d,.]*", text))
            invented = {n for n in numbers if n.strip(",.") not in known and n.strip(",.") not in plan.excerpt}
            if text and not invented and not VAGUE_PHRASES.search(text) and not GENERIC_OPENING.match(text):
                kept.append(text)
        if len(kept) < 2:
            run.fallback(label, "the extractive paragraphs", reason=f"{len(kept)} usable paragraphs")
            return fallback
        return fallback.model_copy(update={"paragraphs": kept[:4]})


@dataclass
class _Run:
    """The state of one recap."""

    transcript: Transcript
    text: TalkText
    framing: re.Pattern[str]
    report: GroundingReport = field(default_factory=GroundingReport)
    failures: dict[str, str] = field(default_factory=dict)
    extractive: TalkRecap | None = None
    written: list[str] = field(default_factory=list)
    quoted: set[str] = field(default_factory=set)

    @property
    def names(self) -> list[str]:
        return list(self.transcript.talk.speakers)

    def fallback(self, part: str, instead: str, reason: str | None = None) -> None:
        """Records that `part` fell back to the extractive method (`instead`), and why."""
        problem = self.failures.get(part)
        reason = reason or (f"invalid reply after a repair attempt ({problem})" if problem else "no usable reply")
        self.report.fallbacks.append(f"{part}: {reason}; used {instead}")
