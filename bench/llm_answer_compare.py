"""Two settings of the LLM answers of `bench/llm_qmsum.py` paired on the queries both answered: ROUGE-1/2 of each
and the paired difference (new − old) by val half, with 90% bootstrap intervals over meetings; words and dropped
sentences beside them. No model call: reads the results files (`/tmp/talks-bench-cache/llm-qmsum-<key>.jsonl`,
printed by `bench/llm_qmsum.py` when it starts).

Run: `python bench/llm_answer_compare.py OLD.jsonl NEW.jsonl [--half dev]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import HALVES, interval


def answers(path: Path) -> dict[tuple[str, str], dict]:
    """The specific-query rows of a results file, keyed by (meeting, query)."""
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {(row["meeting"], row["query"]): row for row in rows if row["kind"] == "specific"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, help="results file of the setting compared against")
    parser.add_argument("new", type=Path, help="results file of the new setting")
    parser.add_argument("--half", choices=HALVES, help="one half only")
    args = parser.parse_args()
    for path in (args.old, args.new):
        if not path.is_file():
            print(f"no results file {path}")
            return
    old, new = answers(args.old), answers(args.new)
    shared = [key for key in new if key in old and new[key]["half"] in ([args.half] if args.half else HALVES)]
    if not shared:
        print("the two files answered no query in common")
        return
    print(f"old {args.old.name}, new {args.new.name}; ROUGE F1 x100, mean [90% bootstrap interval over meetings]")
    for half in HALVES:
        keys = [key for key in shared if new[key]["half"] == half]
        if not keys:
            continue
        meetings = [key[0] for key in keys]
        print(f"{half}: {len(keys)} queries, {len(set(meetings))} meetings")
        for metric, name in (("rouge1", "R-1"), ("rouge2", "R-2")):
            cells = [
                f"old {interval([old[k]['llm'][metric] for k in keys], meetings)}",
                f"new {interval([new[k]['llm'][metric] for k in keys], meetings)}",
                f"new − old {interval([new[k]['llm'][metric] - old[k]['llm'][metric] for k in keys], meetings, True)}",
                f"new − extractive "
                f"{interval([new[k]['llm'][metric] - new[k]['extractive'][metric] for k in keys], meetings, True)}",
            ]
            print(f"  {name}: " + "; ".join(cells))
        seconds = [np.median([row[k]["seconds"] for k in keys]) for row in (old, new)]
        dropped = [sum((row[k].get("grounding") or {}).get("claims_dropped", 0) for k in keys) for row in (old, new)]
        print(
            f"  words old {np.mean([old[k]['llm_words'] for k in keys]):.0f}, "
            f"new {np.mean([new[k]['llm_words'] for k in keys]):.0f}; sentences dropped old {dropped[0]}, "
            f"new {dropped[1]}; invalid citations new {sum(new[k]['invalid'] for k in keys)}; extractive fallbacks "
            f"new {sum(new[k]['method'] == 'extractive' for k in keys)}; median seconds old {seconds[0]:.0f}, "
            f"new {seconds[1]:.0f}"
        )


if __name__ == "__main__":
    main()
