"""Stored sentence vectors, pooled from the chunk pass (`pipeline.sentence_pooling`) against each sentence embedded
on its own (what ingest stored before), on the same passages: QMSum val's frozen passages
(`training/answer_passages.py val`), each question's top 10 in its own meeting.

Highlights: does a passage's first highlight lie in a gold turn (passages overlapping the gold span, as
`bench/highlights_qmsum.py`); answers: ROUGE-1/2/Lsum F1 of the fitted extractive writer's ~65-word answer (as
`bench/answers_qmsum.py`), its sentence scores from the highlighter with each kind of vector. Rows: the sentence's
own vector (float16, as stored), the span mean without the fitted map, and the shipped method (mapped); gains paired
per passage / query against the own vectors; dev and check halves, 90% bootstrap intervals over meetings.

Run: `nice -n 10 python bench/sentence_vectors_qmsum.py` (token embeddings and own vectors cached in
`CACHE_DIR/sentence-vectors-val.pkl`).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from haystack import Document
from rouge_score import rouge_scorer

from bench.answers_qmsum import lines
from bench.highlights_qmsum import highlight_hits
from bench.qmsum import CACHE_DIR, HALVES, QMSUM_DIR, interval, load_meeting, val_halves
from pipeline.components.answer import ExtractiveAnswerWriter
from pipeline.components.passages import PassageHighlighter
from pipeline.embedding import document_embedder, text_embedder
from pipeline.models import Passage
from pipeline.sentence_pooling import load_projection, pool_spans, sentence_spans
from pipeline.text import split_sentences
from training.answer_passages import frozen_path

VARIANTS = ("own vectors", "span mean", "pooled, mapped")


def token_embeddings(model, texts: list[str]) -> tuple[dict, dict]:
    """Each chunk text's token embeddings and offsets (one pass), and its sentences embedded on their own."""
    path = CACHE_DIR / "sentence-vectors-val.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    outputs = model.encode(texts, batch_size=32, output_value=None, convert_to_numpy=False)
    tokens = {}
    for text, output in zip(texts, outputs, strict=True):
        encoded = model.tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length)
        mask = output["attention_mask"].bool()
        tokens[text] = (output["token_embeddings"][mask].numpy(), [tuple(x) for x in encoded["offset_mapping"]])
    unique = sorted({s for text in texts for s in split_sentences(text)})
    alone = dict(zip(unique, model.encode(unique, batch_size=64, normalize_embeddings=True), strict=True))
    own = {text: np.asarray([alone[s] for s in split_sentences(text)], dtype=np.float32) for text in texts}
    path.write_bytes(pickle.dumps((tokens, own)))
    return tokens, own


def vectors(variant: str, tokens: dict, own: dict) -> dict[str, np.ndarray]:
    out = {}
    for text, (embeddings, offsets) in tokens.items():
        if variant == "own vectors":
            rows = list(own[text])
        else:
            projection = load_projection() if variant == "pooled, mapped" else None
            pooled = pool_spans(embeddings, offsets, sentence_spans(text), projection)
            rows = [own[text][j] if v is None else v for j, v in enumerate(pooled)]  # cut: embedded on its own
        matrix = np.stack(rows) if rows else np.zeros((0, 384), np.float32)
        out[text] = matrix.astype(np.float16).astype(np.float32)  # as the SQLite store keeps them
    return out


class Vectors:
    """A stand-in store: `sentence_vectors(ids)` by chunk text (the passages' ids here)."""

    def __init__(self, by_text: dict[str, np.ndarray]) -> None:
        self.by_text = by_text

    def sentence_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self.by_text[i] for i in ids}


def main() -> None:
    records = json.loads(frozen_path("val").read_text())
    halves = val_halves()
    half_of = {p.stem: h for h in HALVES for p in halves[h]}
    texts = sorted({p["text"] for r in records for p in r["passages"]})
    embedder = document_embedder(encoder="torch")
    embedder.warm_up()
    tokens, own = token_embeddings(embedder.embedding_backend.model, texts)
    question_embedder = text_embedder()
    question_embedder.warm_up()
    meetings = {m: load_meeting(QMSUM_DIR / f"{m}.json") for m in {r["meeting"] for r in records}}
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    writer = ExtractiveAnswerWriter(answer_words=65, scorer="fitted")
    writer.warm_up()
    results: dict[str, dict[str, dict[str, list]]] = {}
    for variant in VARIANTS:
        highlighter = PassageHighlighter(vectors=Vectors(vectors(variant, tokens, own)))
        rows = results.setdefault(
            variant, {h: {"hits": [], "hit meetings": [], "rouge": [], "meetings": []} for h in HALVES}
        )
        for record in records:
            half = half_of.get(record["meeting"])
            if half is None:
                continue
            passages = [Passage.model_validate(p) for p in record["passages"]]
            documents = [
                Document(id=p.text, content=p.text, score=p.score, meta={**p.model_dump(), "title": p.title})
                for p in passages
            ]
            question = record["question"]
            output = highlighter.run(
                documents=documents, query=question, query_embedding=question_embedder.run(text=question)["embedding"]
            )
            transcript, queries, _ = meetings[record["meeting"]]
            gold = next(q.gold_turns for q in queries if q.question == question)
            hits = highlight_hits(output["passages"], gold, transcript)
            rows[half]["hits"] += [100 * h for h in hits]
            rows[half]["hit meetings"] += [record["meeting"]] * len(hits)
            answer = writer.run(query=question, passages=output["passages"], sentence_scores=output["sentence_scores"])
            text = " ".join(s.text for s in answer["answer"].sentences)
            score = scorer.score(lines(record["answer"]), lines(text))
            rows[half]["rouge"].append([100 * score[m].fmeasure for m in ("rouge1", "rouge2", "rougeLsum")])
            rows[half]["meetings"].append(record["meeting"])
    print("QMSum val frozen passages; mean [90% bootstrap over meetings]; gain = row - own vectors, paired")
    for half in HALVES:
        base = results[VARIANTS[0]][half]
        print(f"\n{half}: {len(base['hits'])} highlighted passages, {len(base['rouge'])} answers")
        for variant in VARIANTS:
            rows = results[variant][half]
            cells = [f"highlight in gold {interval(rows['hits'], rows['hit meetings'])}"]
            if variant != VARIANTS[0]:
                gain = np.asarray(rows["hits"]) - np.asarray(base["hits"])
                cells[-1] += f" gain {interval(gain, rows['hit meetings'], signed=True)}"
            for column, name in enumerate(("R-1", "R-2", "R-Lsum")):
                ours = np.asarray(rows["rouge"])[:, column]
                cells.append(f"{name} {interval(ours, rows['meetings'])}")
                if variant != VARIANTS[0]:
                    gain = ours - np.asarray(base["rouge"])[:, column]
                    cells[-1] += f" gain {interval(gain, rows['meetings'], signed=True)}"
            print(f"  {variant:<15} " + " | ".join(cells))


if __name__ == "__main__":
    main()
