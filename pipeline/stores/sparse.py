"""BM25 as sparse vectors, for stores that score keywords by sparse dot products (Qdrant).

The vectors come from qdrant-edge's `Bm25`, the model a Qdrant server runs for its own BM25 inference: the same
tokeniser, English stop words, Snowball stems and token ids, so a collection written here can be queried by any
Qdrant client with Qdrant's `qdrant/bm25` model. A chunk's vector holds, for each of its terms, BM25's
term-frequency part `tf·(k+1) / (tf + k·(1-b+b·len/avg_len))`; a query's vector holds 1 for each distinct term.
The store multiplies the query side by each term's inverse document frequency over the whole collection (Qdrant's
`IDF` modifier), so the dot product is the Okapi BM25 score. `avg_len` is fixed (chunks are windows of about 165
words, about 150 terms), so adding talks never changes a stored vector.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from haystack import Document, component, default_to_dict
from haystack.dataclasses import SparseEmbedding

K1 = 1.5  # Haystack's in-memory BM25 defaults
B = 0.75
AVERAGE_LENGTH = 150.0  # terms in a chunk of the default 165 words, measured on data/


@cache
def _model(k1: float = K1, b: float = B, average_length: float = AVERAGE_LENGTH) -> Any:
    import qdrant_edge  # the Qdrant extra's; loaded only by stores that use it

    return qdrant_edge.Bm25(qdrant_edge.Bm25Config(k=k1, b=b, avg_len=average_length))


def _sparse(vector: Any) -> SparseEmbedding:
    pairs = sorted(zip(vector.indices, vector.values, strict=True))
    return SparseEmbedding(indices=[index for index, _ in pairs], values=[float(value) for _, value in pairs])


def bm25_document_vector(
    text: str, k1: float = K1, b: float = B, average_length: float = AVERAGE_LENGTH
) -> SparseEmbedding:
    """Each term's saturated, length-normalised frequency."""
    return _sparse(_model(k1, b, average_length).embed_document(text))


def bm25_query_vector(text: str) -> SparseEmbedding:
    """1 for each distinct query term: the store supplies the IDF."""
    return _sparse(_model().embed_query(text))


def token_index(word: str) -> int | None:
    """A word's sparse index: the unsigned murmur3 hash of its Snowball stem, as Qdrant's and fastembed's BM25 give
    it (None for a stop word)."""
    indices = _model().embed_query(word).indices
    return indices[0] if len(indices) == 1 else None


@component
class BM25SparseEncoder:
    """Copies of the documents with a BM25 sparse embedding of their content (dense embeddings are kept).

    Usage example:
    ```python
    from haystack import Document
    from pipeline.stores.sparse import BM25SparseEncoder

    encoded = BM25SparseEncoder().run(documents=[Document(content="We kept the Apache licence.")])["documents"]
    print(encoded[0].sparse_embedding.indices)
    ```
    """

    def __init__(self, k1: float = K1, b: float = B, average_length: float = AVERAGE_LENGTH) -> None:
        """
        :param k1: BM25's term-frequency saturation.
        :param b: BM25's length normalisation.
        :param average_length: the chunks' assumed average length in terms.
        """
        self.k1 = k1
        self.b = b
        self.average_length = average_length

    def signature(self) -> str:
        """Names the encoding: vectors made with another one do not mix with these (a talk stored with another is
        stale, and `talks reindex` rebuilds it)."""
        return f"bm25-qdrant-edge-v1 k1={self.k1} b={self.b} avglen={self.average_length}"

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, k1=self.k1, b=self.b, average_length=self.average_length)

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """
        :param documents: the chunks to encode.
        :returns: `documents`: copies with `sparse_embedding` set.
        """
        return {
            "documents": [
                replace(
                    document,
                    sparse_embedding=bm25_document_vector(document.content or "", self.k1, self.b, self.average_length),
                )
                for document in documents
            ]
        }
