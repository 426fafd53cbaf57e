"""The Haystack retriever components over a `SqliteChunkStore` (a module of their own, so that opening the store
does not import Haystack)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from pipeline.stores.sqlite import SqliteChunkStore


class _SqliteRetriever:
    """What both retrievers share: the store, `top_k` and default filters, and (de)serialisation by the store's
    path."""

    def __init__(self, store: SqliteChunkStore, top_k: int = 10, filters: dict[str, Any] | None = None) -> None:
        self.store = store
        self.top_k = top_k
        self.filters = filters or None

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, store=str(self.store.path), top_k=self.top_k, filters=self.filters)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        params = dict(data["init_parameters"])
        params["store"] = SqliteChunkStore(params["store"])
        return default_from_dict(cls, {**data, "init_parameters": params})


@component
class SqliteKeywordRetriever(_SqliteRetriever):
    """Keyword retrieval over a `SqliteChunkStore`: chunks holding any of the question's words by BM25L (Haystack's).

    Usage: `SqliteKeywordRetriever(store=SqliteChunkStore("ws/talks.db"), top_k=10).run(query="pricing")`.
    """

    @component.output_types(documents=list[Document])
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None) -> dict[str, Any]:
        return {"documents": self.store.keyword_search(query, filters or self.filters, top_k or self.top_k)}


@component
class SqliteEmbeddingRetriever(_SqliteRetriever):
    """Exact cosine nearest neighbours over a `SqliteChunkStore`'s embeddings (`vec0`, or numpy once in memory).

    Usage: `SqliteEmbeddingRetriever(store=SqliteChunkStore("ws/talks.db")).run(query_embedding=vector)`; the vector
    may be a NumPy array (`QueryEmbedder.vector`), which Haystack copies as one object rather than float by float.
    """

    takes_arrays = True

    @component.output_types(documents=list[Document])
    def run(
        self, query_embedding: list[float] | np.ndarray, filters: dict[str, Any] | None = None, top_k: int | None = None
    ) -> dict[str, Any]:
        documents = self.store.embedding_search(query_embedding, filters or self.filters, top_k or self.top_k)
        return {"documents": documents}
