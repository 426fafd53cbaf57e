"""The pydantic contract: every JSON the tool reads, prints or writes is one of these models."""

from __future__ import annotations

from datetime import date as Date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

YOUTUBE_WATCH = "https://www.youtube.com/watch?v={video_id}&t={seconds}s"


def youtube_url(video_id: str | None, seconds: float | None) -> str | None:
    """Deep link into a YouTube video at a whole second, or None without a video id."""
    if not video_id:
        return None
    return YOUTUBE_WATCH.format(video_id=video_id, seconds=int(seconds or 0))


def format_timestamp(seconds: float | None) -> str:
    """`hh:mm:ss` for a time in seconds; `--:--:--` when the transcript has no times."""
    if seconds is None:
        return "--:--:--"
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


class Talk(BaseModel):
    """Metadata of one talk. `id` is stable across re-ingests."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)
    title: str | None = None
    speakers: list[str] = Field(default_factory=list)
    event: str | None = None
    date: Date | None = None
    source: str | None = Field(default=None, description="Path or URL the transcript came from.")
    youtube_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{11}$")
    language: str | None = None
    captions_auto: bool | None = Field(default=None, description="True when the captions were auto-generated.")
    extra: dict[str, str] = Field(default_factory=dict, description="Any further metadata from a sidecar or manifest.")

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
    start: float | None = Field(default=None, ge=0)
    end: float | None = Field(default=None, ge=0)
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


class Chunk(BaseModel):
    """A timed window over whole segments: what gets embedded and retrieved."""

    id: str
    talk_id: str
    text: str
    first_segment: int = Field(ge=0)
    last_segment: int = Field(ge=0)
    start: float | None = None
    end: float | None = None
    speakers: list[str] = Field(default_factory=list)


class Passage(BaseModel):
    """A retrieved chunk with where it sits in its talk."""

    talk_id: str
    title: str
    text: str
    score: float
    first_segment: int
    last_segment: int
    start: float | None = None
    end: float | None = None
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


class Citation(BaseModel):
    """A pointer into a talk's transcript."""

    talk_id: str
    first_segment: int
    last_segment: int
    start: float | None = None
    url: str | None = None


class Takeaway(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)


class Span(BaseModel):
    """A stretch of a talk a theme covers."""

    talk_id: str
    first_segment: int
    last_segment: int
    start: float | None = None
    end: float | None = None


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


class TalkRecap(BaseModel):
    talk: Talk
    overview: str
    themes: list[Theme] = Field(default_factory=list)
    key_quotes: list[Quote] = Field(default_factory=list)
    generation: GenerationInfo = Field(default_factory=GenerationInfo)
    grounding: GroundingReport = Field(default_factory=GroundingReport)


class EventDigest(BaseModel):
    event: str
    talks: list[Talk]
    overview: str
    themes: list[Theme] = Field(default_factory=list)
    generation: GenerationInfo = Field(default_factory=GenerationInfo)
    grounding: GroundingReport = Field(default_factory=GroundingReport)
