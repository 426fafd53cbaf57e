"""Sentence vectors pooled from a chunk's own transformer pass, so the sentences of a chunk cost no second model pass.

A sentence's vector is the mean of the chunk's token embeddings over the sentence's tokens (found through the
tokenizer's character offsets) beside the mean over all the chunk's tokens, mapped by a linear projection fitted on
QMSum train (`training/sentence_projection.py`: it brings the vector close to the sentence embedded on its own,
cosine 0.62 → 0.82 on held-out meetings, taking out the chunk's context), normalised. A sentence the model's
sequence limit cuts is embedded on its own. The chunk vector comes out of the same pass (the model's own mean
pooling, normalised as the document embedder does), identical to `SentenceTransformer.encode` of the chunk's batch
(chunks are batched by token count, `pipeline.token_batches`; to float rounding against one `encode` call over all
chunks).
Highlights and extractive answers on QMSum val are unchanged within noise (README, "Ingestion
and query speed").

Written here rather than taken from a library: sentence-transformers gives the token embeddings
(`output_value=None`) but no pooling over character spans.
"""

from __future__ import annotations

import copy
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.text import split_sentences
from pipeline.token_batches import encode_in_token_batches
from pipeline.token_batches import token_batches as token_batches  # re-exported: bench/ingest.py and tests use it

DIMENSIONS = 384
PROJECTION_PATH = Path(__file__).parent / "weights" / "sentence_projection.npy"


@lru_cache(maxsize=1)
def load_projection() -> np.ndarray:
    """The fitted (2 × 384) × 384 map of `training/sentence_projection.py`, shipped with the package."""
    return np.load(PROJECTION_PATH)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character span (start, end) in `text` of each of `split_sentences(text)`.

    `split_sentences` rejoins a sentence's words with single spaces, so a sentence need not occur verbatim in the
    text; its words do, in order, so they are found one after the other from a cursor."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in split_sentences(text):
        start = end = -1
        for word in sentence.split():
            found = text.find(word, cursor)
            if found < 0:  # cannot happen for split_sentences' own words; kept as a clear failure
                raise ValueError(f"sentence word {word!r} not found in its text")
            start = found if start < 0 else start
            end = cursor = found + len(word)
        spans.append((start, end))
    return spans


def pool_spans(
    token_embeddings: np.ndarray,
    offsets: list[tuple[int, int]],
    spans: list[tuple[int, int]],
    projection: np.ndarray | None = None,
) -> list[np.ndarray | None]:
    """Each character span's vector: the mean of the token embeddings inside it, mapped by `projection` if given
    (a (2 × dimensions) × dimensions matrix applied to the span mean and the whole text's token mean side by side),
    normalised; None for a span not wholly inside the tokens the model saw (cut by its sequence limit).
    `offsets`: each token's character span, special tokens (0, 0)."""
    starts = np.array([start for start, end in offsets])
    ends = np.array([end for start, end in offsets])
    real = ends > starts
    seen_until = int(ends[real].max()) if real.any() else 0
    context = token_embeddings[real].mean(axis=0) if real.any() else None
    pooled: list[np.ndarray | None] = []
    for start, end in spans:
        inside = real & (starts >= start) & (ends <= end)
        if end > seen_until or not inside.any():
            pooled.append(None)
            continue
        vector = token_embeddings[inside].mean(axis=0)
        if projection is not None:
            vector = np.concatenate([vector, context]) @ projection
        pooled.append((vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32))
    return pooled


_THREAD = threading.local()


def offsets_tokenizer(model: Any) -> Any:
    """This thread's own copy of `model`'s tokenizer, for the offsets call. A fast tokenizer keeps its padding and
    truncation settings in one shared Rust object: calling the model's own without padding while another thread's
    `model.encode` (padding on) runs flips that setting under it, and its batch comes out unpadded ("Unable to create
    tensor"; seen in `talks batch --jobs 2`). A copy per thread and model never touches the shared one."""
    copies: dict[int, tuple[Any, Any]] = _THREAD.__dict__.setdefault("tokenizers", {})
    held = copies.get(id(model))
    if held is None or held[0] is not model:  # keyed by id, checked by identity: an id may be reused
        held = copies[id(model)] = (model, copy.deepcopy(model.tokenizer))
    return held[1]


def encode_with_sentences(
    model: Any, texts: list[str], batch_size: int, projection: np.ndarray | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One pass of `model` (a `SentenceTransformer` with mean pooling) over `texts`: their normalised vectors
    (as `model.encode(texts, batch_size=batch_size, normalize_embeddings=True)` gives them, to float rounding; see
    `pipeline.token_batches`) and, for each text, a (sentences × dimensions) array of its sentences' pooled vectors. A
    sentence the sequence limit cuts is embedded on its own (a second, short pass over those few)."""
    import torch

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32), []
    tokenizer, limit = offsets_tokenizer(model), model.max_seq_length
    encoded = tokenizer(texts, return_offsets_mapping=True, truncation=True, max_length=limit)  # one call: cheaper
    outputs: list[Any] = encode_in_token_batches(
        [len(pairs) for pairs in encoded["offset_mapping"]],
        batch_size,
        lambda batch: model.encode(
            [texts[i] for i in batch], batch_size=batch_size, output_value=None, convert_to_numpy=False
        ),
    )
    chunk_vectors = torch.nn.functional.normalize(torch.stack([o["sentence_embedding"] for o in outputs]), p=2, dim=1)
    groups: list[list[np.ndarray | None]] = []
    for text, output, pairs in zip(texts, outputs, encoded["offset_mapping"], strict=True):
        offsets = [tuple(pair) for pair in pairs]
        mask = output["attention_mask"].bool()
        tokens = output["token_embeddings"][mask].numpy()
        if len(tokens) != len(offsets):
            raise ValueError(f"{len(tokens)} token embeddings for {len(offsets)} tokens")
        groups.append(pool_spans(tokens, offsets, sentence_spans(text), projection))
    cut = [(i, j) for i, group in enumerate(groups) for j, vector in enumerate(group) if vector is None]
    if cut:
        sentences = [split_sentences(texts[i])[j] for i, j in cut]
        alone = model.encode(sentences, batch_size=batch_size, normalize_embeddings=True)
        for (i, j), vector in zip(cut, alone, strict=True):
            groups[i][j] = np.asarray(vector, dtype=np.float32)
    vectors = [
        np.stack(group) if group else np.zeros((0, DIMENSIONS), dtype=np.float32)  # type: ignore[arg-type]
        for group in groups
    ]
    return chunk_vectors.numpy(), vectors
