"""The writer's recap drafts: `WORKSPACE/drafts/ID.json`, made from a generated `TalkRecap`, then edited.

Editing never touches the generated recap kept inside the draft; a quote whose words no longer match the verified
transcript words it started as is marked `verbatim: false` (and says so in the Markdown)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from pipeline.models import Quote, TalkRecap, Theme
from pipeline.server.schemas import DraftEdit, DraftQuote, DraftTheme, RecapDraft
from pipeline.workspace import Workspace, WorkspaceError, atomic_write

NOT_VERBATIM = " *(edited: not verbatim)*"


class DraftConflict(Exception):
    """The draft has the writer's edits and regenerating would replace them."""


def _draft_quote(quote: Quote) -> DraftQuote:
    return DraftQuote(**quote.model_dump(), original=quote.text)


def draft_from_recap(recap: TalkRecap) -> RecapDraft:
    """An unedited draft of a generated recap."""
    themes = [
        DraftTheme(
            title=theme.title,
            original_title=theme.title,
            takeaways=[t.model_copy(deep=True) for t in theme.takeaways],
            quotes=[_draft_quote(q) for q in theme.quotes],
        )
        for theme in recap.themes
    ]
    return RecapDraft(
        talk=recap.talk,
        overview=recap.overview,
        themes=themes,
        key_quotes=[_draft_quote(q) for q in recap.key_quotes],
        generated=recap,
        updated=datetime.now(UTC),
    )


def _marked(quote: DraftQuote) -> DraftQuote:
    """The quote with `verbatim` recomputed: true only while its text is the verified original, word for word."""
    original = quote.original if quote.original is not None else quote.text
    same = " ".join(quote.text.split()) == " ".join(original.split())
    return quote.model_copy(update={"original": original, "verbatim": same})


def apply_edit(draft: RecapDraft, edit: DraftEdit) -> RecapDraft:
    """The draft with the writer's overview, themes (order, titles, takeaways, quotes) and key quotes."""
    themes = [theme.model_copy(update={"quotes": [_marked(q) for q in theme.quotes]}) for theme in edit.themes]
    return draft.model_copy(
        update={
            "overview": edit.overview,
            "themes": themes,
            "key_quotes": [_marked(q) for q in edit.key_quotes],
            "edited": True,
            "updated": datetime.now(UTC),
        }
    )


def draft_as_recap(draft: RecapDraft) -> TalkRecap:
    """The draft as a `TalkRecap`, ready for the Markdown template: pinned quotes lead the key quotes, and a quote
    that is no longer verbatim says so."""

    def plain(quote: DraftQuote) -> Quote:
        text = quote.text if quote.verbatim else quote.text + NOT_VERBATIM
        return Quote(**{**quote.model_dump(include=set(Quote.model_fields)), "text": text})

    pinned = [q for theme in draft.themes for q in theme.quotes if q.pinned] + [q for q in draft.key_quotes if q.pinned]
    seen: set[tuple[str, int]] = set()
    key_quotes = []
    for quote in [*pinned, *draft.key_quotes]:
        if (quote.text, quote.segment) not in seen:
            seen.add((quote.text, quote.segment))
            key_quotes.append(plain(quote))
    themes = [
        Theme(title=t.title, takeaways=t.takeaways, quotes=[plain(q) for q in t.quotes], talk_ids=[draft.talk.id])
        for t in draft.themes
    ]
    base = draft.generated or TalkRecap(talk=draft.talk, overview=draft.overview)
    return base.model_copy(update={"overview": draft.overview, "themes": themes, "key_quotes": key_quotes})


class DraftStore:
    """Drafts in `WORKSPACE/drafts/`, one file a talk, each write atomic."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.folder = workspace.root / "drafts"

    def path(self, talk_id: str) -> Path:
        """`drafts/ID.json`; an id that is no talk id, or a path leaving the workspace, is an `InvalidIdError`."""
        return self.workspace.file(self.folder, talk_id, ".json")

    def load(self, talk_id: str) -> RecapDraft | None:
        path = self.path(talk_id)
        if not path.exists():
            return None
        try:
            return RecapDraft.model_validate_json(path.read_bytes())
        except (ValidationError, OSError) as error:
            raise WorkspaceError(f"{path}: damaged draft ({error}); delete it to start again") from None

    def save(self, draft: RecapDraft) -> RecapDraft:
        atomic_write(self.path(draft.talk.id), draft.model_dump_json(indent=1).encode())
        return draft

    def remove(self, talk_id: str) -> None:
        self.path(talk_id).unlink(missing_ok=True)
