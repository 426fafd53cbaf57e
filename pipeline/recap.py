"""Themes and recaps without a language model: the extractive recap Pipeline and the `Recapper` service.

sentences → embeddings → theme segmentation → keyphrase titles → takeaways → citation check → quote candidates
→ quote verification → quotes placed in themes → `TalkRecap` (or, for an event's talks, `EventDigest`).
Settings were chosen on QMSum (`bench/themes_qmsum.py`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from haystack import Pipeline, component

from pipeline.components.chapter_titles import ChapterTitler
from pipeline.components.keyphrases import KeyphraseTitler
from pipeline.components.quotes import CitationChecker, QuoteVerifier, merge_reports
from pipeline.components.segmenter import SentenceSplitter, ThemeSegmenter
from pipeline.components.stored_sentences import StoredSentenceEmbedder
from pipeline.components.takeaways import TakeawayExtractor
from pipeline.components.themes import QuotePicker, QuotePlacer
from pipeline.embedding import EMBEDDING_MODEL_NAME, RECAP_ENCODER_ENV, document_embedder, encoder_choice
from pipeline.models import EventDigest, GenerationInfo, GroundingReport, Quote, Talk, TalkRecap, Theme, Transcript
from pipeline.workspace import Workspace


class RecapError(ValueError):
    """A talk or event cannot be recapped as asked; the message says which and why."""


class EmptyTalkError(RecapError):
    """The talk's transcript has no text."""


@dataclass(frozen=True)
class RecapSettings:
    """How the extractive recap works. Segmentation and overview settings chosen on QMSum: see
    `bench/themes_qmsum.py`."""

    segmentation: str = "dp"
    unit_words: int = 40
    min_theme_words: int = 400
    max_themes: int = 8
    min_excess: float = 0.008
    recur_similarity: float = 0.3
    cross_talk_similarity: float = 0.35
    keywords: int = 6
    min_takeaways: int = 2
    max_takeaways: int = 5
    max_quotes_per_theme: int = 3
    key_quotes: int = 5
    overview_words: int = 120
    model: str = EMBEDDING_MODEL_NAME
    # the encoder of the sentences a recap or digest embeds itself (every sentence of a transcript recapped without
    # a store, of an event digest, of a stored talk whose store keeps none of their own vectors as for talks
    # ingested now; the few missing ones of a talk with own vectors): the int8 ONNX export, twice as fast as torch
    # on one thread with the same recap quality on QMSum val (`bench/recap_encoder_qmsum.py`). None: named by
    # `resolved` when a pipeline is built (`TALKS_RECAP_ENCODER`, else onnx-int8), and recorded in the parameters.
    sentence_encoder: str | None = None

    def resolved(self) -> RecapSettings:
        """These settings with `sentence_encoder` named (`EncoderSettingError`, one line, for a bad
        `TALKS_RECAP_ENCODER`): the one place it is chosen."""
        if self.sentence_encoder is not None:
            return self
        return replace(self, sentence_encoder=encoder_choice(RECAP_ENCODER_ENV, "onnx-int8"))


def _add_theme_components(pipeline: Pipeline, settings: RecapSettings, vectors: Any = None) -> None:
    """Everything up to grounded themes; the caller adds and connects the builder. `settings`: resolved (see
    `RecapSettings.resolved`). `vectors`: a store keeping sentence embeddings (see `StoredSentenceEmbedder`), so
    that sentences embedded at ingest are not embedded again."""
    pipeline.add_component("splitter", SentenceSplitter())
    embedder = document_embedder(encoder=settings.sentence_encoder)
    pipeline.add_component("embedder", embedder if vectors is None else StoredSentenceEmbedder(embedder, vectors))
    pipeline.add_component(
        "segmenter",
        ThemeSegmenter(
            method=settings.segmentation,
            unit_words=settings.unit_words,
            min_theme_words=settings.min_theme_words,
            max_themes=settings.max_themes,
            min_excess=settings.min_excess,
            recur_similarity=settings.recur_similarity,
            cross_talk_similarity=settings.cross_talk_similarity,
        ),
    )
    pipeline.add_component("titler", KeyphraseTitler(keywords=settings.keywords))
    pipeline.add_component("chapter_titler", ChapterTitler())
    pipeline.add_component(
        "takeaways",
        TakeawayExtractor(min_takeaways=settings.min_takeaways, max_takeaways=settings.max_takeaways),
    )
    pipeline.add_component("citation_checker", CitationChecker())
    pipeline.add_component("quote_picker", QuotePicker(max_per_theme=settings.max_quotes_per_theme))
    pipeline.add_component("quote_verifier", QuoteVerifier())
    pipeline.add_component("quote_placer", QuotePlacer(key_quotes=settings.key_quotes))
    pipeline.connect("splitter.documents", "embedder.documents")
    pipeline.connect("embedder.documents", "segmenter.documents")
    pipeline.connect("segmenter.themes", "titler.themes")
    pipeline.connect("segmenter.documents", "titler.documents")
    pipeline.connect("titler.themes", "chapter_titler.themes")
    pipeline.connect("segmenter.documents", "chapter_titler.documents")
    pipeline.connect("chapter_titler.themes", "takeaways.themes")
    pipeline.connect("segmenter.documents", "takeaways.documents")
    pipeline.connect("takeaways.themes", "citation_checker.themes")
    pipeline.connect("citation_checker.themes", "quote_picker.themes")
    pipeline.connect("segmenter.documents", "quote_picker.documents")
    pipeline.connect("quote_picker.quotes", "quote_verifier.quotes")
    pipeline.connect("citation_checker.themes", "quote_placer.themes")
    pipeline.connect("quote_verifier.quotes", "quote_placer.quotes")
    pipeline.connect("segmenter.documents", "quote_placer.documents")


