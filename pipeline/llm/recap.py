"""Abstractive talk recaps with an LLM, map–reduce within the model's context, grounded before output.

1. Map: the transcript is cut into windows of whole segments (lines `[n] text`) that fit the context beside the
   prompt and the reply, counted with the model's own tokenizer in process (an estimate, words × 1.4, for remote
   endpoints). Nothing is cut silently: a segment longer than a window is split into pieces that keep its number.
   Each window gets a digest (summary and topics).
2. Reduce: themes (title, keywords, the windows they draw on) and an overview are proposed from the digests
   (merged a few at a time first when they do not fit one prompt); a window no theme names goes to the theme
   closest to its digest, so every part of the talk is read again for takeaways.
3. Each theme's takeaways and quotes are written from its own windows, one call per (window, theme); the calls
   of a window share the prompt's prefix, which llama.cpp keeps in its cache.

Grounding in code: a takeaway's citations must name segment ranges of the talk inside the window the model was
shown (others are dropped and counted, and a takeaway left without one is dropped); quotes go through the
`QuoteVerifier`. A part whose reply stays invalid after the repair attempt falls back to the extractive
`Recapper` for that part, recorded in `grounding.fallbacks`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haystack.dataclasses import ChatMessage
from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from pipeline.components.quotes import QuoteVerifier, merge_reports, normalise
from pipeline.llm.base import Generator
from pipeline.llm.prompts import render_prompt
from pipeline.llm.structured import generate_structured
from pipeline.models import (
    Citation,
    GroundingReport,
    Quote,
    Segment,
    Span,
    Takeaway,
    TalkRecap,
    Theme,
    Transcript,
)
from pipeline.recap import EmptyTalkError, RecapError, Recapper
from pipeline.text import split_sentences, words
from pipeline.workspace import Workspace


class DigestReply(BaseModel):
    summary: str
    topics: list[str] = Field(default_factory=list, max_length=5)


class ThemeProposal(BaseModel):
    title: str
    keywords: list[str] = Field(default_factory=list, max_length=6)
    parts: list[int] = Field(default_factory=list, max_length=12)


class ThemesReply(BaseModel):
    overview: str
    themes: list[ThemeProposal] = Field(min_length=1, max_length=8)


class TakeawayItem(BaseModel):
    text: str
    first_segment: int
    last_segment: int


class QuoteItem(BaseModel):
    text: str
    segment: int


class TakeawaysReply(BaseModel):
    takeaways: list[TakeawayItem] = Field(default_factory=list, max_length=4)
    quotes: list[QuoteItem] = Field(default_factory=list, max_length=3)


@dataclass
class Window:
    """Consecutive segments shown to the model at once, as `[n] text` lines."""

    number: int
    first: int
    last: int
    lines: list[str] = field(default_factory=list)
    tokens: int = 0

    @property
    def excerpt(self) -> str:
        return "\n".join(self.lines)

    def prompt_fields(self, parts: int) -> dict[str, Any]:
        """The window's fields for a prompt: which part of how many, its segment range and its excerpt."""
        return {"part": self.number, "parts": parts, "first": self.first, "last": self.last, "excerpt": self.excerpt}


@dataclass
class Digest:
    """A summary of one window, or of several consecutive ones once condensed."""

    number: int
    first: int
    last: int
    summary: str
    topics: list[str]
    windows: list[int]


@dataclass
class ThemePlan:
    """A theme to write: its title and keywords and the windows its takeaways come from."""

    title: str
    keywords: list[str]
    windows: list[int]
    takeaways: list[Takeaway] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    cited: dict[int, tuple[int, int]] = field(default_factory=dict)


def segment_line(segment: Segment, with_speaker: bool) -> str:
    speaker = f"{segment.speaker}: " if with_speaker and segment.speaker else ""
    return f"[{segment.index}] {speaker}{segment.text}"


