"""Extractive recap time, warm (models loaded, in one process): the founder talk (bundled sample, 35 min, 4.9k words)
and the QMSum val meeting nearest 10k words, median of `--runs`, with the machine's load.

Side by side, alternating: the recap of the talk as stored in a workspace (`Recapper(workspace).recap`, which takes
the sentence embeddings the SQLite store kept at ingest and embeds only the sentences the stored chunks do not hold)
and the recap of the same transcript with every sentence embedded (`Recapper().recap_transcript`, no store), with
whether the two recaps are identical (generation time aside). Beside them, embedding all the talk's sentences alone
(the recap pipeline's `embedder` over the `splitter`'s sentences), the step the stored vectors save. Targets (README,
"Warm ask, recap and ingest overhead"): ≤ 1.5 s for the founder talk, ≤ 5 s for a 10k-word meeting.

Run: `python bench/recap.py [--runs 3]`. The workspaces are the bench cache's (`bench/ask.py`'s 100 copies of the
founder talk; the QMSum val meetings), ingested on first use.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ask import long_talks_workspace
from bench.qmsum import HALVES, cached_workspace, load_meeting, val_halves


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def comparable(recap) -> dict:
    data = recap.model_dump(mode="json")
    data["generation"].pop("seconds", None)
    data["generation"].pop("created_at", None)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from pipeline.recap import Recapper
    from pipeline.stores import StoreConfig
    from pipeline.workspace import Workspace

    halves = val_halves()
    files = [path for half in HALVES for path in halves[half]]
    meeting = min(files, key=lambda path: abs(load_meeting(path)[0].word_count - 10_000))
    talks = {
        "founder talk": (long_talks_workspace(100), "founder-talk-0"),
        f"QMSum {meeting.stem}": (
            cached_workspace("h12-val-sentences", [meeting], store=StoreConfig(kind="sqlite")),
            meeting.stem,
        ),
    }
    plain = Recapper()
    plain.warm_up()
    splitter, embedder = plain.pipeline.get_component("splitter"), plain.pipeline.get_component("embedder")
    print(f"extractive recap, warm, median of {args.runs}; load {load()}")
    for name, (root, talk_id) in talks.items():
        workspace = Workspace(root)
        stored = Recapper(workspace)
        stored.warm_up()
        transcript = workspace.load_transcript(talk_id)
        stored.recap(talk_id)  # first call: lazy imports and caches left out
        times: dict[str, list[float]] = {"stored": [], "embedded": [], "embedding alone": []}
        same = True
        for _ in range(args.runs):
            started = time.perf_counter()
            with_store = stored.recap(talk_id)
            times["stored"].append(time.perf_counter() - started)
            started = time.perf_counter()
            without = plain.recap_transcript(transcript)
            times["embedded"].append(time.perf_counter() - started)
            sentences = splitter.run(transcripts=[transcript])["documents"]
            started = time.perf_counter()
            embedder.run(documents=sentences)
            times["embedding alone"].append(time.perf_counter() - started)
            same = same and comparable(with_store) == comparable(without)
        median = {key: statistics.median(values) for key, values in times.items()}
        print(
            f"  {name:<16} {transcript.word_count:>6} words, {len(sentences):>5} sentences: recap with stored "
            f"sentence vectors {median['stored']:5.2f} s, every sentence embedded {median['embedded']:5.2f} s "
            f"(embedding alone {median['embedding alone']:5.2f} s); identical recaps: {'yes' if same else 'NO'}; "
            f"load {load()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