def _connect_builder(pipeline: Pipeline) -> None:
    pipeline.connect("quote_placer.themes", "builder.themes")
    pipeline.connect("quote_placer.key_quotes", "builder.key_quotes")
    pipeline.connect("takeaways.scores", "builder.takeaway_scores")
    pipeline.connect("quote_verifier.report", "builder.quote_report")
    pipeline.connect("citation_checker.report", "builder.citation_report")


def build_recap_pipeline(settings: RecapSettings = RecapSettings(), vectors: Any = None) -> Pipeline:
    """One talk → `TalkRecap`. Inputs: see `pipeline_inputs`. `vectors`: see `_add_theme_components`."""
    from pipeline.pipelines import io_metadata

    pipeline = Pipeline(metadata=io_metadata(pipeline_inputs("transcripts", "theme_count"), {"recap": "builder.recap"}))
    settings = settings.resolved()
    _add_theme_components(pipeline, settings, vectors)
    pipeline.add_component("builder", RecapBuilder(overview_words=settings.overview_words, parameters=asdict(settings)))
    _connect_builder(pipeline)
    return pipeline


def build_digest_pipeline(settings: RecapSettings = RecapSettings()) -> Pipeline:
    """Several talks of an event → `EventDigest` (themes shared across talks first)."""
    pipeline = Pipeline()
    settings = settings.resolved()
    _add_theme_components(pipeline, settings)
    pipeline.add_component(
        "builder", DigestBuilder(overview_words=settings.overview_words, parameters=asdict(settings))
    )
    _connect_builder(pipeline)
    return pipeline


def pipeline_inputs(transcripts: list[Transcript], themes: int | None) -> dict[str, dict[str, Any]]:
    return {
        "splitter": {"transcripts": transcripts},
        "segmenter": {"transcripts": transcripts, "theme_count": themes},
        "chapter_titler": {"transcripts": transcripts},
        "quote_verifier": {"transcripts": transcripts},
        "citation_checker": {"transcripts": transcripts},
        "builder": {"transcripts": transcripts, "theme_count": themes},
    }


def join_names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
TALK_KINDS = ("panel", "lightning talk", "fireside chat", "keynote", "workshop", "interview", "talk")


def talk_intro(talk: Talk, themes: list[Theme]) -> str:
    """The overview's first sentence: which talk, where and when, who spoke, and the themes, e.g. "In the panel
    “Running Remote Engineering Teams” at X on 14 May 2026, A, B and C cover four themes: …"."""
    where = f" at {talk.event}" if talk.event else ""
    when = f" on {talk.date.day} {talk.date:%B %Y}" if talk.date else ""
    titles = [t.title for t in themes if t.title]
    topics = join_names([t[:1].lower() + t[1:] if t[1:2].islower() or len(t) == 1 else t for t in titles])
    if len(titles) > 1:
        count = NUMBER_WORDS[len(titles)] if len(titles) < len(NUMBER_WORDS) else str(len(titles))
        topics = f"{count} themes: {topics}"
    subject = "this talk"
    if talk.title:
        kind, _, rest = talk.title.partition(":")
        subject = (
            f"the {kind.strip().lower()} “{rest.strip()}”"
            if rest.strip() and kind.strip().lower() in TALK_KINDS
            else f"“{talk.title}”"
        )
    if not talk.speakers:
        return f"{subject[:1].upper()}{subject[1:]}{where}{when} covers {topics or 'one theme'}."
    speakers = join_names(talk.speakers)
    if len(titles) == 1:
        verb = "talks about" if len(talk.speakers) == 1 else "talk about"
    else:
        verb = "covers" if len(talk.speakers) == 1 else "cover"
    return f"In {subject}{where}{when}, {speakers} {verb} {topics or 'one theme'}."


