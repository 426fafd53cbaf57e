"""Shared QMSum loading for the benchmarks: meetings as transcripts whose segments are the turns, the project's one
fixed split of val into a dev and a check half, bootstrap intervals over meetings, and cached workspaces.

The split: **dev** = the meetings at even positions (0, 2, 4, ...) of `sorted(val/*.json)`, **check** = the odd
positions. Settings are tuned on dev only; a change counts only if check shows the gain too. Anything learned is
fitted on `train/`, never on val.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.models import Segment, Talk, Transcript

QMSUM_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "qmsum"
QMSUM_DIR = QMSUM_ROOT / "val"
TRAIN_DIR = QMSUM_ROOT / "train"
HALVES = ("dev", "check")
#: Reruns reuse the ingested meetings (embeddings are the slow part) from here; delete it to start afresh.
CACHE_DIR = Path(os.environ.get("TALKS_BENCH_CACHE", "/tmp/talks-bench-cache"))
_ANNOTATION = re.compile(r"\{\w+\}")


@dataclass
class Query:
    meeting: str
    question: str
    answer: str
    gold_turns: set[int]


def meeting_files(directory: Path = QMSUM_DIR) -> list[Path]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise SystemExit(f"no QMSum meetings in {directory}: is ../shared/eval/qmsum/{directory.name} there?")
    return files


def val_halves(limit: int = 0) -> dict[str, list[Path]]:
    """The fixed split of val: dev = even positions of the sorted files, check = odd (`limit`: the first N of each)."""
    files = meeting_files(QMSUM_DIR)
    return {"dev": files[0::2][: limit or None], "check": files[1::2][: limit or None]}


def load_meeting(path: Path) -> tuple[Transcript, list[Query], dict]:
    """The meeting as a transcript (QMSum's `{disfmarker}`-style annotations removed) and its specific queries."""
    data = json.loads(path.read_text())
    talk_id = path.stem
    segments = [
        Segment(index=i, text=" ".join(_ANNOTATION.sub(" ", turn["content"]).split()), speaker=turn["speaker"])
        for i, turn in enumerate(data["meeting_transcripts"])
    ]
    speakers = sorted({turn["speaker"] for turn in data["meeting_transcripts"]})
    transcript = Transcript(talk=Talk(id=talk_id, title=talk_id, speakers=speakers, event="QMSum"), segments=segments)
    queries = []
    for item in data["specific_query_list"]:
        gold = {t for start, end in item["relevant_text_span"] for t in range(int(start), int(end) + 1)}
        queries.append(Query(talk_id, item["query"], item["answer"], gold))
    return transcript, queries, data


def cached_workspace(name: str, files: Sequence[Path], settings=None, store=None) -> Path:
    """A workspace under `CACHE_DIR` holding every meeting of `files`, ingested through the real indexing pipeline
    (`settings`: `IndexSettings`; `store`: `StoreConfig`, default the default store). Meetings already there are
    not embedded again, so reruns cost only the queries."""
    from pipeline.ingest import Ingestor
    from pipeline.pipelines import IndexSettings
    from pipeline.stores import StoreConfig, open_store
    from pipeline.workspace import Workspace

    settings = settings or IndexSettings()
    if getattr(settings, "restore_punctuation", "off") != "off":  # QMSum is punctuated: "auto" would not restore it
        settings = replace(settings, restore_punctuation="off")  # and "off" needs no punctuation model loaded
    store = store or StoreConfig()
    root = CACHE_DIR / f"{name}-{settings.chunk_words}-{settings.chunk_overlap}-{store.kind}"
    workspace = Workspace(root).create()
    opened = open_store(store, root)
    try:
        present = set(opened.facets().talk_ids)
    finally:
        opened.close()
    missing = [path for path in files if path.stem not in present]
    if missing:
        _copy_from_other_stores(root, store, missing)
        missing = [path for path in missing if not workspace.has_talk(path.stem)]
    if missing:
        ingestor = Ingestor(workspace, settings, store)
        ingestor.warm_up()
        for outcome in ingestor.ingest_many(load_meeting(path)[0] for path in missing):
            if outcome.error:
                raise outcome.error
    return root


def _copy_from_other_stores(root: Path, store, missing: list[Path]) -> None:
    """Meetings a cache of the same chunking in another store already holds are copied (`pipeline.migrate`, no
    re-embedding) with their transcripts, instead of being embedded again."""
    import shutil

    from pipeline.migrate import migrate
    from pipeline.stores import StoreConfig, open_store

    wanted = {path.stem for path in missing}
    for other in sorted(root.parent.glob(f"{root.name.rsplit('-', 1)[0]}-*")):
        kind = other.name.rsplit("-", 1)[1]
        if other == root or kind == store.kind or kind in ("pgvector", "qdrant"):
            continue
        source, target = open_store(StoreConfig(kind=kind), other), open_store(store, root)
        try:
            found = sorted(wanted & set(source.talk_ids()))
            if found:
                migrate(source, target, found)
                for talk_id in found:
                    shutil.copy2(other / "transcripts" / f"{talk_id}.json", root / "transcripts" / f"{talk_id}.json")
            wanted -= set(found)
        finally:
            source.close()
            target.close()


def cached_embeddings(texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], name: str) -> np.ndarray:
    """`embed(texts)`, kept in `CACHE_DIR/<name>-<hash of the texts>.npy` so reruns skip the model."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(embed(list(texts)), dtype=np.float32).reshape(len(texts), -1)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def asked(searcher, query: Query) -> dict[str, Any]:
    """The query pipeline's run for `query` against its own meeting, with the highlighter's and the text embedder's
    outputs (passages, sentence scores and vectors; the question's vector)."""
    from pipeline.pipelines import query_inputs

    filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
    inputs = query_inputs(query.question, filters, searcher.settings.top_k, 0, searcher.settings.rerank)
    return searcher.pipeline.run(inputs, include_outputs_from={"highlighter", "text_embedder"})


def highlighted(searcher, query: Query) -> tuple[list, list[list[float]]]:
    """The query pipeline's passages and sentence scores for `query` (asked against its own meeting), as the answer
    writer receives them; kept in `CACHE_DIR` per workspace and query settings, so answer-writer experiments rerun
    without retrieval."""
    from pipeline.models import Passage

    # The store's size is in the key: keyword statistics are store-wide, so a meeting's passages can change when
    # more meetings are ingested into the same workspace (train --every 5, then --every 1).
    size = searcher.store.count_chunks()
    key = hashlib.sha256(
        f"{searcher.store.describe()}|{size}|{searcher.settings}|{query.meeting}|{query.question}".encode()
    )
    path = CACHE_DIR / "highlighted" / f"{key.hexdigest()[:24]}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return [Passage.model_validate(p) for p in stored["passages"]], stored["scores"]
    output = asked(searcher, query)["highlighter"]
    path.parent.mkdir(parents=True, exist_ok=True)
    passages = [p.model_dump(mode="json") for p in output["passages"]]
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"passages": passages, "scores": output["sentence_scores"]}))
    partial.replace(path)  # whole or not at all, when two runs fill the cache at once
    return output["passages"], output["sentence_scores"]


def bootstrap(
    values: Sequence[float] | np.ndarray, meetings: Sequence[str], rounds: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """The mean of per-query `values` and its 90% bootstrap interval, resampling whole meetings (queries of one
    meeting are not independent). For a gain, pass per-query differences between two methods (paired)."""
    values = np.asarray(values, dtype=float)
    names = sorted(set(meetings))
    index = {name: i for i, name in enumerate(names)}
    groups = np.asarray([index[m] for m in meetings])
    sums = np.bincount(groups, weights=values, minlength=len(names))
    counts = np.bincount(groups, minlength=len(names)).astype(float)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(rounds, len(names)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [5, 95])
    return float(values.mean()), float(low), float(high)


def interval(values: Sequence[float] | np.ndarray, meetings: Sequence[str], signed: bool = False) -> str:
    """`mean [low, high]` as printed in the benchmark tables."""
    mean, low, high = bootstrap(values, meetings)
    sign = "+" if signed else ""
    return f"{mean:{sign}.1f} [{low:{sign}.1f}, {high:{sign}.1f}]"
