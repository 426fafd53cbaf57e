"""One transformer pass a chunk: its vector as the plain embedder gives it, and its sentences' pooled vectors."""

from __future__ import annotations

import numpy as np
import pytest
from haystack import Document

from pipeline.components.embedders import PackagedDocumentEmbedder, PooledDocumentEmbedder
from pipeline.sentence_pooling import encode_with_sentences, offsets_tokenizer, sentence_spans, token_batches
from pipeline.text import split_sentences

CHUNKS = [
    "ADA: We picked the Apache licence  so companies can contribute.\nPricing came much later. Thanks!",
    "Our first customers were tiny teams. They paid nothing at first, and that was fine.",
]


@pytest.fixture(scope="module")
def pooled():
    embedder = PooledDocumentEmbedder()
    embedder.warm_up()
    return embedder


def test_sentence_spans_cover_each_sentence_of_the_text():
    for text in CHUNKS:
        spans = sentence_spans(text)
        assert [" ".join(text[a:b].split()) for a, b in spans] == split_sentences(text)


def test_chunk_vectors_are_the_plain_embedders_and_each_sentence_gets_a_unit_vector(pooled):
    plain = PackagedDocumentEmbedder(normalize_embeddings=True, local_files_only=True, progress_bar=False)
    plain.warm_up()
    documents = [Document(content=text) for text in CHUNKS]
    result = pooled.run(documents=documents)
    assert [d.embedding for d in result["documents"]] == [
        d.embedding for d in plain.run(documents=documents)["documents"]
    ]
    assert documents[0].embedding is None  # copies, not the inputs
    for text, vectors in zip(CHUNKS, result["sentence_vectors"], strict=True):
        assert vectors.shape == (len(split_sentences(text)), 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    question = plain.embedding_backend.model.encode("Why the Apache licence?", normalize_embeddings=True)
    assert int(np.argmax(result["sentence_vectors"][0] @ question)) == 0  # the Apache sentence, not pricing


def test_chunks_are_encoded_in_batches_of_like_token_counts(pooled):
    """Characters per token differ between texts, so `encode`'s own sort by characters pads more: the pooled pass
    batches by tokens, each batch one `encode` call (its vectors exactly), each vector routed back to its text."""
    assert token_batches([5, 42, 7, 40, 6, 43], 2) == [[5, 1], [3, 2], [4, 0]]
    assert token_batches([3, 1, 2], 8) == [[0, 1, 2]]  # no more than a batch: one call, texts in order
    model = pooled.embedding_backend.model
    texts = [
        "a b c d e f g h i j k l m n o p q r s t u v w x y z.",
        "Extraordinarily.",
        "Pricing came later.",
        "x y z w v u.",
    ]
    lengths = [len(ids) for ids in offsets_tokenizer(model)(texts)["input_ids"]]
    vectors, _ = encode_with_sentences(model, texts, 2)
    batches = token_batches(lengths, 2)
    assert batches == [[0, 3], [1, 2]]  # by characters: [[0, 2], [1, 3]]
    for batch in batches:
        expected = model.encode([texts[i] for i in batch], batch_size=2, normalize_embeddings=True)
        assert np.array_equal(vectors[batch], expected)
    alone = model.encode(texts, batch_size=1, normalize_embeddings=True)
    assert np.abs(vectors - alone).max() < 1e-5  # padding changes float rounding only


# characters per token differ: long words (few tokens), single letters and digits (a token each); mixed lengths
MIXED = [
    *(" ".join(["Extraordinarily"] * n) + "." for n in (2, 9, 30)),
    *(" ".join("abcdefghijklmnopqrstuvwxyz"[: n % 26] * (1 + n // 26)) for n in (5, 24, 60)),
    *(", ".join(str(10 * n + k) for k in range(n)) for n in (3, 12, 40)),
    "We picked the Apache licence so companies can contribute.",
    "Pricing came much later, once the first teams asked for support.",
    "ok",
]


def test_the_token_batched_document_embedder_gives_the_plain_embedders_vectors(pooled):
    """The memory, pgvector and Qdrant stores' chunk embedder (`batch_by_tokens`): shuffled documents of mixed
    lengths, in batches that differ from `encode`'s by characters, each vector paired back with its own document."""
    import random

    texts = MIXED[:]
    random.Random(7).shuffle(texts)
    documents = [Document(content=text, meta={"position": i}) for i, text in enumerate(texts)]
    settings = {"normalize_embeddings": True, "local_files_only": True, "progress_bar": False, "batch_size": 4}
    plain = PackagedDocumentEmbedder(**settings)
    batched = PackagedDocumentEmbedder(**settings, batch_by_tokens=True)
    assert batched.to_dict()["init_parameters"]["batch_by_tokens"] is True
    assert PackagedDocumentEmbedder.from_dict(batched.to_dict()).batch_by_tokens is True
    plain.warm_up()
    lengths = [len(ids) for ids in offsets_tokenizer(plain.embedding_backend.model)(texts)["input_ids"]]
    by_characters = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    assert token_batches(lengths, 4) != [by_characters[i : i + 4] for i in range(0, len(texts), 4)]
    batched.warm_up()
    backend, calls = batched.embedding_backend, []

    class Recording:  # the shared backend, each call's texts noted
        model = backend.model

        def embed(self, data, **kwargs):
            calls.append(list(data))
            return backend.embed(data, **kwargs)

    batched.embedding_backend = Recording()
    result = batched.run(documents=documents)["documents"]
    assert calls == [[texts[i] for i in batch] for batch in token_batches(lengths, 4)]  # one base run a batch
    assert [d.meta["position"] for d in result] == list(range(len(texts)))
    assert all(d.embedding is None for d in documents)  # copies, not the inputs
    expected = np.array([d.embedding for d in plain.run(documents=documents)["documents"]])
    vectors = np.array([d.embedding for d in result])
    assert np.abs(vectors - expected).max() < 1e-5  # float rounding; a vector paired with another text is far off
    assert batched.run(documents=[])["documents"] == []


def test_a_sentence_past_the_sequence_limit_is_embedded_on_its_own(pooled):
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40)) + " The Apache licence won."
    vectors = pooled.run(documents=[Document(content=text)])["sentence_vectors"][0]
    alone = pooled.embedding_backend.model.encode("The Apache licence won.", normalize_embeddings=True)
    assert float(vectors[-1] @ alone) > 0.999
    assert float(vectors[0] @ alone) < 0.9


def test_the_offsets_call_never_touches_the_models_shared_tokenizer(pooled):
    """Another thread's `model.encode` relies on the shared tokenizer's padding: the offsets call uses a copy per thread
    (a batch with two workers failed with "Unable to create tensor" when it flipped the shared one)."""
    import threading

    model = pooled.embedding_backend.model
    model.encode(["Padding on, as every encode call leaves it."])
    padding = model.tokenizer._tokenizer.padding
    assert padding is not None
    mine = offsets_tokenizer(model)
    assert mine is not model.tokenizer and offsets_tokenizer(model) is mine
    others: list = []
    thread = threading.Thread(target=lambda: others.append(offsets_tokenizer(model)))
    thread.start()
    thread.join()
    assert others[0] is not mine and others[0] is not model.tokenizer
    encode_with_sentences(model, ["One sentence here. And a second one, a little longer."], 8)
    assert model.tokenizer._tokenizer.padding == padding  # the shared tokenizer's settings as they were
