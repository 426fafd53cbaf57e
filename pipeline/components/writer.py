"""Stores a cleaned transcript and its embedded chunks, replacing any earlier version of the talk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import Document, component

from pipeline.models import Transcript
from pipeline.stores import WorkspaceIndex, transcript_fingerprint
from pipeline.workspace import Workspace


@component
class TalkWriter:
    """Writes the transcript (the source of truth) first, then its index entry, both atomically, under the talk's
    lock. A crash between the two leaves a stale index entry that `talks reindex` rebuilds; nothing is lost."""

    def __init__(self, workspace: str, settings: dict[str, Any] | None = None) -> None:
        """:param workspace: the workspace directory. :param settings: chunking/model settings recorded per talk."""
        self.workspace = workspace
        self.settings = dict(settings or {})
        self._workspace = Workspace(Path(workspace))
        self._index = WorkspaceIndex(self._workspace.index_dir)

    @component.output_types(talk_id=str, chunks=int)
    def run(self, transcript: Transcript, documents: list[Document]) -> dict[str, Any]:
        talk_id = transcript.talk.id
        self._workspace.create()
        with self._workspace.talk_lock(talk_id):
            self._workspace.save_transcript(transcript)
            self._index.replace_talk(talk_id, documents, transcript_fingerprint(transcript), self.settings)
        return {"talk_id": talk_id, "chunks": len(documents)}
