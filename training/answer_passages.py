"""Freezes what the extractive answer writer sees for QMSum's specific queries: each query's passages and sentence
scores from the real query pipeline (`bench.qmsum.asked`, as `bench.qmsum.highlighted` runs it, not through its
cache, which holds no vectors), with the question and its reference answer, in one JSON file per split under the
bench cache. The answer scorer is fitted (`training/answer_scorer.py`) and compared (`bench/answers_qmsum.py
--frozen`) on these fixed passages, so a change in retrieval made meanwhile does not move the answer writer's
figures. Beside it, `answer-passages-<split>-vectors.npz`: each query's vector and its passages' sentence vectors
(those the highlighter scored, the store's), for `training/answer_probe.py`.

    nice -n 10 python training/answer_passages.py train            # the train meetings already ingested
    nice -n 10 python training/answer_passages.py train --every 5  # or: every 5th train meeting (ingests missing ones)
    nice -n 10 python training/answer_passages.py val
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.qmsum import (  # noqa: E402
    CACHE_DIR,
    TRAIN_DIR,
    asked,
    cached_workspace,
    load_meeting,
    meeting_files,
    val_halves,
)


def frozen_path(split: str) -> Path:
    return CACHE_DIR / f"answer-passages-{split}.json"


def vectors_path(split: str) -> Path:
    return CACHE_DIR / f"answer-passages-{split}-vectors.npz"


def load_vectors(split: str) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """The frozen queries' vectors (a row a query) and, for each query, each passage's sentence vectors."""
    path = vectors_path(split)
    if not path.exists():
        raise SystemExit(f"no frozen vectors at {path}: run training/answer_passages.py {split} again")
    data = np.load(path)
    queries = data["queries"].astype(np.float32)
    sentences, counts = data["sentences"].astype(np.float32), data["counts"]
    passages = data["passages"]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    groups = [sentences[bounds[i] : bounds[i + 1]] for i in range(len(counts))]
    result, start = [], 0
    for n in passages:
        result.append(groups[start : start + n])
        start += n
    return queries, result


def _asked(searcher, query) -> tuple[list, list[list[float]], np.ndarray, list[np.ndarray]]:
    """The query pipeline's passages, sentence scores, query vector and sentence vectors for `query`."""
    output = asked(searcher, query)
    high = output["highlighter"]
    return high["passages"], high["sentence_scores"], output["text_embedder"]["vector"], high["sentence_vectors"]


def train_files(every: int) -> list[Path]:
    """Every `every`-th train meeting; with 0, the train meetings the bench cache already holds."""
    files = meeting_files(TRAIN_DIR)
    if every:
        return files[::every]
    held = CACHE_DIR / "qmsum-train-165-55-sqlite" / "transcripts"
    return [path for path in files if (held / path.name).exists()]


def collect(split: str, files: list[Path], workspace_name: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    from pipeline.query import Searcher
    from pipeline.workspace import Workspace

    searcher = Searcher(Workspace(cached_workspace(workspace_name, files)))
    searcher.warm_up()
    records = []
    queries, sentences, counts, passage_counts = [], [], [], []
    for number, path in enumerate(files, 1):
        for query in load_meeting(path)[1]:
            passages, scores, query_vector, sentence_vectors = _asked(searcher, query)
            queries.append(np.asarray(query_vector, dtype=np.float32))
            for vectors in sentence_vectors:
                sentences.append(np.asarray(vectors, dtype=np.float32).reshape(-1, len(query_vector)))
                counts.append(len(sentences[-1]))
            passage_counts.append(len(sentence_vectors))
            records.append(
                {
                    "meeting": query.meeting,
                    "question": query.question,
                    "answer": query.answer,
                    "passages": [p.model_dump(mode="json") for p in passages],
                    "scores": scores,
                }
            )
        print(f"{split}: {number}/{len(files)} meetings, {len(records)} queries", file=sys.stderr, flush=True)
    vectors = {
        "queries": np.stack(queries).astype(np.float16),
        "sentences": np.concatenate(sentences).astype(np.float16),
        "counts": np.asarray(counts),
        "passages": np.asarray(passage_counts),
    }
    return records, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", choices=("train", "val"))
    parser.add_argument("--every", type=int, default=0, help="train: every N-th meeting (0: those already ingested)")
    args = parser.parse_args()
    if args.split == "train":
        records, vectors = collect("train", train_files(args.every), "qmsum-train")
    else:
        halves = val_halves()
        records, vectors = collect("val", halves["dev"] + halves["check"], "qmsum-val")
    path = frozen_path(args.split)
    partial = path.with_suffix(".tmp.npz")
    np.savez_compressed(partial, **vectors)
    partial.replace(vectors_path(args.split))
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(records))
    partial.replace(path)
    print(f"{len(records)} queries -> {path}")


if __name__ == "__main__":
    main()
