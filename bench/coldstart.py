"""Cold start of the command line: `talks list` and `talks ask` in a new process each time, wall-clock and CPU
medians, this tree beside another checkout of the package (e.g. a worktree of the previous commit) in one run,
interleaved so both see the same load. Also counts what each process imported (torch really loaded, Haystack,
sentence-transformers, scikit-learn) with `python -X importtime`.

Run: `nice -n 10 python bench/coldstart.py --workspace WS [--baseline /tmp/base [--baseline-workspace WS2]] [--runs 5]`
(WS: a workspace with the sample talks ingested, e.g. `TALKS_WORKSPACE=WS talks ingest data/`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Why did they keep the Apache license?"
COMMANDS = {"list": ["list"], "ask": ["ask", QUESTION]}
HEAVY = ("torch._C", "haystack", "sentence_transformers", "transformers", "sklearn", "onnxruntime")


def run(tree: Path, workspace: Path, arguments: list[str], importtime: bool = False) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stderr) of `python -m pipeline.cli ARGS` importing `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TALKS_WORKSPACE": str(workspace)}
    flags = ["-X", "importtime"] if importtime else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *flags, "-m", "pipeline.cli", *arguments], cwd=tree, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{tree}: talks {' '.join(arguments)} failed: {result.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stderr


def imported(stderr: str) -> list[str]:
    names = {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, help="another checkout of the package, measured alongside")
    parser.add_argument("--baseline-workspace", type=Path, help="its workspace, if it cannot read WS (older schema)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"this tree": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    workspaces = {"this tree": args.workspace, "baseline": args.baseline_workspace or args.workspace}
    print(f"load before: {os.getloadavg()[0]:.1f}")
    for name, tree in trees.items():  # warm the OS file cache and any first-use export before timing
        for arguments in COMMANDS.values():
            run(tree, workspaces[name], arguments)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.runs):
        for command, arguments in COMMANDS.items():
            for name, tree in trees.items():
                wall, cpu, _ = run(tree, workspaces[name], arguments)
                times.setdefault((name, command), []).append((wall, cpu))
    print(f"load after: {os.getloadavg()[0]:.1f}; medians of {args.runs} runs, interleaved")
    for command, arguments in COMMANDS.items():
        for name, tree in trees.items():
            walls, cpus = zip(*times[(name, command)], strict=True)
            heavy = imported(run(tree, workspaces[name], arguments, importtime=True)[2])
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            shown = ", ".join(heavy) or "none of " + ", ".join(HEAVY)
            print(f"talks {command:<5} {name:<10} wall {wall:5.2f} s  CPU {cpu:5.2f} s  imports: {shown}")


if __name__ == "__main__":
    main()