def extractive_overview(intro: str, themes: list[Theme], scores: list[list[float]] | None, max_words: int) -> str:
    """The intro, then the best takeaway of each theme in order while the word budget lasts (at least one)."""
    parts = [intro] if intro else []
    used = len(intro.split())
    for number, theme in enumerate(themes):
        if not theme.takeaways:
            continue
        theme_scores = scores[number] if scores and number < len(scores) else []
        best = max(range(len(theme.takeaways)), key=lambda i: theme_scores[i] if i < len(theme_scores) else -i)
        sentence = theme.takeaways[best].text
        size = len(sentence.split())
        if used + size > max_words and len(parts) > (1 if intro else 0):
            break
        parts.append(sentence)
        used += size
    return " ".join(parts)


def shown_themes(themes: list[Theme], scores: list[list[float]] | None) -> tuple[list[Theme], list[list[float]] | None]:
    """The themes with something to show (a title, takeaways or quotes), with their takeaway scores: a very short
    theme may have none of these."""
    keep = [n for n, theme in enumerate(themes) if theme.title or theme.takeaways or theme.quotes]
    kept_scores = [scores[n] for n in keep] if scores and len(scores) == len(themes) else None
    return [themes[n] for n in keep], kept_scores


def too_short_overview(talk: Talk, transcript: Transcript, max_words: int) -> tuple[str, str]:
    """(overview, note) for a talk with no themes: who spoke, and the talk's words themselves (up to `max_words`)."""
    spoken = " ".join(segment.text for segment in transcript.segments).split()
    said = " ".join(spoken[:max_words]) + (" …" if len(spoken) > max_words else "")
    subject = f"“{talk.title}”" if talk.title else "This talk"
    by = f" by {join_names(talk.speakers)}" if talk.speakers else ""
    verb = "It opens" if len(spoken) > max_words else "All it says"
    words = f"{len(spoken)} word{'s' if len(spoken) != 1 else ''}"
    overview = f"{subject}{by} is too short to find themes in ({words}). {verb}: “{said}”"
    return overview, f"themes: none, the talk is too short ({words})"


@component
class RecapBuilder:
    """Assembles the `TalkRecap`: talk metadata, overview, themes, key quotes, generation info, grounding.

    Usage example:
    ```python
    from pipeline.models import GroundingReport, Segment, Takeaway, Talk, Theme, Transcript
    from pipeline.recap import RecapBuilder

    text = "We picked the Apache licence so that companies can contribute without a lawyer."
    talk = Talk(id="demo", title="Why Apache", speakers=["Ada"])
    transcript = Transcript(talk=talk, segments=[Segment(index=0, text=text)])
    theme = Theme(title="The licence", takeaways=[Takeaway(text=text)], talk_ids=["demo"])
    recap = RecapBuilder().run(
        transcripts=[transcript],
        themes=[theme],
        key_quotes=[],
        quote_report=GroundingReport(),
        citation_report=GroundingReport(citations_checked=1),
    )["recap"]
    print(recap.overview)
    # In “Why Apache”, Ada talks about the licence. We picked the Apache licence so that companies can contribute
    # without a lawyer.
    ```
    """

    def __init__(self, overview_words: int = 120, parameters: dict[str, Any] | None = None) -> None:
        """:param overview_words: word budget of the overview paragraph (it always holds the intro sentence and
        at least one takeaway)."""
        self.overview_words = overview_words
        self.parameters = dict(parameters or {})

    @component.output_types(recap=TalkRecap)
    def run(
        self,
        transcripts: list[Transcript],
        themes: list[Theme],
        key_quotes: list[Quote],
        quote_report: GroundingReport,
        citation_report: GroundingReport,
        takeaway_scores: list[list[float]] | None = None,
        theme_count: int | None = None,
    ) -> dict[str, Any]:
        """
        :param transcripts: the talk (the first transcript is the one recapped).
        :param themes: its themes, titled, with takeaways and quotes; themes with none of these are left out.
        :param key_quotes: the talk's key quotes (`QuotePlacer`'s).
        :param quote_report: the quote checks (`QuoteVerifier`'s).
        :param citation_report: the citation checks (`CitationChecker`'s).
        :param takeaway_scores: each theme's takeaway centralities (`TakeawayExtractor`'s), to pick the overview's.
        :param theme_count: the number of themes asked for, recorded in `generation`.
        :returns: `recap`, the `TalkRecap`.
        """
        talk = transcripts[0].talk
        themes, takeaway_scores = shown_themes(themes, takeaway_scores)
        grounding = merge_reports(quote_report, citation_report)
        if themes:
            overview = extractive_overview(talk_intro(talk, themes), themes, takeaway_scores, self.overview_words)
        else:  # a talk too short for themes: a recap of what there is, and a note
            overview, note = too_short_overview(talk, transcripts[0], self.overview_words)
            grounding.fallbacks.append(note)
        recap = TalkRecap(
            talk=talk,
            overview=overview,
            themes=themes,
            key_quotes=key_quotes,
            generation=_generation(self.parameters, theme_count),
            grounding=grounding,
        )
        return {"recap": recap}


