"""Freezes what the extractive answer writer sees for QMSum's specific queries: each query's passages and sentence
scores from the real query pipeline (`bench.qmsum.highlighted`), with the question and its reference answer, in one
JSON file per split under the bench cache. The answer scorer is fitted (`training/answer_scorer.py`) and compared
(`bench/answers_qmsum.py --frozen`) on these fixed passages, so a change in retrieval made meanwhile does not move
the answer writer's figures.

    nice -n 10 python training/answer_passages.py train            # the train meetings already ingested
    nice -n 10 python training/answer_passages.py train --every 5  # or: every 5th train meeting (ingests missing ones)
    nice -n 10 python training/answer_passages.py val
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.qmsum import (  # noqa: E402
    CACHE_DIR,
    TRAIN_DIR,
    cached_workspace,
    highlighted,
    load_meeting,
    meeting_files,
    val_halves,
)


def frozen_path(split: str) -> Path:
    return CACHE_DIR / f"answer-passages-{split}.json"


def train_files(every: int) -> list[Path]:
    """Every `every`-th train meeting; with 0, the train meetings the bench cache already holds."""
    files = meeting_files(TRAIN_DIR)
    if every:
        return files[::every]
    held = CACHE_DIR / "qmsum-train-165-55-sqlite" / "transcripts"
    return [path for path in files if (held / path.name).exists()]


def collect(split: str, files: list[Path], workspace_name: str) -> list[dict]:
    from pipeline.query import Searcher
    from pipeline.workspace import Workspace

    searcher = Searcher(Workspace(cached_workspace(workspace_name, files)))
    searcher.warm_up()
    records = []
    for number, path in enumerate(files, 1):
        for query in load_meeting(path)[1]:
            passages, scores = highlighted(searcher, query)
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
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", choices=("train", "val"))
    parser.add_argument("--every", type=int, default=0, help="train: every N-th meeting (0: those already ingested)")
    args = parser.parse_args()
    if args.split == "train":
        records = collect("train", train_files(args.every), "qmsum-train")
    else:
        halves = val_halves()
        records = collect("val", halves["dev"] + halves["check"], "qmsum-val")
    path = frozen_path(args.split)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(records))
    partial.replace(path)
    print(f"{len(records)} queries -> {path}")


if __name__ == "__main__":
    main()