def make_windows(transcript: Transcript, budget: int, count_tokens: Callable[[str], int]) -> list[Window]:
    """Windows of whole segments of at most `budget` tokens each, about even in size. A segment longer than the
    budget is split into pieces that keep its number (so nothing is dropped)."""
    with_speaker = len({s.speaker for s in transcript.segments if s.speaker}) > 1
    lines: list[tuple[int, str, int]] = []
    for segment in transcript.segments:
        if not segment.text.strip():
            continue
        line = segment_line(segment, with_speaker)
        tokens = count_tokens(line) + 1
        if tokens <= budget:
            lines.append((segment.index, line, tokens))
            continue
        lines.extend(
            (segment.index, piece, count) for piece, count in _split_line(line, segment.index, budget, count_tokens)
        )
    if not lines:
        return []
    total = sum(tokens for _, _, tokens in lines)
    target = min(budget, math.ceil(total / math.ceil(total / budget) * 1.1))
    windows: list[Window] = []
    current: Window | None = None
    for index, line, tokens in lines:
        if current is None or current.tokens + tokens > target:
            current = Window(number=len(windows) + 1, first=index, last=index)
            windows.append(current)
        current.lines.append(line)
        current.tokens += tokens
        current.last = index
    return windows


def _split_line(line: str, index: int, budget: int, count_tokens: Callable[[str], int]) -> list[tuple[str, int]]:
    """A segment's line too long for one window, as pieces of at most `budget` tokens that keep its number."""
    words_ = line.split()
    pieces = math.ceil((count_tokens(line) + 1) / (budget * 0.9))
    while True:
        size = max(1, math.ceil(len(words_) / pieces))
        texts = [" ".join(words_[i : i + size]) for i in range(0, len(words_), size)]
        texts = [text if n == 0 else f"[{index}] … {text}" for n, text in enumerate(texts)]
        counted = [(text, count_tokens(text) + 1) for text in texts]
        if all(count <= budget for _, count in counted) or size == 1:
            return counted
        pieces += 1


def ground_takeaway(
    item: TakeawayItem, transcript: Transcript, window: Window, report: GroundingReport
) -> Takeaway | None:
    """The takeaway with its citation if that names segments of the talk inside `window` (a reversed range is
    put in order); None, counted, when no valid citation is left."""
    first, last = sorted((item.first_segment, item.last_segment))
    report.citations_checked += 1
    text = " ".join(item.text.split())
    if not (window.first <= first and last <= window.last and first >= 0 and last < len(transcript.segments)):
        report.citations_dropped += 1
        report.claims_dropped += bool(text)
        return None
    if not text:
        return None
    start = transcript.segments[first].start
    citation = Citation(
        talk_id=transcript.talk.id,
        first_segment=first,
        last_segment=last,
        start=start,
        url=transcript.talk.url_at(start),
    )
    return Takeaway(text=text, citations=[citation])


