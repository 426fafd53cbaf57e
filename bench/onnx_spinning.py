"""ONNX Runtime's idle intra-op threads spinning (its default) against sleeping (what `pipeline/onnx_encoder.py`
sets), side by side in one run: the founder talk's sentences encoded with the int8 model (a recap's sentence pass)
and single questions (what `talks ask` embeds), medians of interleaved rounds, wall and CPU time.

Run: `python bench/onnx_spinning.py [--rounds 5]` (state the load it prints; the difference shows on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import onnxruntime  # noqa: E402
import webvtt  # noqa: E402

from pipeline import onnx_encoder  # noqa: E402
from pipeline.embedding import embedding_model_path  # noqa: E402
from pipeline.text import split_sentences  # noqa: E402


def session_factory(spinning: bool):
    """`onnx_encoder._session` with the given spinning setting (the shipped one differs only in that)."""

    def session(path: Path, threads: int) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    return session


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    text = " ".join(caption.text for caption in webvtt.read(str(ROOT / "data" / "founder-talk.vtt")))
    sentences = split_sentences(text)
    folder = Path(embedding_model_path())
    encoders = {}
    for spinning in (True, False):
        onnx_encoder._session = session_factory(spinning)  # type: ignore[assignment]
        encoders[spinning] = onnx_encoder.OnnxEncoder(folder, "int8")
        encoders[spinning].encode(sentences[:50])  # warm
    passes: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    questions: dict[bool, list[float]] = {True: [], False: []}
    print(f"load before: {os.getloadavg()[0]:.2f}; {len(sentences)} sentences, {args.rounds} interleaved rounds")
    for number in range(args.rounds):
        for spinning in (True, False) if number % 2 == 0 else (False, True):
            wall, cpu = time.perf_counter(), cpu_seconds()
            encoders[spinning].encode(sentences)
            passes[spinning].append((time.perf_counter() - wall, cpu_seconds() - cpu))
            wall = time.perf_counter()
            for question in sentences[:20]:
                encoders[spinning].encode([question])
            questions[spinning].append((time.perf_counter() - wall) / 20)
    for spinning in (True, False):
        name = "spinning" if spinning else "sleeping (shipped)"
        wall = statistics.median(w for w, _ in passes[spinning])
        cpu = statistics.median(c for _, c in passes[spinning])
        question = statistics.median(questions[spinning]) * 1000
        print(f"{name:<19} sentences {wall:.2f} s wall, {cpu:.2f} s CPU; one question {question:.1f} ms")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
