"""The question's embedding, as the list of floats Haystack's retrievers take and as one float32 array."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from haystack import component, default_from_dict, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.utils import deserialize_component_inplace


@component
class QueryEmbedder:
    """Embeds the question with a text embedder (e.g. `pipeline.embedding.text_embedder()`) and gives the vector
    both as Haystack's `embedding` (a list of floats) and as `vector`, one float32 NumPy array.

    Haystack deep-copies every component's inputs, a list element by element: handing the 384-float list to the
    embedding retriever and to the highlighter cost more than the retrieval itself (bench/ask.py), while an array is
    copied as one object. The highlighter and the SQLite embedding retriever take `vector`; retrievers that need a
    list take `embedding`.

    Usage example:
    ```python
    from pipeline.components.query_embedder import QueryEmbedder
    from pipeline.embedding import text_embedder

    embedder = QueryEmbedder(embedder=text_embedder())
    embedder.warm_up()
    result = embedder.run(text="Why Apache?")
    print(len(result["embedding"]), result["vector"].shape, result["vector"].dtype)  # 384 (384,) float32
    ```
    """

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    def warm_up(self) -> None:
        if hasattr(self.embedder, "warm_up"):
            self.embedder.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, embedder=component_to_dict(obj=self.embedder, name="embedder"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        deserialize_component_inplace(data.get("init_parameters", {}), key="embedder")
        return default_from_dict(cls, data)

    @component.output_types(embedding=list[float], vector=np.ndarray)
    def run(self, text: str) -> dict[str, Any]:
        """
        :param text: the question.
        :returns: `embedding`, the vector as a list of floats, and `vector`, the same as a float32 array.
        """
        embedding = self.embedder.run(text=text)["embedding"]
        return {"embedding": embedding, "vector": np.asarray(embedding, dtype=np.float32)}