class LLMRecapper:
    """Recaps talks with an LLM (see the module's docstring); the same calls as the extractive `Recapper`."""

    def __init__(
        self,
        generator: Generator,
        workspace: Workspace | None = None,
        *,
        min_themes: int = 2,
        max_themes: int = 5,
        takeaways_per_theme: int = 5,
        quotes_per_theme: int = 3,
        key_quotes: int = 5,
        max_tokens: int | None = None,
        extractive: Recapper | None = None,
        verifier: QuoteVerifier | None = None,
        on_plan: Callable[[int, int], None] | None = None,
    ) -> None:
        """:param workspace: where `recap(talk_id)` loads talks from (`recap_transcript` needs none).
        :param min_themes: fewest themes asked for (a `themes` count given to `recap` overrides both bounds).
        :param max_tokens: longest reply of one call (default: the generator's `max_tokens`).
        :param extractive: the extractive `Recapper` for fallbacks (made when first needed if not given).
        :param verifier: the `QuoteVerifier` (made here if not given).
        :param on_plan: told `(calls made, calls planned)` for the recap under way: an estimate once the talk is cut
            into windows, the exact count once the themes are known (repair attempts come on top)."""
        if generator is None:
            raise ValueError("LLMRecapper needs an LLM generator (llama-cpp or openai); use Recapper otherwise")
        if min(min_themes, max_themes) < 1:
            raise ValueError("min_themes and max_themes must be at least 1")
        min_themes = min(min_themes, max_themes)
        self.generator = generator
        self.workspace = workspace
        self.min_themes = min_themes
        self.max_themes = max_themes
        self.takeaways_per_theme = takeaways_per_theme
        self.quotes_per_theme = quotes_per_theme
        self.key_quotes = key_quotes
        self.max_tokens = max_tokens
        self._extractive = extractive
        self.on_plan = on_plan
        self.verifier = verifier or QuoteVerifier()

    def warm_up(self) -> None:
        self.generator.warm_up()

    # -- the steps ----------------------------------------------------------------------------------------------

    def recap(self, talk_id: str, themes: int | None = None) -> TalkRecap:
        """The recap of one talk of the workspace (`WorkspaceError` when there is no such talk)."""
        if self.workspace is None:
            raise RecapError("LLMRecapper.recap(talk_id) needs a workspace; use recap_transcript")
        return self.recap_transcript(self.workspace.load_transcript(talk_id), themes)

    def recap_transcript(self, transcript: Transcript, themes: int | None = None) -> TalkRecap:
        """The recap of a (cleaned) transcript; `themes` asks for exactly that many themes."""
        if themes is not None and themes < 1:
            raise RecapError(f"the number of themes must be at least 1 (got {themes})")
        if not any(segment.text.strip() for segment in transcript.segments):
            raise EmptyTalkError(f"talk '{transcript.talk.id}' has no transcript text to recap")
        started = time.perf_counter()
        self.warm_up()
        run = _Run(transcript, themes or self.min_themes, themes or self.max_themes)
        budget = self.window_budget(transcript, run.max_themes)
        windows = make_windows(transcript, budget, self.generator.count_tokens)
        calls_before, tokens_before = self.generator.usage.calls, self.generator.usage.tokens
        self._plan(0, 2 * len(windows) + 1)  # a digest a window, the themes, and about one takeaways call a window
        digests = self._condense(run, [self._digest(run, window, len(windows)) for window in windows])
        overview, plans = self._themes(run, digests, windows)
        made = self.generator.usage.calls - calls_before
        self._plan(made, made + sum(len(plan.windows) for plan in plans))
        for window in windows:
            for plan in plans:
                if window.number in plan.windows:
                    others = [other.title for other in plans if other is not plan]
                    self._takeaways(run, plan, others, window, len(windows))
        themes = [theme for plan in plans if (theme := self._finish_theme(run, plan, windows))]
        key_quotes = [theme.quotes[0] for theme in themes if theme.quotes][: self.key_quotes]
        info = self.generator.info(time.perf_counter() - started)
        info.parameters.update(
            windows=len(windows),
            calls=self.generator.usage.calls - calls_before,
            tokens=self.generator.usage.tokens - tokens_before,
        )
        return TalkRecap(
            talk=transcript.talk,
            overview=overview,
            themes=themes,
            key_quotes=key_quotes,
            generation=info,
            grounding=run.report,
        )

    def _plan(self, made: int, planned: int) -> None:
        if self.on_plan is not None:
            self.on_plan(made, planned)

    def window_budget(self, transcript: Transcript, max_themes: int | None = None) -> int:
        """Tokens of transcript one prompt can hold beside the instructions and the longest reply."""
        system = self._system(transcript)
        user = render_prompt(
            "recap_takeaways_user",
            part=99,
            parts=99,
            first=99999,
            last=99999,
            excerpt="",
            theme="x " * 12,
            keywords=["x"] * 5,
            others=["x " * 8] * (max_themes or self.max_themes),
            max_takeaways=self.takeaways_per_theme,
            max_quotes=self.quotes_per_theme,
        )
        prompt = self.generator.count_message_tokens([ChatMessage.from_system(system), ChatMessage.from_user(user)])
        context = self.generator.context_tokens
        reply = self.max_tokens or self.generator.config.max_tokens
        budget = context - prompt - reply - self.generator.safety_margin
        if budget < 200:
            raise ValueError(f"the context ({context} tokens) leaves no room for the transcript: raise n_ctx")
        return budget

    def _system(self, transcript: Transcript) -> str:
        talk = transcript.talk
        return render_prompt("recap_system", title=talk.display_title, speakers=talk.speakers)

    def _ask(self, run: _Run, user: str, model_cls: type[BaseModel], label: str) -> Any:
        messages = [ChatMessage.from_system(self._system(run.transcript)), ChatMessage.from_user(user)]
        value, attempts = generate_structured(
            self.generator, messages, model_cls, label=label, max_tokens=self.max_tokens
        )
        run.attempts.append(attempts.attempts)
        if value is None:
            run.failures[label] = attempts.errors[-1]
        return value

    def _digest(self, run: _Run, window: Window, parts: int) -> Digest:
        user = render_prompt("recap_digest_user", **window.prompt_fields(parts))
        reply = self._ask(run, user, DigestReply, f"digest {window.number}/{parts}")
        if reply is None:
            summary, topics = self._extractive_digest(run, window)
            run.fallback(f"digest {window.number}/{parts}", "extractive sentences of the window")
            return Digest(window.number, window.first, window.last, summary, topics, [window.number])
        topics = [t.strip() for t in reply.topics if t.strip()]
        return Digest(
            window.number, window.first, window.last, " ".join(reply.summary.split()), topics, [window.number]
        )

    def _condense(self, run: _Run, digests: list[Digest]) -> list[Digest]:
        """Digests merged, consecutive ones at a time, until all of them fit one themes prompt (a long talk's
        digests may not fit at once; none is left out)."""
        room = self._digest_room(run)
        while len(digests) > 1 and self._digest_tokens(digests) > room:
            groups: list[list[Digest]] = [[]]
            for digest in digests:
                if groups[-1] and self._digest_tokens([*groups[-1], digest]) > room:
                    groups.append([])
                groups[-1].append(digest)
            if len(groups) == len(digests):  # every digest alone fills the room: merge pairs
                groups = [digests[i : i + 2] for i in range(0, len(digests), 2)]
            digests = [self._merge(run, group, number) for number, group in enumerate(groups, start=1)]
        return digests

    def _digest_room(self, run: _Run) -> int:
        user = render_prompt(
            "recap_themes_user", digests=[], parts=99, min_themes=run.min_themes, max_themes=run.max_themes
        )
        system = ChatMessage.from_system(self._system(run.transcript))
        prompt = self.generator.count_message_tokens([system, ChatMessage.from_user(user)])
        reply = self.max_tokens or self.generator.config.max_tokens
        return self.generator.context_tokens - prompt - reply - self.generator.safety_margin

    def _digest_tokens(self, digests: list[Digest]) -> int:
        return sum(
            self.generator.count_tokens(
                f"Part 999 (segments {d.first} to {d.last}): {d.summary}\nTopics: {'; '.join(d.topics)}"
            )
            + 2
            for d in digests
        )

    def _merge(self, run: _Run, group: list[Digest], number: int) -> Digest:
        first, last, windows = group[0].first, group[-1].last, [w for d in group for w in d.windows]
        if len(group) == 1:
            return Digest(number, first, last, group[0].summary, group[0].topics, windows)
        user = render_prompt("recap_condense_user", digests=group, first=first, last=last)
        label = f"condense segments {first}-{last}"
        reply = self._ask(run, user, DigestReply, label)
        if reply is None:
            run.fallback(label, "the first sentence of each summary")
            summary = " ".join((split_sentences(d.summary) or [d.summary])[0] for d in group)
            topics = list(dict.fromkeys(t for d in group for t in d.topics))[:5]
        else:
            summary, topics = " ".join(reply.summary.split()), [t.strip() for t in reply.topics if t.strip()]
        return Digest(number, first, last, summary, topics, windows)

    def _themes(self, run: _Run, digests: list[Digest], windows: list[Window]) -> tuple[str, list[ThemePlan]]:
        user = render_prompt(
            "recap_themes_user",
            digests=digests,
            parts=len(digests),
            min_themes=run.min_themes,
            max_themes=run.max_themes,
        )
        reply = self._ask(run, user, ThemesReply, "themes")
        if reply is None:
            run.fallback("themes", "the extractive recap's themes and overview")
            extractive = self._extractive_recap(run)
            plans = [
                ThemePlan(theme.title, list(theme.keywords), _windows_of_spans(theme.spans, windows))
                for theme in extractive.themes[: run.max_themes]
            ]
            return extractive.overview, [plan for plan in plans if plan.windows]
        plans: list[ThemePlan] = []
        seen: set[str] = set()
        for proposal in reply.themes[: run.max_themes]:
            title = " ".join(proposal.title.split()).strip(" .")
            if not title or title.lower() in seen:
                continue
            seen.add(title.lower())
            keywords = list(dict.fromkeys(k.strip() for k in proposal.keywords if k.strip()))
            parts = [n for n in dict.fromkeys(proposal.parts) if 1 <= n <= len(digests)]
            numbers = [w for n in parts for w in digests[n - 1].windows]
            numbers = numbers or _best_digest(title, keywords, digests).windows
            plans.append(ThemePlan(title, keywords, sorted(set(numbers))))
        _cover_every_window(plans, digests)
        overview = " ".join(reply.overview.split())
        if not overview:
            run.fallback("overview", "the extractive recap's overview")
            overview = self._extractive_recap(run).overview
        return overview, plans

    def _takeaways(self, run: _Run, plan: ThemePlan, others: list[str], window: Window, parts: int) -> None:
        if len(plan.takeaways) >= self.takeaways_per_theme:
            return
        user = render_prompt(
            "recap_takeaways_user",
            **window.prompt_fields(parts),
            theme=plan.title,
            keywords=plan.keywords,
            others=others,
            max_takeaways=min(3, self.takeaways_per_theme),
            max_quotes=min(2, self.quotes_per_theme),
        )
        label = f"takeaways: {plan.title[:40]} (part {window.number}/{parts})"
        reply = self._ask(run, user, TakeawaysReply, label)
        if reply is None:
            run.fallback(label, "the extractive recap's takeaways and quotes for these segments")
            self._extractive_takeaways(run, plan, window)
            return
        for item in reply.takeaways:
            takeaway = ground_takeaway(item, run.transcript, window, run.report)
            if takeaway and not run.repeats(takeaway.text) and len(plan.takeaways) < self.takeaways_per_theme:
                run.written.append(takeaway.text)
                plan.takeaways.append(takeaway)
                plan.cited[window.number] = _widen(plan.cited.get(window.number), takeaway.citations[0])
        quotes = [self._quote(run.transcript, item) for item in reply.quotes if item.text.strip(" \"'“”")]
        for quote in self._verify(run, quotes):
            if normalise(quote.text) not in run.quoted and len(plan.quotes) < self.quotes_per_theme:
                run.quoted.add(normalise(quote.text))
                plan.quotes.append(quote)

    def _finish_theme(self, run: _Run, plan: ThemePlan, windows: list[Window]) -> Theme | None:
        if not plan.takeaways:
            run.fallback(
                f"takeaways: {plan.title[:40]}",
                "the extractive recap's takeaways for its segments",
                reason="no grounded takeaway was left",
            )
            for number in plan.windows:
                self._extractive_takeaways(run, plan, windows[number - 1])
        if not plan.takeaways:
            return None
        talk, segments = run.transcript.talk, run.transcript.segments
        ranges = [plan.cited[n] for n in sorted(plan.cited)] or [
            (windows[n - 1].first, windows[n - 1].last) for n in plan.windows
        ]
        spans = [
            Span(talk_id=talk.id, first_segment=a, last_segment=b, start=segments[a].start, end=segments[b].end)
            for a, b in ranges
        ]
        return Theme(
            title=plan.title,
            keywords=plan.keywords,
            takeaways=plan.takeaways,
            quotes=plan.quotes,
            spans=spans,
            talk_ids=[talk.id],
        )

    # -- grounding ----------------------------------------------------------------------------------------------

    def _quote(self, transcript: Transcript, item: QuoteItem) -> Quote:
        """A `Quote` as the model proposed it; the verifier finds where (and whether) the talk says it."""
        segment = transcript.segments[min(max(item.segment, 0), len(transcript.segments) - 1)]
        return Quote(
            text=" ".join(item.text.split()).strip("\"'“”"),
            talk_id=transcript.talk.id,
            speaker=segment.speaker,
            start=segment.start,
            segment=segment.index,
        )

    def _verify(self, run: _Run, quotes: list[Quote]) -> list[Quote]:
        """Quotes checked against the transcript by the `QuoteVerifier` (counts go to the report)."""
        if not quotes:
            return []
        result = self.verifier.run(quotes=quotes, transcript=run.transcript)
        run.report = merge_reports(run.report, result["report"])
        return result["quotes"]

    # -- extractive fallbacks -----------------------------------------------------------------------------------

    def _extractive_recap(self, run: _Run) -> TalkRecap:
        if run.extractive is None:
            if self._extractive is None:
                self._extractive = Recapper()  # recap_transcript needs no workspace
            run.extractive = self._extractive.recap_transcript(run.transcript)
        return run.extractive

    def _extractive_digest(self, run: _Run, window: Window) -> tuple[str, list[str]]:
        """The extractive recap's takeaways inside the window, or else the window's first sentences."""
        recap = self._extractive_recap(run)
        inside = [
            takeaway.text
            for theme in recap.themes
            for takeaway in theme.takeaways
            if any(window.first <= c.first_segment <= window.last for c in takeaway.citations)
        ]
        if not inside:
            text = " ".join(s.text for s in run.transcript.segments[window.first : window.last + 1])
            inside = split_sentences(text)[:3]
        topics = [t.title for t in recap.themes if _windows_of_spans(t.spans, [window])]
        return " ".join(inside[:4]), topics[:5]

    def _extractive_takeaways(self, run: _Run, plan: ThemePlan, window: Window) -> None:
        """The extractive recap's takeaways and quotes that cite segments inside the window."""
        recap = self._extractive_recap(run)
        for theme in recap.themes:
            for takeaway in theme.takeaways:
                inside = [c for c in takeaway.citations if window.first <= c.first_segment <= window.last]
                if inside and len(plan.takeaways) < self.takeaways_per_theme and not run.repeats(takeaway.text):
                    run.written.append(takeaway.text)
                    plan.takeaways.append(takeaway)
                    plan.cited[window.number] = _widen(plan.cited.get(window.number), inside[0])
            for quote in theme.quotes:
                inside = window.first <= quote.segment <= window.last and normalise(quote.text) not in run.quoted
                if inside and len(plan.quotes) < self.quotes_per_theme:
                    run.quoted.add(normalise(quote.text))
                    plan.quotes.append(quote)


