"""The punctuation restorer's MiniLM context (`pipeline.punctuation_context`) through torch and through ONNX Runtime,
side by side in one run: CPU time, the restored text's differences, and a cold `talks ingest` of a caption file.

Run: `OMP_NUM_THREADS=1 nice -n 10 python bench/punctuation_context.py [--rounds 7] [--cold 3]` (about 2 minutes).

- inputs: the bundled samples the ingest restores (the pipeline's cleaner, then `needs_restoration`: the two
  caption-style talks, the ones `bench/ingest.py` restores), and QMSum val's first dev meeting cut into caption
  pieces as `bench/punctuation.py` cuts them (seed 0).
- backends: `torch` (the transformers layers, 16 windows a call: the path before ONNX), `onnx` (the cached export,
  one window a run: the shipped path), and `onnx, 16 a run` (the same export fed 16 windows a run, the batching
  the torch path uses) to show what batching gives ONNX Runtime.
- CPU seconds (the process's, all threads) of the context features of the samples' words, and of the whole
  restoration (`restore_segments`: context, network, marks), per backend, in R interleaved rounds (order reversed
  every other round); medians and the median of each round's ratio to torch.
- differences: the restored words of each backend against torch's: marks (`,` `.` `?` after a word) and words that
  differ in any way (case included).
- `--cold N`: `talks ingest data/lightning-pricing.json` in a new process and an empty workspace, N times per
  backend, alternating (`TALKS_PUNCTUATION_CONTEXT`); wall and CPU medians. The ONNX export is made before (it is
  made once per model version and torch version, like the question encoder's).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from pipeline import punctuation_context  # noqa: E402
from pipeline.components.cleaner import TranscriptCleaner  # noqa: E402
from pipeline.components.punctuation import PunctuationModel, needs_restoration, restore_segments  # noqa: E402
from pipeline.models import Segment  # noqa: E402
from pipeline.punctuation_context import BACKEND_ENV, ContextEncoder  # noqa: E402
from pipeline.sources import expand_sources, load_source  # noqa: E402

COLD_FILE = ROOT / "data" / "lightning-pricing.json"
MARKS = (",", ".", "?")


class Batched(ContextEncoder):
    """The ONNX export fed `ROWS_PER_BATCH` windows a run (the module's torch batching), for comparison."""

    def encode(self, words: list[str]):
        shipped = punctuation_context.ROWS_PER_RUN
        punctuation_context.ROWS_PER_RUN = punctuation_context.ROWS_PER_BATCH
        try:
            return super().encode(words)
        finally:
            punctuation_context.ROWS_PER_RUN = shipped


def samples() -> dict[str, list[Segment]]:
    """The bundled talks the ingest restores, cleaned as the pipeline cleans them."""
    cleaner = TranscriptCleaner()
    found = {}
    for item in expand_sources([str(ROOT / "data")]):
        transcript = cleaner.run(transcript=load_source(item, None, None))["transcript"]
        if needs_restoration(transcript):
            found[transcript.talk.id] = transcript.segments
    return found


def qmsum_meeting() -> tuple[str, list[Segment]]:
    from punctuation import caption_segments  # bench/punctuation.py

    from training.punctuation import val_halves

    meeting = val_halves()[0][0]
    return f"QMSum {meeting.name}", caption_segments(meeting)


def mark(word: str) -> str:
    return word[-1] if word[-1:] in MARKS else ""


def cpu_seconds(run) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def cold_ingest(backend: str) -> tuple[float, float]:
    """Wall and CPU seconds of `talks ingest COLD_FILE` in a new process and an empty workspace."""
    with tempfile.TemporaryDirectory() as workspace:
        env = {**os.environ, "TALKS_WORKSPACE": workspace, BACKEND_ENV: backend, "PYTHONPATH": str(ROOT)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "ingest", str(COLD_FILE)], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"talks ingest failed ({backend}): {result.stderr.strip()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold", type=int, default=3, help="cold ingests per backend (0: none)")
    args = parser.parse_args()
    import torch

    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    model = PunctuationModel.load()
    layers = model.context_layers
    encoders = {
        "torch": ContextEncoder(layers, backend="torch"),
        "onnx": ContextEncoder(layers, backend="onnx"),
        "onnx, 16 a run": Batched(layers, backend="onnx"),
    }
    if encoders["onnx"].backend != "onnx":
        raise SystemExit("the ONNX export could not be made (see the warning above)")
    print(
        f"context: the first {layers} MiniLM layers; torch threads {torch.get_num_threads()}, "
        f"ONNX Runtime intra-op threads {punctuation_context._threads()} (OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')})"
    )
    inputs = samples()
    words = [w.lower() for segments in inputs.values() for s in segments for w in s.text.split()]
    print(f"samples restored at ingest: {', '.join(inputs)} ({len(words):,} words)")

    def restore_all(encoder: ContextEncoder) -> None:
        model._encoder = encoder
        for segments in inputs.values():
            restore_segments(model, segments)

    for encoder in encoders.values():  # warm
        encoder.encode(words[:500])
        restore_all(encoder)
    context: dict[str, list[float]] = {name: [] for name in encoders}
    restore: dict[str, list[float]] = {name: [] for name in encoders}
    for number in range(args.rounds):
        order = list(encoders) if number % 2 == 0 else list(reversed(encoders))
        for name in order:
            context[name].append(cpu_seconds(lambda e=encoders[name]: e.encode(words)))
            restore[name].append(cpu_seconds(lambda e=encoders[name]: restore_all(e)))
    print(f"\nCPU seconds, medians of {args.rounds} interleaved rounds (ratio: median of per-round ratios to torch)")
    for label, timings in (("context features", context), ("whole restoration", restore)):
        for name, values in timings.items():
            ratios = [v / t for v, t in zip(values, timings["torch"], strict=True)]
            print(
                f"  {label:<18} {name:<15} {statistics.median(values):.3f} s  x{statistics.median(ratios):.2f}  "
                f"({len(words) / statistics.median(values):,.0f} words/s; rounds "
                + ", ".join(f"{v:.3f}" for v in values)
                + ")"
            )

    print("\nrestored text against torch's")
    name, segments = qmsum_meeting()
    for title, pieces in [*inputs.items(), (name, segments)]:
        outputs = {}
        for backend, encoder in encoders.items():
            model._encoder = encoder
            outputs[backend] = [w for s in restore_segments(model, pieces) for w in s.text.split()]
        reference = outputs["torch"]
        marks = sum(1 for w in reference if mark(w))
        for backend in ("onnx", "onnx, 16 a run"):
            found = outputs[backend]
            marks_differ = sum(1 for a, b in zip(reference, found, strict=True) if mark(a) != mark(b))
            words_differ = sum(1 for a, b in zip(reference, found, strict=True) if a != b)
            print(
                f"  {title} ({len(reference):,} words, {marks:,} marks): {backend}: {marks_differ} marks and "
                f"{words_differ} words differ"
            )
        lowered = [w.lower() for s in pieces for w in s.text.split()]
        gap = abs(encoders["onnx"].encode(lowered) - encoders["torch"].encode(lowered)).max()
        print(f"    largest feature difference, onnx against torch: {gap:.1e}")

    if args.cold:
        print(f"\ncold `talks ingest {COLD_FILE.name}` (new process, empty workspace), {args.cold} runs a backend")
        runs: dict[str, list[tuple[float, float]]] = {"torch": [], "onnx": []}
        for number in range(args.cold):
            for backend in ("torch", "onnx") if number % 2 == 0 else ("onnx", "torch"):
                runs[backend].append(cold_ingest(backend))
        for backend, values in runs.items():
            print(
                f"  {backend:<6} wall median {statistics.median(w for w, _ in values):.2f} s, CPU median "
                f"{statistics.median(c for _, c in values):.2f} s (runs "
                + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in values)
                + ")"
            )
    print(f"\nload after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
