"""Batches of texts of like token counts, for every chunk encoder (the pooled pass of `pipeline.sentence_pooling`,
the plain torch document embedder and the ONNX encoder): each batch pads to a length close to all of its texts'.

`SentenceTransformer.encode` sorts by characters, and characters per token vary from talk to talk (restored
punctuation, numbers, names): over the chunks of several talks (`Ingestor.ingest_many`) its batches padded to 16%
more tokens than the chunks hold on the samples, 8% in token order, and encoding cost that much more. Each batch is
one encoder call, so a text's vector is that call's; against one call over all texts, a batch padded to another
length changes the vectors by float rounding only. With no more texts than a batch, one batch of all of them in
order: exactly one call, as before.

Written here rather than taken from a library: sentence-transformers and ONNX Runtime sort (or not) inside one call;
neither takes a batching by token count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Output = TypeVar("Output")


def token_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of texts with `lengths` tokens in batches of `batch_size`, longest first (stable: ties keep their
    order); with no more texts than `batch_size`, one batch of all of them in order."""
    if len(lengths) <= batch_size:
        return [list(range(len(lengths)))]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def encode_in_token_batches(
    lengths: Sequence[int], batch_size: int, encode: Callable[[list[int]], Sequence[Output]]
) -> list[Output]:
    """`encode(batch)` (a batch: indices of texts, see `token_batches`; it returns one output an index, in that
    order) over every batch, the outputs routed back to the texts' own order."""
    outputs: list[Output | None] = [None] * len(lengths)
    for batch in token_batches(lengths, batch_size):
        for index, output in zip(batch, encode(batch), strict=True):
            outputs[index] = output
    return outputs  # type: ignore[return-value]  # every index is in exactly one batch
