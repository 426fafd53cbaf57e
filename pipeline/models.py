"""The pydantic contract: every JSON the tool reads, prints or writes is one of these models."""

from __future__ import annotations

import math
from datetime import date as Date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

YOUTUBE_WATCH = "https://www.youtube.com/watch?v={video_id}&t={seconds}s"

#: The choices of settings, as types (the CLI offers, checks and shell-completes them).
StoreKind = Literal["sqlite", "memory", "pgvector", "qdrant"]
GeneratorBackend = Literal["extractive", "llama-cpp", "openai"]
OutputFormat = Literal["md", "html", "json", "chapters", "vtt-chapters"]
RecapStyle = Literal["bullets", "prose"]
BatchEngine = Literal["local", "ray"]


def youtube_url(video_id: str | None, seconds: float | None) -> str | None:
    """Deep link into a YouTube video at a whole second, or None without a video id."""
    if not video_id:
        return None
    return YOUTUBE_WATCH.format(video_id=video_id, seconds=int(seconds or 0))


def format_timestamp(seconds: float | None) -> str:
    """`hh:mm:ss` for a time in seconds; `--:--:--` when the transcript has no times."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


class Chapter(BaseModel):
    """A video chapter: where it starts (seconds) and its title, as the uploader wrote it or as exported."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(ge=0, allow_inf_nan=False)
    title: str = Field(min_length=1, max_length=300)


#: A talk id names files (`transcripts/ID.json`, `index/ID.npz`, locks, recaps) and URLs, so it is checked wherever one
#: arrives (`pipeline.workspace.check_talk_id`); keep `TALK_ID_RULE` in step with the pattern.
TALK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
TALK_ID_MAX_LENGTH = 128
TALK_ID_RULE = "letters, digits, '.', '_' or '-', starting with a letter or digit, at most 128 characters"
TalkId = Annotated[str, Field(pattern=TALK_ID_PATTERN, max_length=TALK_ID_MAX_LENGTH)]
_TALK_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(TalkId)


def is_valid_talk_id(value: object) -> bool:
    """True when `value` is a talk id `Talk` accepts (the same pattern, the same regex engine)."""
    try:
        _TALK_ID_ADAPTER.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


class Talk(BaseModel):
    """Metadata of one talk. `id` is stable across re-ingests."""

    model_config = ConfigDict(extra="forbid")

    id: TalkId
    title: str | None = None
    speakers: list[str] = Field(default_factory=list)
    event: str | None = None
    date: Date | None = None
    source: str | None = Field(default=None, description="Path or URL the transcript came from.")
    youtube_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{11}$")
    language: str | None = None
    captions_auto: bool | None = Field(default=None, description="True when the captions were auto-generated.")
    punctuation: Literal["original", "restored"] | None = Field(
        default=None, description="'restored' when punctuation and casing were restored at ingest (words unchanged)."
    )
    extra: dict[str, str] = Field(default_factory=dict, description="Any further metadata from a sidecar or manifest.")
    duration: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="Video length in seconds.")
    chapters: list[Chapter] = Field(
        default_factory=list, description="The uploader's chapters (from the video description), in order."
    )

    @model_serializer(mode="wrap")
    def _omit_empty_video_fields(self, handler: SerializerFunctionWrapHandler) -> dict:
        """`duration`, `chapters` and `punctuation` are left out while empty, so talks stored before they existed
        keep their JSON (and the hashes that tell whether a talk's index is up to date)."""
        data = handler(self)
        for key in ("duration", "chapters", "punctuation"):
            if key in data and data[key] in (None, []):
                del data[key]
        return data

    @property
    def display_title(self) -> str:
        return self.title or self.id

    def url_at(self, seconds: float | None) -> str | None:
        return youtube_url(self.youtube_id, seconds)