@component
class DigestBuilder:
    """Assembles the `EventDigest`: themes shared by most talks first, and an overview naming them.

    Usage example:
    ```python
    from pipeline.models import GroundingReport, Segment, Takeaway, Talk, Theme, Transcript
    from pipeline.recap import DigestBuilder

    text = "Pick a licence companies can use without a lawyer."
    transcripts = [
        Transcript(talk=Talk(id=id, event="FOSS Day", speakers=[name]), segments=[Segment(index=0, text=text)])
        for id, name in (("keynote", "Ada"), ("panel", "Grace"))
    ]
    shared = Theme(title="Licences", takeaways=[Takeaway(text=text)], talk_ids=["keynote", "panel"])
    digest = DigestBuilder().run(
        transcripts=transcripts,
        themes=[shared],
        key_quotes=[],
        quote_report=GroundingReport(),
        citation_report=GroundingReport(),
    )["digest"]
    print(digest.overview)
    # FOSS Day brought together 2 talks by Ada and Grace. Themes shared across talks: Licences. Pick a licence ...
    ```
    """

    def __init__(self, overview_words: int = 120, parameters: dict[str, Any] | None = None) -> None:
        self.overview_words = overview_words
        self.parameters = dict(parameters or {})

    @component.output_types(digest=EventDigest)
    def run(
        self,
        transcripts: list[Transcript],
        themes: list[Theme],
        key_quotes: list[Quote],
        quote_report: GroundingReport,
        citation_report: GroundingReport,
        takeaway_scores: list[list[float]] | None = None,
        theme_count: int | None = None,
    ) -> dict[str, Any]:
        """
        :param transcripts: the event's talks.
        :param themes: their themes, titled, with takeaways and quotes; themes with none of these are left out.
        :param key_quotes: the key quotes (not shown in a digest; taken so that one pipeline shape serves both).
        :param quote_report: the quote checks (`QuoteVerifier`'s).
        :param citation_report: the citation checks (`CitationChecker`'s).
        :param takeaway_scores: each theme's takeaway centralities (`TakeawayExtractor`'s), to pick the overview's.
        :param theme_count: the number of themes asked for, recorded in `generation`.
        :returns: `digest`, the `EventDigest`.
        """
        talks = [t.talk for t in transcripts]
        themes, takeaway_scores = shown_themes(themes, takeaway_scores)
        order = sorted(range(len(themes)), key=lambda n: (-len(themes[n].talk_ids), n))
        ordered = [themes[n] for n in order]
        scores = (
            [takeaway_scores[n] for n in order] if takeaway_scores and len(takeaway_scores) == len(themes) else None
        )
        event = talks[0].event or "the event"
        shared = [t for t in ordered if len(t.talk_ids) > 1]
        intro = f"{event} brought together {len(talks)} talks by {join_names(_speakers(talks))}."
        if shared:
            intro += " Themes shared across talks: " + join_names([t.title for t in shared]) + "."
        digest = EventDigest(
            event=event,
            talks=talks,
            overview=extractive_overview(intro, ordered, scores, self.overview_words),
            themes=ordered,
            generation=_generation(self.parameters, theme_count),
            grounding=merge_reports(quote_report, citation_report),
        )
        if not ordered:
            digest.grounding.fallbacks.append("themes: none, the talks are too short")
        return {"digest": digest}


def _speakers(talks: list[Talk]) -> list[str]:
    return list(dict.fromkeys(name for talk in talks for name in talk.speakers)) or ["several speakers"]


def _generation(parameters: dict[str, Any], theme_count: int | None) -> GenerationInfo:
    values = {k: v for k, v in parameters.items() if isinstance(v, str | int | float | bool) or v is None}
    return GenerationInfo(
        method="extractive", model=parameters.get("model"), parameters={**values, "themes": theme_count}
    )


