"""The Haystack retriever components over a `SqliteChunkStore` (a module of their own, so that opening the store
does not import Haystack)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from pipeline.components.candidates import Candidates
from pipeline.stores.sqlite import SqliteChunkStore


class _SqliteRetriever:
    """What both retrievers share: the store, `top_k` and default filters, and (de)serialisation by the store's
    path. Both give their ranking twice, as Haystack's `documents` list and as `candidates`, the same Documents in
    one `Candidates`, which the query pipeline passes on without Haystack copying it Document by Document."""

    gives_candidates = True

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

    Usage example:
    ```python
    import tempfile
    from pathlib import Path

    from haystack import Document

    from pipeline.stores.sqlite import SqliteChunkStore
    from pipeline.stores.sqlite_retrievers import SqliteKeywordRetriever

    def axis(n: int) -> list[float]:  # a toy unit vector
        return [float(i == n) for i in range(384)]

    store = SqliteChunkStore(Path(tempfile.mkdtemp()) / "talks.db")
    talk = {"talk_id": "demo"}
    chunks = [
        Document(id="demo:0-3", content="We picked the Apache licence.", meta=talk, embedding=axis(0)),
        Document(id="demo:4-7", content="Pricing per seat scared small teams.", meta=talk, embedding=axis(1)),
    ]
    store.replace_talk("demo", chunks, fingerprint="v1", settings={})
    documents = SqliteKeywordRetriever(store=store, top_k=10).run(query="What about pricing?")["documents"]
    print([document.id for document in documents])  # ['demo:4-7']
    ```
    """

    @component.output_types(documents=list[Document], candidates=Candidates)
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None) -> dict[str, Any]:
        """
        :param query: the question.
        :param filters: Haystack metadata filters (default: those set at construction).
        :param top_k: how many chunks at most (default: as set at construction).
        :returns: `documents`, the chunks best first, `score` their BM25L score; `candidates`, the same as one
            `Candidates`.
        """
        documents = self.store.keyword_search(query, filters or self.filters, top_k or self.top_k)
        return {"documents": documents, "candidates": Candidates(documents)}


@component
class SqliteEmbeddingRetriever(_SqliteRetriever):
    """Exact cosine nearest neighbours over a `SqliteChunkStore`'s embeddings (`vec0`, or numpy once in memory).

    The query vector may be a NumPy array (`QueryEmbedder.vector`), which Haystack copies as one object rather than
    float by float.

    Usage example:
    ```python
    import tempfile
    from pathlib import Path

    import numpy as np
    from haystack import Document

    from pipeline.stores.sqlite import SqliteChunkStore
    from pipeline.stores.sqlite_retrievers import SqliteEmbeddingRetriever

    def axis(n: int) -> list[float]:  # a toy unit vector
        return [float(i == n) for i in range(384)]

    store = SqliteChunkStore(Path(tempfile.mkdtemp()) / "talks.db")
    talk = {"talk_id": "demo"}
    chunks = [
        Document(id="demo:0-3", content="We picked the Apache licence.", meta=talk, embedding=axis(0)),
        Document(id="demo:4-7", content="Pricing per seat scared small teams.", meta=talk, embedding=axis(1)),
    ]
    store.replace_talk("demo", chunks, fingerprint="v1", settings={})
    query = np.asarray(axis(1), dtype=np.float32)
    documents = SqliteEmbeddingRetriever(store=store, top_k=1).run(query_embedding=query)["documents"]
    print([(document.id, round(document.score, 3)) for document in documents])  # [('demo:4-7', 1.0)]
    ```
    """

    takes_arrays = True

    @component.output_types(documents=list[Document], candidates=Candidates)
    def run(
        self, query_embedding: list[float] | np.ndarray, filters: dict[str, Any] | None = None, top_k: int | None = None
    ) -> dict[str, Any]:
        """
        :param query_embedding: the question's vector, a list of floats or a NumPy array.
        :param filters: Haystack metadata filters (default: those set at construction).
        :param top_k: how many chunks at most (default: as set at construction).
        :returns: `documents`, the nearest chunks best first, `score` their cosine similarity; `candidates`, the
            same as one `Candidates`.
        """
        documents = self.store.embedding_search(query_embedding, filters or self.filters, top_k or self.top_k)
        return {"documents": documents, "candidates": Candidates(documents)}
