"""A ranking of candidate chunks that the query pipeline hands from component to component as one object."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from haystack import Document


class Candidates(Sequence[Document]):
    """Candidate chunks, best first: a read-only sequence of Documents that Haystack copies as one object.

    Before a component runs, Haystack deep-copies its inputs, and a list of Documents Document by Document (a
    protocol `isinstance` check and a `deepcopy` each): with ~370 candidates a question passing from the retrievers
    to fusion and on to the ranker, that was ~40% of a warm `ask` (bench/ask.py). A `Candidates` holds a tuple and
    is its own copy. That is safe because the components that take it never change a Document in place: they make
    new ones with `dataclasses.replace`, as Haystack asks of every component (it warns when a Document's field is
    set), so one Document may be shared by several components.

    The SQLite retrievers give their ranking also as `candidates`; `CandidateFusion`, `LearnedReranker` and
    `PassageRanker` take it (or a plain list) and the first two hand theirs on as one.

    Usage example:
    ```python
    import copy

    from haystack import Document

    from pipeline.components.candidates import Candidates

    ranking = Candidates([Document(id="demo:4-7", content="Pricing."), Document(id="demo:0-3", content="Apache.")])
    print(len(ranking), ranking[0].id, [document.id for document in ranking[1:]])  # 2 demo:4-7 ['demo:0-3']
    print(copy.deepcopy(ranking) is ranking)  # True: copied as itself
    ```
    """

    __slots__ = ("_documents",)

    def __init__(self, documents: Iterable[Document] = ()) -> None:
        self._documents = tuple(documents)

    @overload
    def __getitem__(self, index: int) -> Document: ...

    @overload
    def __getitem__(self, index: slice) -> Candidates: ...

    def __getitem__(self, index: int | slice) -> Document | Candidates:
        if isinstance(index, slice):
            return Candidates(self._documents[index])
        return self._documents[index]

    def __len__(self) -> int:
        return len(self._documents)

    def __iter__(self) -> Iterator[Document]:
        return iter(self._documents)

    def __eq__(self, other: object) -> bool:
        """Equal to another `Candidates`, list or tuple of the same Documents in the same order."""
        if isinstance(other, Candidates):
            return self._documents == other._documents
        if isinstance(other, list | tuple):
            return list(self._documents) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are unhashable

    def __repr__(self) -> str:
        return f"Candidates({list(self._documents)!r})"

    def __copy__(self) -> Candidates:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Candidates:
        return self
