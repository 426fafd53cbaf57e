"""The MiniLM context features of the punctuation model: one state a word, at its first sub-token, over windows;
run through the cached ONNX export of the layers (the default) or torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import punctuation_context
from pipeline.config import ConfigError
from pipeline.onnx_encoder import CACHE_ENV
from pipeline.punctuation_context import BACKEND_ENV, ContextEncoder
from tests.conftest import ROOT

ODD = ["i", "think", "pricing", "is", "hard", "\x00", "x" * 400, "日本語", "🙂", "3.5", "don't"]


@pytest.fixture(scope="module")
def encoder() -> ContextEncoder:
    encoder = ContextEncoder(layers=2)
    assert encoder.backend == "onnx" and encoder.model is None
    return encoder


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
    words = [ODD[k] for k in rng.integers(0, len(ODD), size=900)]
    features = encoder.encode(words)
    assert features.shape == (900, punctuation_context.DIM)
    assert np.isfinite(features).all() and (np.abs(features).sum(axis=1) > 0).all()
    assert encoder.encode([]).shape == (0, punctuation_context.DIM)


def test_the_onnx_layers_give_the_torch_layers_states(encoder: ContextEncoder) -> None:
    """Several windows of an odd stream: the ONNX export (queries of the last layer at the read positions only)
    gives the torch layers' states."""
    rng = np.random.default_rng(1)
    words = [ODD[k] for k in rng.integers(0, len(ODD), size=700)] + "so what is pricing really".split() * 40
    torch_encoder = ContextEncoder(layers=2, backend="torch")
    assert torch_encoder.session is None
    assert encoder.encode(words) == pytest.approx(torch_encoder.encode(words), abs=1e-4)


def test_a_missing_or_damaged_export_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    words = "so the unbelievable thing about pricing is".split()
    first = ContextEncoder(layers=1)  # an empty cache: exported
    (exported,) = tmp_path.glob("*/context-1-*.onnx")
    expected = first.encode(words)
    exported.write_bytes(b"not a model")  # a damaged file (the export itself is written whole, then renamed)
    second = ContextEncoder(layers=1)
    assert second.backend == "onnx"
    assert exported.stat().st_size > 1000
    assert second.encode(words) == pytest.approx(expected, abs=1e-6)


def test_a_cached_file_of_another_model_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that loads but is not the context export (other inputs) is exported again, not run."""
    import onnx
    from onnx import TensorProto, helper

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    words = "so the unbelievable thing about pricing is".split()
    expected = ContextEncoder(layers=1).encode(words)
    (exported,) = tmp_path.glob("*/context-1-*.onnx")
    tensor = helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, [None, None])
    other = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["token_type_ids"], ["out"])],
            "other",
            [tensor],
            [helper.make_tensor_value_info("out", TensorProto.INT64, [None, None])],
        )
    )
    onnx.save(other, str(exported))
    again = ContextEncoder(layers=1)
    assert again.backend == "onnx"
    assert again.encode(words) == pytest.approx(expected, abs=1e-6)


def test_fine_tuned_layer_weights_are_read_by_both_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer weights fine-tuned with the punctuation networks (`training/punctuation.py --tune-context`) replace the
    packaged ones: their ONNX export (a cache file of its own, checked against torch when made) gives the torch
    layers' states with them, and both differ from the packaged layers'. Weights of a layer not read: one line."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    words = "so the unbelievable thing about usage based pricing is do not overthink it".split() * 30
    plain = ContextEncoder(layers=1).encode(words)
    base = punctuation_context.torch_layers(punctuation_context.model_dir(), 1).state_dict()
    rng = np.random.default_rng(0)
    tuned = {
        k: v.numpy() + 0.05 * rng.standard_normal(v.shape).astype(np.float32)
        for k, v in base.items()
        if k.startswith("encoder.layer.0.")
    }
    exported = ContextEncoder(layers=1, tuned=tuned)
    assert exported.backend == "onnx" and len(list(tmp_path.glob("*/context-1-layers*.onnx"))) == 2
    states = ContextEncoder(layers=1, backend="torch", tuned=tuned).encode(words)
    assert exported.encode(words) == pytest.approx(states, abs=1e-4)
    assert np.abs(states - plain).max() > 0.1
    with pytest.raises(RuntimeError, match="are not in the first 1 layers"):
        ContextEncoder(layers=1, backend="torch", tuned={"encoder.layer.3.output.dense.bias": np.zeros(384)})


def test_without_a_cache_the_torch_layers_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocked / "onnx"))  # under a file: cannot be created
    encoder = ContextEncoder(layers=1)
    assert encoder.backend == "torch" and encoder.encode(["pricing"]).shape == (1, punctuation_context.DIM)
    assert "punctuation context runs on torch: cannot write the ONNX model cache" in caplog.text
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(ConfigError, match="TALKS_PUNCTUATION_CONTEXT='tensorflow' is not"):
        ContextEncoder(layers=1)


def test_the_onnx_context_imports_neither_torch_nor_transformers(encoder: ContextEncoder) -> None:
    """With the export cached (the module's encoder made it), encoding in a new process loads no torch (`torch._C`:
    `pipeline` puts a deferred stand-in under "torch") and no transformers."""
    code = (
        "import sys; from pipeline.punctuation_context import ContextEncoder; "
        "shape = ContextEncoder(layers=2).encode(['so', 'what']).shape; "
        "print(shape, sorted({'torch._C', 'transformers'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(BACKEND_ENV, None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[0] == "(2, 384) []"