class Segment(BaseModel):
    """One caption cue or speaker turn. Times are seconds from the start, or None when unknown."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    text: str
    start: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    end: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    speaker: str | None = None


class Transcript(BaseModel):
    """A talk with its segments, indexed 0..n-1 in order."""

    model_config = ConfigDict(extra="forbid")

    talk: Talk
    segments: list[Segment]

    @model_validator(mode="after")
    def _indices_are_positions(self) -> Transcript:
        for position, segment in enumerate(self.segments):
            if segment.index != position:
                raise ValueError(f"segment {position} has index {segment.index}; indices must be 0..n-1 in order")
        return self

    @property
    def duration(self) -> float | None:
        ends = [s.end for s in self.segments if s.end is not None]
        return max(ends) if ends else None

    @property
    def word_count(self) -> int:
        return sum(len(s.text.split()) for s in self.segments)


class SegmentRange(BaseModel):
    """Whole segments `first_segment`..`last_segment` of talk `talk_id`, and their times when known: the place in a
    transcript that chunks, passages, citations and theme spans all point to."""

    talk_id: str
    first_segment: int = Field(ge=0)
    last_segment: int = Field(ge=0)
    start: float | None = None
    end: float | None = None


class Chunk(SegmentRange):
    """A timed window over whole segments: what gets embedded and retrieved."""

    id: str
    text: str
    speakers: list[str] = Field(default_factory=list)


class Passage(SegmentRange):
    """A retrieved chunk with where it sits in its talk."""

    title: str
    text: str
    score: float
    speakers: list[str] = Field(default_factory=list)
    url: str | None = None
    highlights: list[str] = Field(
        default_factory=list, description="The passage's sentences most relevant to the question."
    )


class AnswerSentence(BaseModel):
    """One sentence of a written answer and the passages (1-based, as `[n]`) it comes from."""

    text: str
    citations: list[int] = Field(default_factory=list)


class Answer(BaseModel):
    """The reply to one question: the passages, and an answer text when one was written."""

    question: str
    answer: str | None = None
    sentences: list[AnswerSentence] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    method: str = "retrieval"
    error: str | None = None
    generation: GenerationInfo | None = Field(default=None, description="Set when an LLM wrote the answer.")
    grounding: GroundingReport | None = Field(default=None, description="Citation checks of a written answer.")


class Quote(BaseModel):
    """A verbatim quote, checked against the transcript before output."""

    text: str
    talk_id: str | None = Field(default=None, description="The talk quoted; needed when quotes span several talks.")
    speaker: str | None = None
    start: float | None = None
    segment: int = Field(ge=0, description="Index of the segment the quote starts in.")
    last_segment: int | None = None
    url: str | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a quote cannot be empty")
        return value


class Citation(SegmentRange):
    """A pointer into a talk's transcript."""

    url: str | None = None


class Takeaway(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)


class Span(SegmentRange):
    """A stretch of a talk a theme covers."""


class Theme(BaseModel):
    title: str
    keywords: list[str] = Field(default_factory=list)
    takeaways: list[Takeaway] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    spans: list[Span] = Field(default_factory=list)
    talk_ids: list[str] = Field(default_factory=list)


class GroundingReport(BaseModel):
    quotes_kept: int = 0
    quotes_repaired: int = 0
    quotes_dropped: int = 0
    citations_checked: int = 0
    citations_dropped: int = 0
    claims_dropped: int = Field(default=0, description="Takeaways or answer sentences dropped: no valid citation left.")
    fallbacks: list[str] = Field(default_factory=list)


class GenerationInfo(BaseModel):
    method: Literal["extractive", "llama-cpp", "openai"] = "extractive"
    model: str | None = None
    parameters: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    seconds: float | None = None


class ProseSection(BaseModel):
    """One theme of a prose recap: its heading, 2–4 paragraphs, and the verified quotes woven between them."""

    title: str
    paragraphs: list[str] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    span: Span | None = Field(default=None, description="Where the theme starts and ends in the talk.")


class Prose(BaseModel):
    """A recap written as a post (`talks recap --style prose`): an intro, the questions the talk answers, one
    section per theme; the closing line to the video comes from the template."""

    intro: str
    questions: list[str] = Field(default_factory=list)
    sections: list[ProseSection] = Field(default_factory=list)


