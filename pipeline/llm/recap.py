"""Abstractive talk recaps with an LLM that reads only what the extractive stage picked, grounded before output.

1. The extractive `Recapper` runs first (seconds): themes with their spans, takeaways with citations and verified
   quotes. Its themes are the recap's themes (they follow the uploader's chapters when the talk has them).
2. One call a theme: the model sees the theme's candidate sentences, numbered, with their times: the sentences
   of the extractive takeaways and quotes first, then the most specific sentences around them (from the segments
   `pick_segments` takes, up to `excerpt_tokens`), at most `candidates` in all (not the whole talk). It writes a
   title, picks `takeaways_per_theme` of the sentences by number and rewrites each as one takeaway; the schema's
   `enum` holds the numbers, so llama.cpp's grammar cannot pick another. A takeaway's citation is its sentence's
   span by construction. Replies are capped at `max_tokens`.
3. One call for the overview (and, for a post, the questions the talk answers) from the written takeaways; its
   vague sentences are dropped, an overview over `overview_max_words` (90) words is cut to its opening whole
   sentences within that many (`trim_to_words`; Qwen ignores the length it is asked for), and one under 12 words
   (or whose first sentence alone is over the cap) falls back to the extractive one. The call's reply budget grows
   with the cap (`overview_tokens`), so that a reply longer than asked is trimmed rather than cut off mid-JSON.
4. For `style="prose"`, a theme's paragraphs are asked for in the same conversation as its takeaways, so llama.cpp
   reuses the whole prompt from its cache and reads only the new request. Each paragraph names the numbered
   sentences it tells (an `enum` again) and is checked against them (`paragraph_problem`); it gets the time of the
   first of them.

Checks in code (`pipeline.llm.recap_checks.check_rewrite`): a takeaway must share content words with the sentence
it was written from and state no number that sentence does not; "The speaker / <name> emphasizes …" is rewritten to
the point itself when followed by "that …", else rejected; "the importance of …" is rejected; a sentence picked
twice and near-duplicates across themes are dropped. A rejected takeaway is replaced by an unused extractive
takeaway of its theme; a title that shares a content word with an earlier theme's title is replaced by the
extractive title (an uploader's chapter title always stays). Quotes are the extractive stage's verified quotes,
grown to whole sentences (or dropped). Every fallback is recorded in `grounding.fallbacks`.
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
    MAX_CITED,
    VAGUE_PHRASES,
    check_rewrite,
    content_stems,
    framing_pattern,
    is_specific,
    numbers_in,
    repeats,
    sentence_bounds,
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
    format_timestamp,
)
from pipeline.prose import extractive_prose, extractive_section, talk_questions
from pipeline.recap import EmptyTalkError, RecapError, Recapper
from pipeline.text import clean_sentence
from pipeline.workspace import Workspace

logger = logging.getLogger(__name__)
# "… points are: 1. The … 2. The …": list numbers the model writes inside a paragraph (after a colon or a
# sentence's end, before a capital), which would otherwise split off as sentences of their own ("3.")
LIST_MARKER = re.compile(r"(?:(?<=[.:;!?])|^)\s*\(?\d{1,2}[.)](?:\s+(?=[A-Z\"“])|\s*$)")
GENERIC_OPENING = re.compile(r"^(?:in this (?:talk|section),?\s+)?the (?:speaker|presenter|talk)\b", re.I)


class PickedTakeaway(BaseModel):
    sentence: int = Field(description="The number of the sentence the takeaway is written from.")
    text: str


class ThemeReply(BaseModel):
    title: str
    takeaways: list[PickedTakeaway] = Field(default_factory=list, max_length=6)


def theme_schema(numbers: list[int], takeaways: int) -> dict[str, Any]:
    """`ThemeReply`'s JSON schema with the sentence numbers it may pick as an `enum` and at most `takeaways` items
    (llama.cpp turns both into its grammar)."""
    schema = ThemeReply.model_json_schema()
    schema["$defs"]["PickedTakeaway"]["properties"]["sentence"]["enum"] = list(numbers)
    schema["properties"]["takeaways"]["maxItems"] = max(1, min(takeaways, len(numbers)))
    return schema


@dataclass(frozen=True)
class Candidate:
    """A sentence of the talk the model may write a takeaway from: its number in the prompt, its text as said and
    cleaned of fillers, the segments it spans and when it starts."""

    number: int
    spoken: str
    text: str
    first: int
    last: int
    start: float | None


def talk_sentences(text: TalkText, max_words: int = 40) -> list[tuple[str, int, int]]:
    """(sentence as said, first segment, last segment) of every sentence of the talk (sentence ends before a
    capital, across segment boundaries); a run longer than `max_words` (unpunctuated auto-captions) is cut into even
    pieces of at most `max_words` words, as `pipeline.text.split_sentences` does."""
    found = []
    for start, end in sentence_bounds(text.original):
        spans = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text.original[start:end])]
        if not spans:
            continue
        parts = -(-len(spans) // max_words)
        size = -(-len(spans) // parts)
        for first in range(0, len(spans), size):
            piece = spans[first : first + size]
            a, b = piece[0][0], piece[-1][1]
            found.append((text.original[a:b], text.segment_at(a), text.segment_at(b - 1)))
    return found


def candidate_sentences(
    sentences: list[tuple[str, int, int]],
    transcript: Transcript,
    theme: Theme,
    segments: list[int],
    allowed: list[tuple[int, int]],
    limit: int,
) -> list[Candidate]:
    """Up to `limit` sentences of the theme to write takeaways from, numbered in the order they were said: first
    those holding the extractive takeaways and quotes (the extractive stage's best), then the other sentences of
    the excerpt's `segments`, most specific first (numbers, the theme's keywords, content words). Questions,
    sentences under 8 or over 45 words and sentences spanning more than twice `MAX_CITED` segments (short
    auto-caption cues) are left out.
    Hand-ranked rather than embedded: the extractive stage already chose the theme's central sentences; this only
    orders their neighbours, and a few keyword and number counts do that without another model pass."""
    seeds = [(c.first_segment, c.last_segment) for t in theme.takeaways for c in t.citations[:1]]
    seeds += [(q.segment, q.last_segment if q.last_segment is not None else q.segment) for q in theme.quotes]
    shown = set(segments)
    keys = {stem for keyword in theme.keywords for stem in content_stems(keyword)}
    ranked: list[tuple[tuple[float, ...], str, str, int, int]] = []
    for spoken, first, last in sentences:
        if not any(a <= first and last <= b for a, b in allowed) or last - first + 1 > 2 * MAX_CITED:
            continue
        cleaned = clean_sentence(spoken)
        if spoken.rstrip("\"'”’)").endswith("?") or not 8 <= len(cleaned.split()) <= 45:
            continue
        seed = any(first <= b and a <= last for a, b in seeds)
        if not seed and not all(index in shown for index in range(first, last + 1)):
            continue
        stems = content_stems(spoken)
        rank = (float(seed), float(bool(numbers_in(spoken))) + len(stems & keys), float(len(stems)))
        ranked.append((rank, spoken, cleaned, first, last))
    chosen = sorted(ranked, key=lambda item: item[0], reverse=True)[:limit]
    chosen.sort(key=lambda item: item[3])
    return [
        Candidate(number, spoken, cleaned, first, last, transcript.segments[first].start)
        for number, (_, spoken, cleaned, first, last) in enumerate(chosen, 1)
    ]


class OverviewReply(BaseModel):
    overview: str
    questions: list[str] = Field(default_factory=list, max_length=4)


class ProseParagraph(BaseModel):
    sentences: list[int] = Field(description="The numbers of the sentences the paragraph tells.")
    text: str


class ProseReply(BaseModel):
    paragraphs: list[ProseParagraph] = Field(default_factory=list, max_length=5)


def section_schema(numbers: list[int]) -> dict[str, Any]:
    """`ProseReply`'s JSON schema with the sentence numbers a paragraph may name as an `enum`, 1 to 3 a paragraph,
    and 2 to 4 paragraphs."""
    schema = ProseReply.model_json_schema()
    schema["$defs"]["ProseParagraph"]["properties"]["sentences"].update(
        items={"type": "integer", "enum": list(numbers)}, minItems=1, maxItems=3
    )
    schema["properties"]["paragraphs"].update(minItems=2, maxItems=4)
    return schema


@dataclass
class ThemePlan:
    """A theme to write: the extractive theme, the segments its prompt shows, and what was written for it."""

    number: int
    extractive: Theme
    allowed: list[tuple[int, int]]
    segments: list[int]
    excerpt: str
    candidates: list[Candidate] = field(default_factory=list)
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
        candidates: int = 8,
        quotes_per_theme: int = 2,
        key_quotes: int = 5,
        excerpt_tokens: int = 700,
        max_tokens: int | None = 320,
        section_tokens: int | None = 520,
        overview_max_words: int = 90,
        overview_tokens: int | None = None,
        extractive: Recapper | None = None,
        verifier: QuoteVerifier | None = None,
        on_plan: Callable[[int, int], None] | None = None,
    ) -> None:
        """:param workspace: where `recap(talk_id)` loads talks from (`recap_transcript` needs none).
        :param min_themes: fewest themes (a `themes` count given to `recap` overrides both bounds); the extractive
            stage is asked again for `max_themes` when it found more.
        :param takeaways_per_theme: takeaways asked for and kept per theme.
        :param candidates: numbered sentences a theme's prompt shows to pick the takeaways from.
        :param excerpt_tokens: transcript tokens of the theme the candidates besides the extractive ones come from.
        :param max_tokens: longest reply of one call (None: the generator's `max_tokens`).
        :param section_tokens: longest reply of a prose section's call (2 to 4 paragraphs with their sentence
            numbers: Qwen's hit 320 tokens and were cut off).
        :param overview_max_words: an overview longer than this is cut to its opening whole sentences within it.
        :param overview_tokens: longest reply of the overview's call (None: 4 tokens a word of `overview_max_words`,
            at least `max_tokens`: room for a reply twice the cap, which is then trimmed; a reply cut off is
            invalid JSON and falls back).
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
        self.candidates = candidates
        self.quotes_per_theme = quotes_per_theme
        self.key_quotes = key_quotes
        self.excerpt_tokens = excerpt_tokens
        self.max_tokens = max_tokens
        self.section_tokens = section_tokens
        self.overview_max_words = overview_max_words
        self.overview_tokens = overview_tokens or max(4 * overview_max_words, max_tokens or 0)
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
            model_takeaways=run.accepted,
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

    def rewrite_overview(
        self, transcript: Transcript, themes: list[Theme], extractive_overview: str, style: RecapStyle = "bullets"
    ) -> tuple[str, list[str], GroundingReport]:
        """(overview, questions, grounding) of a recap whose themes are already written: the last call of
        `recap_transcript` alone, `extractive_overview` its fallback (`bench/llm_qmsum.py` re-writes the overviews
        of stored recaps with it when only the overview's prompt or code changed)."""
        self.warm_up()
        run = _Run(transcript, TalkText.of(transcript), framing_pattern(transcript.talk.speakers))
        run.extractive = TalkRecap(talk=transcript.talk, overview=extractive_overview)
        overview, questions = self._overview(run, themes, style)
        return overview, questions, run.report

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
        candidates = candidate_sentences(run.sentences, run.transcript, theme, segments, allowed, self.candidates)
        return ThemePlan(number, theme, allowed, segments, excerpt_lines(run.transcript, segments), candidates)

    def _system(self, transcript: Transcript) -> str:
        talk = transcript.talk
        return render_prompt("recap_system", title=talk.display_title, speakers=talk.speakers, event=talk.event)

    def _ask(
        self,
        run: _Run,
        messages: list[ChatMessage],
        model_cls: type[BaseModel],
        label: str,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Any:
        value, attempts = generate_structured(
            self.generator, messages, model_cls, label=label, max_tokens=max_tokens or self.max_tokens, schema=schema
        )
        if value is None:
            run.failures[label] = attempts.errors[-1] if attempts.errors else "no reply"
        return value

    def _write_theme(self, run: _Run, plan: ThemePlan, plans: list[ThemePlan]) -> Theme:
        """The theme's title and takeaways from the model, checked; the extractive ones where they fail."""
        extractive = plan.extractive
        others = [p.title or p.extractive.title for p in plans if p is not plan]
        label = f"theme {plan.number}/{len(plans)}"
        reply = None
        if plan.candidates:
            user = render_prompt(
                "recap_theme_user",
                number=plan.number,
                themes=len(plans),
                keywords=extractive.keywords[:5],
                others=others,
                sentences=[(c.number, format_timestamp(c.start), c.text) for c in plan.candidates],
                takeaways=min(self.takeaways_per_theme, len(plan.candidates)),
                speaker=run.transcript.talk.speakers[0] if run.transcript.talk.speakers else "The speaker",
            )
            messages = [ChatMessage.from_system(self._system(run.transcript)), ChatMessage.from_user(user)]
            schema = theme_schema([c.number for c in plan.candidates], self.takeaways_per_theme)
            reply = self._ask(run, messages, ThemeReply, label, schema=schema)
        problems: list[str] = []
        if reply is None:
            reason = None if plan.candidates else "no candidate sentences (none of 8 to 45 words inside the theme)"
            run.fallback(label, "the extractive title and takeaways", reason=reason)
            items: list[PickedTakeaway] = []
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
        by_number = {c.number: c for c in plan.candidates}
        picked: set[int] = set()
        for item in items:
            run.report.citations_checked += 1
            candidate = by_number.get(item.sentence)
            if candidate is None:
                problem, text = "picks no listed sentence", item.text
                run.report.citations_dropped += 1
            elif item.sentence in picked:
                problem, text = "picks a sentence already used", item.text
            else:
                problem, text, (first, last) = self._check_picked(run, plan, item.text, candidate)
                if problem is None and repeats(text, run.written):
                    problem = "repeats another takeaway"
            if problem is not None or candidate is None:
                logger.info("%s: takeaway rejected (%s): [%s] %s", label, problem, item.sentence, item.text)
                problems.append(problem or "")
                run.report.claims_dropped += 1
                continue
            picked.add(item.sentence)
            if len(plan.takeaways) < self.takeaways_per_theme:
                run.written.append(text)
                plan.takeaways.append(self._takeaway(run.transcript, text, first, last))
                run.accepted += 1
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

    def _check_picked(
        self, run: _Run, plan: ThemePlan, text: str, candidate: Candidate
    ) -> tuple[str | None, str, tuple[int, int]]:
        """(problem or None, text, cited segments) of a takeaway written from `candidate`: checked against that
        sentence, else against it with the candidate said right before or after it (a takeaway joining two adjacent
        sentences, "The first paying customer … had used the tool for a year"), which it then cites both of."""
        speaker = run.transcript.segments[candidate.first].speaker
        problem, checked = check_rewrite(text, candidate.spoken, run.names, speaker=speaker)
        if problem is None or problem.startswith(("opens with", "vague", "names someone")):
            return problem, checked, (candidate.first, candidate.last)
        for other in plan.candidates:
            adjacent = other.first - 1 <= candidate.last and candidate.first - 1 <= other.last
            if other is candidate or not adjacent:
                continue
            pair = (other, candidate) if other.first < candidate.first else (candidate, other)
            joined = " ".join(c.spoken for c in pair)
            fits = pair[1].last - pair[0].first < 2 * MAX_CITED
            if fits and check_rewrite(text, joined, run.names, speaker=speaker)[0] is None:
                return None, checked, (pair[0].first, pair[1].last)
        return problem, checked, (candidate.first, candidate.last)

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
        reply = self._ask(run, messages, OverviewReply, "overview", max_tokens=self.overview_tokens)
        overview = " ".join(LIST_MARKER.sub(" ", reply.overview).split()) if reply is not None else ""
        sentences = [overview[a:b] for a, b in sentence_bounds(overview)]
        overview = " ".join(s for s in sentences if not VAGUE_PHRASES.search(s))  # "… and its importance"
        reason = "every sentence vague ('the importance of …')" if sentences and not overview else None
        written = len(overview.split())
        if written > self.overview_max_words:  # asked for 2 or 3 sentences, Qwen sometimes writes 130-230 words
            overview = trim_to_words(overview, self.overview_max_words)
            if overview:  # recorded beside the fallbacks, though it is the model's text
                run.report.fallbacks.append(
                    f"overview trimmed: {written} words cut to the first {len(overview.split())}"
                )
            else:
                reason = f"its first sentence alone is over {self.overview_max_words} words"
        if overview and len(overview.split()) < 12:
            reason = f"'{overview[:60]}' is too short"
        if reason is not None or not overview:
            run.fallback("overview", "the extractive overview", reason=reason)
            return run.extractive.overview if run.extractive else "", []
        questions = [" ".join(q.split()).rstrip(".") for q in reply.questions]
        # a question of a few words that is not the instruction copied back
        questions = [q for q in questions if 4 <= len(q.split()) <= 25 and "questions" not in q.lower()]
        return overview, [q if q.endswith("?") else f"{q}?" for q in questions]

    def _write_section(self, run: _Run, plan: ThemePlan, theme: Theme) -> ProseSection:
        """The theme's paragraphs, asked for after its takeaways in the same conversation (the prompt is in the
        model's cache), each built on numbered sentences it names (`paragraph_problem`); its sentences that open
        vaguely are dropped, a paragraph that fails is dropped, the time of its first sentence is added."""
        fallback = extractive_section(theme, run.transcript.talk)
        label = f"section {plan.number}"
        if not plan.conversation:
            run.fallback(label, "the extractive paragraphs", reason="no theme reply to build on")
            return fallback
        user = render_prompt(
            "recap_section_user",
            title=theme.title,
            takeaways=[t.text for t in theme.takeaways],
            speakers=run.transcript.talk.speakers,
        )
        schema = section_schema([c.number for c in plan.candidates])
        messages = [*plan.conversation, ChatMessage.from_user(user)]
        reply = self._ask(run, messages, ProseReply, label, schema=schema, max_tokens=self.section_tokens)
        if reply is None:
            run.fallback(label, "the extractive paragraphs")
            return fallback
        by_number = {c.number: c for c in plan.candidates}
        kept, told, problems = [], [], []
        for paragraph in reply.paragraphs:
            cited = [by_number[n] for n in dict.fromkeys(paragraph.sentences) if n in by_number]
            problem, text = paragraph_problem(paragraph.text, [c.spoken for c in cited])
            if problem is None and repeats(text, told, threshold=80.0):  # Qwen wrote one paragraph three times
                problem = "repeats another paragraph"
            if problem is not None:
                logger.info("%s: paragraph dropped (%s): %s %s", label, problem, paragraph.sentences, paragraph.text)
                problems.append(problem)
                continue
            told.append(text)
            body, mark = (text[:-1], text[-1]) if text[-1:] in ".!?" else (text, ".")
            kept.append(f"{body} ({format_timestamp(min(c.start or 0.0 for c in cited))}){mark}")
        reasons = "; ".join(sorted(set(problems)))
        if len(kept) < 2:
            run.fallback(label, "the extractive paragraphs", reason=f"{len(kept)} usable paragraphs ({reasons})")
            return fallback
        if problems:
            run.report.fallbacks.append(f"{label}: {len(problems)} paragraphs dropped ({reasons})")
        return fallback.model_copy(update={"paragraphs": kept[:4]})


def trim_to_words(text: str, max_words: int) -> str:
    """The opening whole sentences of `text` that fit in `max_words` words ("" when the first does not): the
    sentences are the model's as written, so nothing is cut mid-claim. The opening ones, not the best ones: the
    overview is asked for theme by theme in the talk's order, and a prefix reads as the reply was meant to."""
    kept: list[str] = []
    words = 0
    for start, end in sentence_bounds(text):
        sentence = text[start:end].strip()
        words += len(sentence.split())
        if words > max_words:
            break
        kept.append(sentence)
    return " ".join(kept)


def paragraph_problem(text: str, said: list[str]) -> tuple[str | None, str]:
    """(problem or None, the paragraph) for a prose paragraph built on the sentences `said`: its sentences that
    open with "The speaker …" or say "the importance of …" are dropped; then it must keep one, state no number its
    sentences do not say and share content words with them (`is_specific`)."""
    text = " ".join(text.split())
    if not said:
        return "names no listed sentence", text
    sentences = [text[a:b] for a, b in sentence_bounds(text)]
    clear = [s for s in sentences if not VAGUE_PHRASES.search(s) and not GENERIC_OPENING.match(s)]
    if not clear:
        return "vague", text
    text = " ".join(clear)
    spoken = " ".join(said)
    if numbers_in(text) - numbers_in(spoken):
        return "a number its sentences do not say", text
    if not is_specific(text, spoken):
        return "says too little of its sentences", text
    return None, text


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
    accepted: int = 0
    _sentences: list[tuple[str, int, int]] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.transcript.talk.speakers)

    @property
    def sentences(self) -> list[tuple[str, int, int]]:
        """The talk's sentences (`talk_sentences`), split once."""
        if self._sentences is None:
            self._sentences = talk_sentences(self.text)
        return self._sentences

    def fallback(self, part: str, instead: str, reason: str | None = None) -> None:
        """Records that `part` fell back to the extractive method (`instead`), and why."""
        problem = self.failures.get(part)
        reason = reason or (f"invalid reply after a repair attempt ({problem})" if problem else "no usable reply")
        self.report.fallbacks.append(f"{part}: {reason}; used {instead}")
