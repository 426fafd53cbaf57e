"""BM25 as sparse vectors, for stores that score keywords by sparse dot products (Qdrant).

A chunk's vector holds, for each of its terms, BM25's term-frequency part `tf·(k1+1) / (tf + k1·(1-b+b·len/avglen))`;
a query's vector holds 1 for each distinct term. The store multiplies the query side by each term's inverse document
frequency over the whole collection (Qdrant's `IDF` modifier), so the dot product is the Okapi BM25 score. Terms are
tokenised like Haystack's in-memory BM25 (`(?u)\\b\\w\\w+\\b`, lowercased) and mapped to stable uint32 indices by
CRC-32, the same in every process. `avglen` is fixed (chunks are windows of about 165 words, about 150 terms), so
adding talks never changes a stored vector.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_to_dict
from haystack.dataclasses import SparseEmbedding

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
K1 = 1.5  # Haystack's in-memory BM25 defaults
B = 0.75
AVERAGE_LENGTH = 150.0  # terms in a chunk of the default 165 words, measured on data/


def tokenize(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text.lower())


def token_index(token: str) -> int:
    """A term's sparse index: CRC-32 of its UTF-8 bytes (unsalted, unlike `hash`), in 0 .. 2**32-1."""
    return zlib.crc32(token.encode("utf-8"))


def _sparse(weights: dict[int, float]) -> SparseEmbedding:
    indices = sorted(weights)
    return SparseEmbedding(indices=indices, values=[float(weights[index]) for index in indices])


def bm25_document_vector(
    text: str, k1: float = K1, b: float = B, average_length: float = AVERAGE_LENGTH
) -> SparseEmbedding:
    """Each term's saturated, length-normalised frequency (two terms sharing a CRC-32 count as one)."""
    counts = Counter(token_index(token) for token in tokenize(text))
    length = sum(counts.values())
    norm = k1 * (1 - b + b * length / average_length)
    return _sparse({index: tf * (k1 + 1) / (tf + norm) for index, tf in counts.items()})


def bm25_query_vector(text: str) -> SparseEmbedding:
    """1 for each distinct query term: the store supplies the IDF."""
    return _sparse(dict.fromkeys((token_index(token) for token in tokenize(text)), 1.0))


@component
class BM25SparseEncoder:
    """Copies of the documents with a BM25 sparse embedding of their content (dense embeddings are kept)."""

    def __init__(self, k1: float = K1, b: float = B, average_length: float = AVERAGE_LENGTH) -> None:
        self.k1 = k1
        self.b = b
        self.average_length = average_length

    def signature(self) -> str:
        """Names the encoding: vectors made with another one do not mix with these."""
        return f"bm25-crc32-v1 k1={self.k1} b={self.b} avglen={self.average_length}"

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, k1=self.k1, b=self.b, average_length=self.average_length)

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {
            "documents": [
                replace(
                    document,
                    sparse_embedding=bm25_document_vector(document.content or "", self.k1, self.b, self.average_length),
                )
                for document in documents
            ]
        }