@dataclass
class _Run:
    """The state of one recap."""

    transcript: Transcript
    min_themes: int
    max_themes: int
    report: GroundingReport = field(default_factory=GroundingReport)
    attempts: list[int] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    extractive: TalkRecap | None = None
    written: list[str] = field(default_factory=list)
    quoted: set[str] = field(default_factory=set)

    def repeats(self, text: str) -> bool:
        """Whether a takeaway says what one already written (for any theme) says: nearly the same words, and the
        same numbers."""
        new = normalise(text)
        numbers = {word for word in new.split() if word.isdigit()}
        for old in map(normalise, self.written):
            if fuzz.ratio(new, old) >= 88 and numbers == {word for word in old.split() if word.isdigit()}:
                return True
        return False

    def fallback(self, part: str, instead: str, reason: str | None = None) -> None:
        """Records that `part` fell back to the extractive method (`instead`), and why."""
        problem = self.failures.get(part)
        reason = reason or (f"invalid reply after a repair attempt ({problem})" if problem else "no usable reply")
        self.report.fallbacks.append(f"{part}: {reason}; used {instead}")


def _widen(current: tuple[int, int] | None, citation: Citation) -> tuple[int, int]:
    if current is None:
        return citation.first_segment, citation.last_segment
    return min(current[0], citation.first_segment), max(current[1], citation.last_segment)


def _windows_of_spans(spans: list[Span], windows: list[Window]) -> list[int]:
    return [w.number for w in windows if any(s.first_segment <= w.last and s.last_segment >= w.first for s in spans)]


def _cover_every_window(plans: list[ThemePlan], digests: list[Digest]) -> None:
    """Gives each window no theme named to the theme sharing most words with its digest, so that no part of the
    talk goes unread when takeaways are written."""
    covered = {number for plan in plans for number in plan.windows}
    for digest in digests:
        missing = [number for number in digest.windows if number not in covered]
        if not missing or not plans:
            continue
        said = set(words(f"{digest.summary} {' '.join(digest.topics)}"))
        best = max(plans, key=lambda plan: len(said & set(words(" ".join([plan.title, *plan.keywords])))))
        best.windows = sorted({*best.windows, *missing})
        covered.update(missing)


def _best_digest(title: str, keywords: list[str], digests: list[Digest]) -> Digest:
    """The digest sharing most words with a theme that named no valid part."""
    wanted = set(words(" ".join([title, *keywords])))
    scores = [len(wanted & set(words(f"{d.summary} {' '.join(d.topics)}"))) for d in digests]
    return digests[scores.index(max(scores))]
