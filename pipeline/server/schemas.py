"""The HTTP API's request and response bodies, and the records the server keeps in the workspace (jobs, drafts).

Talks, transcripts, answers, recaps and digests travel as the models of `pipeline.models`, unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.models import Answer, Quote, Segment, Takeaway, Talk, TalkRecap

JobKind = Literal["ingest", "batch"]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
ItemStatus = Literal["pending", "running", "done", "failed", "skipped"]
FINISHED: tuple[JobStatus, ...] = ("done", "failed", "cancelled", "interrupted")


class TranscriptSpan(BaseModel):
    """Some or all segments of a talk's transcript."""

    talk: Talk
    first_segment: int
    last_segment: int
    total_segments: int
    segments: list[Segment]


class QuestionRequest(BaseModel):
    """One question and how to ask it (the library's `AskRequest`, plus who writes the answer)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    talk: str | None = None
    event: str | None = None
    speaker: str | None = None
    top_k: int = Field(default=5, ge=1, le=50)
    answer_words: int | None = Field(default=None, ge=0, le=500)
    generator: str | None = Field(default=None, description="extractive (default), llama-cpp or openai.")
    model: str | None = None


class QuestionsRequest(BaseModel):
    """Many questions in one call, models loaded once; each answer has its own `error` when it fails."""

    model_config = ConfigDict(extra="forbid")

    questions: list[QuestionRequest] = Field(min_length=1)


class AnswersResponse(BaseModel):
    answers: list[Answer]


class JobItem(BaseModel):
    """One talk (or source) of a job."""

    name: str
    status: ItemStatus = "pending"
    talk_id: str | None = None
    message: str | None = None


class Job(BaseModel):
    """A background ingest or batch, stored as `WORKSPACE/server/jobs/ID.json`. A job found `running` when the
    server starts was killed with it: it becomes `interrupted` and can be resumed."""

    id: str
    kind: JobKind
    status: JobStatus = "queued"
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    items: list[JobItem] = Field(default_factory=list)
    error: str | None = None
    report: dict | None = Field(default=None, description="The batch report (`talks batch --json`) when done.")
    params: dict = Field(default_factory=dict, description="What the job was asked to do; a resume reuses it.")
    version: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {
            status: sum(item.status == status for item in self.items)
            for status in ("pending", "running", "done", "failed", "skipped")
        }


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str
    kind: JobKind
    status: JobStatus
    created: datetime
    started: datetime | None
    finished: datetime | None
    total: int
    counts: dict[str, int]
    items: list[JobItem]
    error: str | None
    report: dict | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            created=job.created,
            started=job.started,
            finished=job.finished,
            total=len(job.items),
            counts=job.counts,
            items=job.items,
            error=job.error,
            report=job.report,
        )


class YouTubeIngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    videos: list[str] = Field(min_length=1, max_length=200, description="YouTube URLs or 11-character ids.")
    languages: str = Field(default="en", description="Caption languages in priority order, e.g. de,en.")
    translate: str | None = None
    event: str | None = None


class DraftQuote(Quote):
    """A quote in the writer's draft. `verbatim` turns false once its text differs from what was said."""

    original: str | None = Field(default=None, description="The verified transcript words it started as.")
    verbatim: bool = True
    pinned: bool = False


class DraftTheme(BaseModel):
    title: str
    original_title: str | None = None
    takeaways: list[Takeaway] = Field(default_factory=list)
    quotes: list[DraftQuote] = Field(default_factory=list)


class RecapDraft(BaseModel):
    """The writer's edited recap of one talk, `WORKSPACE/drafts/ID.json`, kept apart from the generated recap:
    regenerating never replaces an edited draft unless asked to."""

    talk: Talk
    overview: str
    themes: list[DraftTheme] = Field(default_factory=list)
    key_quotes: list[DraftQuote] = Field(default_factory=list)
    edited: bool = False
    updated: datetime | None = None
    generated: TalkRecap | None = Field(default=None, description="The generated recap this draft started from.")


class DraftEdit(BaseModel):
    """The editable part of a draft, as the recap page sends it back."""

    model_config = ConfigDict(extra="ignore")

    overview: str = Field(max_length=20_000)
    themes: list[DraftTheme] = Field(max_length=50)
    key_quotes: list[DraftQuote] = Field(default_factory=list, max_length=50)


class Message(BaseModel):
    """An error: one line saying what is wrong."""

    detail: str


class EventInfo(BaseModel):
    event: str
    talks: list[str]


Format = Literal["md", "json"]
