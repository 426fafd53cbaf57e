"""Stores a cleaned transcript and its embedded chunks, replacing any earlier version of the talk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import Document, component, default_to_dict

from pipeline.models import Transcript
from pipeline.stores import ChunkStore, StoreConfig, open_store, transcript_fingerprint
from pipeline.stores.base import POOLED_SENTENCES, SENTENCE_KINDS
from pipeline.workspace import Workspace


@component
class TalkWriter:
    """Writes the transcript (the source of truth) to the workspace first, then its chunks to the chunk store, under
    the talk's lock. A crash between the two leaves a stale index entry that `talks reindex` rebuilds; nothing is
    lost.

    `sentence_vectors` (one array a chunk, from `PooledDocumentEmbedder` or `SentenceEmbedder`) are kept by stores
    that hold them (SQLite), so highlighting needs no model at question time; other stores ignore them. The store
    records their kind (`sentence_kind`: `pooled` from the chunk pass, or each sentence's `own`), so that a recap
    knows whether it can use them without probing.

    Usage example:
    ```python
    import tempfile

    from pipeline.components.chunker import TranscriptChunker
    from pipeline.components.writer import TalkWriter
    from pipeline.embedding import document_embedder
    from pipeline.models import Segment, Talk, Transcript

    transcript = Transcript(
        talk=Talk(id="demo", title="Why Apache"),
        segments=[Segment(index=0, text="We picked the Apache licence so companies can contribute.")],
    )
    embedder = document_embedder()
    embedder.warm_up()
    chunks = embedder.run(documents=TranscriptChunker().run(transcript=transcript)["documents"])["documents"]
    writer = TalkWriter(workspace=tempfile.mkdtemp())  # the default store: WORKSPACE/talks.db
    print(writer.run(transcript=transcript, documents=chunks))  # {'talk_id': 'demo', 'chunks': 1}
    ```
    """

    def __init__(
        self,
        workspace: str,
        settings: dict[str, Any] | None = None,
        store: dict | None = None,
        sentence_kind: str = POOLED_SENTENCES,
    ) -> None:
        """:param workspace: the workspace directory. :param settings: chunking/model settings recorded per talk.
        :param store: a `StoreConfig` as a dict (default: the workspace's own memory store).
        :param sentence_kind: the kind of the `sentence_vectors` it is given (`SENTENCE_KINDS`): `pooled` (the
            indexing pipeline's embedders with the torch encoder) or `own` (each sentence embedded on its own)."""
        if sentence_kind not in SENTENCE_KINDS:
            raise ValueError(f"sentence_kind must be one of {', '.join(SENTENCE_KINDS)}")
        self.workspace = workspace
        self.settings = dict(settings or {})
        self.sentence_kind = sentence_kind
        self.store = StoreConfig.model_validate(store or {})
        self._workspace = Workspace(Path(workspace))
        self._chunk_store: ChunkStore | None = None

    def warm_up(self) -> None:
        """Opens the store and reaches it once (`StoreError` when it cannot be used)."""
        if self._chunk_store is None:
            self._chunk_store = open_store(self.store, self._workspace.root)
            self._chunk_store.talk_ids()

    def to_dict(self) -> dict[str, Any]:
        """Serialised without credentials: a password in the store URL is left out."""
        return default_to_dict(
            self,
            workspace=self.workspace,
            settings=self.settings,
            store=self.store.public(),
            sentence_kind=self.sentence_kind,
        )

    @component.output_types(talk_id=str, chunks=int)
    def run(
        self, transcript: Transcript, documents: list[Document], sentence_vectors: list[Any] | None = None
    ) -> dict[str, Any]:
        """
        :param transcript: the cleaned talk, saved as `transcripts/ID.json`.
        :param documents: its chunks, embedded; they replace any the store holds for the talk.
        :param sentence_vectors: optional, one (sentences × 384) array a chunk, kept by stores that hold them.
        :returns: `talk_id` and `chunks`, the number of chunks stored.
        """
        self.warm_up()
        assert self._chunk_store is not None
        talk_id = transcript.talk.id
        self._workspace.create()
        with self._workspace.talk_lock(talk_id):
            self._workspace.save_transcript(transcript)
            fingerprint = transcript_fingerprint(transcript)
            if sentence_vectors is not None and getattr(self._chunk_store, "keeps_sentence_vectors", False):
                self._chunk_store.replace_talk(  # type: ignore[call-arg]
                    talk_id,
                    documents,
                    fingerprint,
                    self.settings,
                    sentence_vectors=sentence_vectors,
                    sentence_kind=self.sentence_kind,
                )
            else:
                self._chunk_store.replace_talk(talk_id, documents, fingerprint, self.settings)
        return {"talk_id": talk_id, "chunks": len(documents)}
