"""The MiniLM context features of the punctuation model: one state a word, at its first sub-token, over windows."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import punctuation_context
from pipeline.punctuation_context import ContextEncoder


@pytest.fixture(scope="module")
def encoder() -> ContextEncoder:
    return ContextEncoder(layers=2)


def test_a_word_reads_its_first_sub_token_as_the_full_model_does(encoder: ContextEncoder) -> None:
    """Within one window, each word's feature is the transformers tokenizer's first sub-token of that word, run
    through the same layers of the packaged model (an independent path: `AutoTokenizer` word ids, `AutoModel`)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    words = "so the unbelievable thing about usage-based pricing is don't overthink it".split()
    folder = punctuation_context.model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), num_hidden_layers=2).eval()
    batch = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        states = model(**batch).last_hidden_state[0].numpy()
    ids = batch.word_ids()
    firsts = [ids.index(i) for i in range(len(words))]
    assert encoder.encode(words) == pytest.approx(states[firsts], abs=1e-4)


def test_long_and_odd_streams_give_one_state_a_word(encoder: ContextEncoder) -> None:
    """Several windows, a word the tokenizer drops (a control character), one far longer than a window allows."""
    rng = np.random.default_rng(0)
    pool = ["i", "think", "pricing", "is", "hard", "\x00", "x" * 400, "日本語", "🙂", "3.5", "don't"]
    words = [pool[k] for k in rng.integers(0, len(pool), size=900)]
    features = encoder.encode(words)
    assert features.shape == (900, punctuation_context.DIM)
    assert np.isfinite(features).all() and (np.abs(features).sum(axis=1) > 0).all()
    assert encoder.encode([]).shape == (0, punctuation_context.DIM)