class Recapper:
    """Recaps talks of a workspace, and digests its events. The embedding model loads once, in `warm_up`.

    Without a workspace only `recap_transcript` works (the talks come from the caller). With one whose store keeps
    sentence embeddings (SQLite, `store` or the workspace's configured store), a talk's recap reuses those of its
    sentences that its stored chunks hold instead of embedding them again."""

    def __init__(
        self, workspace: Workspace | None = None, settings: RecapSettings = RecapSettings(), store: Any = None
    ) -> None:
        self.workspace = workspace
        self.settings = settings.resolved()  # both pipelines embed with the same encoder, the environment read once
        self._vectors = _sentence_store(workspace, store)
        self.pipeline = build_recap_pipeline(self.settings, self._vectors)
        self.digest_pipeline = build_digest_pipeline(self.settings)
        self._warm = False

    def warm_up(self) -> None:
        if not self._warm:
            self.pipeline.warm_up()
            self.digest_pipeline.warm_up()
            self._warm = True

    def recap(self, talk_id: str, themes: int | None = None) -> TalkRecap:
        """The recap of one talk of the workspace (`WorkspaceError` when there is no such talk)."""
        return self.recap_transcript(self._workspace().load_transcript(talk_id), themes)

    def _workspace(self) -> Workspace:
        if self.workspace is None:
            raise RecapError("this Recapper has no workspace: give it one, or call recap_transcript")
        return self.workspace

    def recap_transcript(self, transcript: Transcript, themes: int | None = None) -> TalkRecap:
        _check_count(themes)
        if not any(segment.text.strip() for segment in transcript.segments):
            raise EmptyTalkError(f"talk '{transcript.talk.id}' has no transcript text to recap")
        self.warm_up()
        started = time.perf_counter()
        recap: TalkRecap = self.pipeline.run(pipeline_inputs([transcript], themes))["builder"]["recap"]
        recap.generation.seconds = round(time.perf_counter() - started, 3)
        return recap

    def events(self) -> list[str]:
        return sorted({t.talk.event for t in self._workspace().transcripts() if t.talk.event})

    def event_transcripts(self, event_name: str) -> tuple[list[Transcript], list[Transcript]]:
        """The event's talks (by date, then id) and those of them with text to digest."""
        transcripts = [
            t for t in self._workspace().transcripts() if t.talk.event and t.talk.event.lower() == event_name.lower()
        ]
        transcripts.sort(key=lambda t: (t.talk.date is None, t.talk.date or 0, t.talk.id))
        if not transcripts:
            known = ", ".join(self.events()) or "none"
            root = self._workspace().root
            raise RecapError(f"no talks of event '{event_name}' in workspace {root} (events: {known})")
        spoken = [t for t in transcripts if any(s.text.strip() for s in t.segments)]
        if not spoken:
            event = transcripts[0].talk.event
            raise EmptyTalkError(f"the talks of event '{event}' have no transcript text to digest")
        return transcripts, spoken

    def event_digest(self, event_name: str, themes: int | None = None) -> EventDigest:
        """The digest of every talk of an event (matched case-insensitively); empty talks are left out."""
        _check_count(themes)
        transcripts, spoken = self.event_transcripts(event_name)
        self.warm_up()
        started = time.perf_counter()
        digest: EventDigest = self.digest_pipeline.run(pipeline_inputs(spoken, themes))["builder"]["digest"]
        digest.generation.seconds = round(time.perf_counter() - started, 3)
        skipped = [t.talk.id for t in transcripts if t not in spoken]
        if skipped:
            digest.grounding.fallbacks.append(f"left out talks without text: {', '.join(skipped)}")
            digest.talks = [t.talk for t in transcripts]
        return digest


def _sentence_store(workspace: Workspace | None, store: Any) -> Any:
    """The workspace's store if it keeps sentence embeddings and exists (SQLite), else None (embed every sentence)."""
    if workspace is None:
        return None
    from pipeline.stores import StoreConfig, StoreError, open_store
    from pipeline.stores.sqlite import database_path

    try:
        config = store or StoreConfig.resolve(workspace=workspace.root)
    except StoreError:
        return None
    if config.kind != "sqlite" or not database_path(workspace.root, config.path).exists():
        return None
    try:
        return open_store(config, workspace.root)
    except StoreError:  # an unusable database: recaps still work, embedding every sentence
        return None


def _check_count(themes: int | None) -> None:
    if themes is not None and themes < 1:
        raise RecapError(f"the number of themes must be at least 1 (got {themes})")
