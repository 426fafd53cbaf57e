"""The ONNX Runtime question encoder: the same vectors as the torch model, chosen by `TALKS_ENCODER`, and commands
that answer or list without importing torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ConfigError
from pipeline.embedding import ENCODER_ENV, text_embedder
from tests.conftest import ROOT

SENTENCES = [
    "Why did they keep the Apache license?",
    "We priced the hosted plan per seat, and the free tier stayed generous for hobby projects.",
    "ok",
    "Remote teams write things down: decisions, owners and dates go into the doc before the meeting ends.",
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    embedder = text_embedder("torch")
    embedder.warm_up()
    return np.array([embedder.run(text=s)["embedding"] for s in SENTENCES])


@pytest.mark.parametrize(("encoder", "least"), [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_vectors_match_the_torch_model(torch_vectors: np.ndarray, encoder: str, least: float):
    embedder = text_embedder(encoder)
    embedder.warm_up()
    vectors = np.array([embedder.run(text=s)["embedding"] for s in SENTENCES])
    assert vectors.shape == torch_vectors.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert cosines.min() >= least, cosines
    # the nearest sentence to each sentence is the same under both encoders
    assert (
        (vectors @ vectors.T).argsort(axis=1)[:, -2] == (torch_vectors @ torch_vectors.T).argsort(axis=1)[:, -2]
    ).all()


def test_documents_batched_by_tokens_get_the_same_vectors():
    """The ONNX document embedder with `batch_by_tokens` (the memory, pgvector and Qdrant stores' chunks at
    `TALKS_INGEST_ENCODER=onnx`): shuffled texts of mixed lengths whose token order is not their character order,
    each vector the one batching by characters gives it, paired back with its own document."""
    import random

    from haystack import Document

    from pipeline.components.onnx_embedders import OnnxDocumentEmbedder
    from pipeline.token_batches import token_batches

    texts = [*SENTENCES, "Extraordinarily " * 12, "a b c d e f g h i j k l m n o p", "1, 2, 3, 4, 5, 6, 7", "Why?"]
    random.Random(5).shuffle(texts)
    plain = OnnxDocumentEmbedder(batch_size=3)
    batched = OnnxDocumentEmbedder(batch_size=3, batch_by_tokens=True)
    plain.warm_up()
    assert plain._encoder is not None
    lengths = [sum(e.attention_mask) for e in plain._encoder.tokenizer.encode_batch(texts)]  # padded: real ones
    by_characters = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    assert token_batches(lengths, 3) != [by_characters[i : i + 3] for i in range(0, len(texts), 3)]
    documents = [Document(content=text, meta={"position": i}) for i, text in enumerate(texts)]
    batched.warm_up()
    assert batched._encoder is not None
    session, widths = batched._encoder.session, []

    class Recording:  # the session, each batch's padded width noted
        def run(self, names, feeds):
            widths.append(feeds["input_ids"].shape[1])
            return session.run(names, feeds)

    batched._encoder.session = Recording()
    result = batched.run(documents=documents)["documents"]
    assert widths == [max(lengths[i] for i in batch) for batch in token_batches(lengths, 3)]
    assert [d.meta["position"] for d in result] == list(range(len(texts)))
    expected = np.array([d.embedding for d in plain.run(documents=documents)["documents"]])
    assert np.abs(np.array([d.embedding for d in result]) - expected).max() < 1e-5
    assert batched.run(documents=[])["documents"] == []


def test_the_encoder_setting_is_checked(monkeypatch):
    assert type(text_embedder()).__name__ == "OnnxTextEmbedder"
    monkeypatch.setenv(ENCODER_ENV, "torch")
    assert type(text_embedder()).__name__ == "PackagedTextEmbedder"
    monkeypatch.setenv(ENCODER_ENV, "tensorflow")
    with pytest.raises(ConfigError, match="TALKS_ENCODER='tensorflow' is not an encoder"):
        text_embedder()


def _imports(workspace: Path, *arguments: str) -> tuple[set[str], str]:
    """The modules `python -X importtime -m pipeline.cli ARGS` imported (torch's deferred stand-in is no import)."""
    env = {**os.environ, "TALKS_WORKSPACE": str(workspace), "PYTHONPATH": str(ROOT)}
    env.pop(ENCODER_ENV, None)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipeline.cli", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[-1].strip() for line in lines}, result.stdout


def test_list_and_ask_do_not_import_torch(sample_workspace):
    modules, output = _imports(sample_workspace.root, "list")
    assert "indexed" in output
    assert "pipeline.api" in modules
    assert not {"haystack", "torch._C", "sklearn", "pipeline.sources"} & modules
    modules, output = _imports(sample_workspace.root, "ask", "Why did they keep the Apache license?")
    assert "Apache" in output
    assert "haystack" in modules and "onnxruntime" in modules
    assert not {"torch._C", "transformers", "sentence_transformers", "sklearn"} & modules


def test_quantising_leaves_the_process_logging_as_it_was(tmp_path: Path):
    """The int8 export hushes onnxruntime's hint on the root logger only while it runs (a first export used to leave
    the root logger at ERROR, so every later warning of the process was lost)."""
    import logging

    from pipeline.embedding import embedding_model_path
    from pipeline.onnx_encoder import model_files, quantize_int8

    fp32 = model_files(Path(embedding_model_path()))["fp32"]
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    try:
        quantize_int8(fp32, tmp_path / "model.int8.onnx")
        assert root.level == logging.INFO and (tmp_path / "model.int8.onnx").stat().st_size > 0
    finally:
        root.setLevel(before)