class TalkRecap(BaseModel):
    talk: Talk
    overview: str
    themes: list[Theme] = Field(default_factory=list)
    key_quotes: list[Quote] = Field(default_factory=list)
    generation: GenerationInfo = Field(default_factory=GenerationInfo)
    grounding: GroundingReport = Field(default_factory=GroundingReport)
    prose: Prose | None = Field(
        default=None, exclude_if=lambda value: value is None, description="The post, with the style 'prose'."
    )


class EventDigest(BaseModel):
    event: str
    talks: list[Talk]
    overview: str
    themes: list[Theme] = Field(default_factory=list)
    generation: GenerationInfo = Field(default_factory=GenerationInfo)
    grounding: GroundingReport = Field(default_factory=GroundingReport)


# --- the library's requests and reports (`pipeline.api`) ---------------------------------------------------------


class IngestOptions(BaseModel):
    """How `Library.ingest` reads its sources: metadata that overrides what a source says, and the YouTube request."""

    model_config = ConfigDict(extra="forbid")

    talk_id: str | None = Field(default=None, description="Talk id (one source only); default: file stem or video id.")
    title: str | None = None
    speakers: list[str] = Field(default_factory=list)
    event: str | None = None
    date: Date | None = None
    youtube_id: str | None = Field(default=None, description="YouTube id of a local transcript's video.")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="YouTube caption languages, in order.")
    translate: str | None = Field(default=None, description="Translate captions to this language if none exist.")
    proxy: str | None = Field(default=None, description="HTTP(S) proxy URL for YouTube.")
    refresh: bool = Field(default=False, description="Fetch YouTube transcripts again even when cached.")
    restore_punctuation: Literal["auto", "on", "off"] = Field(
        default="auto", description="Restore punctuation and casing of unpunctuated transcripts: auto, on or off."
    )

    def overrides(self) -> dict[str, object]:
        """The talk metadata given, in the form `load_source` takes."""
        return {
            "id": self.talk_id,
            "title": self.title,
            "speakers": self.speakers,
            "event": self.event,
            "date": self.date,
            "youtube_id": self.youtube_id,
        }


class IngestedTalk(BaseModel):
    """One talk stored by an ingest or reindex."""

    talk_id: str
    chunks: int
    segments: int
    seconds: float
    replaced: bool = False


class IngestFailure(BaseModel):
    """A source (or talk) that could not be ingested, and why, in one line."""

    source: str
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"


class IngestReport(BaseModel):
    """What `Library.ingest` or `Library.reindex` did."""

    workspace: str
    store: str
    talks: list[IngestedTalk] = Field(default_factory=list)
    failures: list[IngestFailure] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


IndexStatus = Literal["indexed", "stale", "not indexed", "damaged"]


class TalkInfo(BaseModel):
    """A talk of the workspace and whether its chunks in the store match its transcript."""

    talk: Talk
    segments: int
    words: int
    duration: float | None = None
    status: IndexStatus
    problem: str | None = Field(
        default=None, description="Set when the talk's transcript or index entry is damaged: which file, what to do."
    )


class RemovedTalk(BaseModel):
    """A talk removed from the workspace and the store."""

    talk_id: str
    workspace: str
    store: str


class AskRequest(BaseModel):
    """One question, with the filters and sizes it is asked with (None: the library's defaults)."""

    model_config = ConfigDict(extra="forbid")

    question: str
    talk: str | None = None
    event: str | None = None
    speaker: str | None = Field(default=None, description="Part of a speaker's name.")
    top_k: int | None = Field(default=None, ge=1, le=50)
    answer_words: int | None = Field(default=None, ge=0, description="Extractive answer length; 0 for none.")


class MigratedTalk(BaseModel):
    """One talk copied between stores: chunks in the source, chunks read back from the target, what differs."""

    talk_id: str
    chunks: int
    copied: int = 0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class MigrationReport(BaseModel):
    """What `Library.migrate` copied, and whether the target holds exactly the source's chunks."""

    source: str = ""
    target: str = ""
    talks: list[MigratedTalk] = Field(default_factory=list)
    source_chunks: int = 0
    target_chunks: int = 0

    @property
    def failed(self) -> list[MigratedTalk]:
        return [talk for talk in self.talks if not talk.ok]

    @property
    def verified(self) -> bool:
        return self.source_chunks == self.target_chunks and not self.failed
