"""Batch throughput: wall time and per-talk stage times of one generated conference at several `--jobs`, on the
local engine and (`--engine ray`) on Ray with 1 and 2 workers.

Generates `--talks` 3–5 minute talks cut from the four samples in data/ (in their own formats: VTT, SRT, YouTube
JSON, plain-text turns) plus `--youtube` talks served by the local fake YouTube with `--delay` seconds of latency,
then runs `run_batch` over the same manifest in a fresh workspace per configuration and prints where time went,
from the stage timings the batch records, then every configuration side by side. Each Ray run starts its own local
Ray (as `talks batch --engine ray` does); its start-up (Ray, the workers, their model) is shown apart from the rest.
Run from the repository root: `python -m bench.batch [--engine local ray]`.
"""

from __future__ import annotations

import argparse
import csv
import functools
import html
import io
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from pipeline.batch import BatchReport, run_batch
from pipeline.ingest import Ingestor
from pipeline.models import Segment, Transcript
from pipeline.sources.files import load_file
from pipeline.workspace import Workspace
from tests.fakeyoutube import FakeTrack, FakeVideo, FakeYouTube, FakeYouTubeSession

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = ["founder-talk.vtt", "panel-remote-teams.srt", "lightning-pricing.json", "fireside-chat.txt"]
STAGES = ["fetch", "parse", "queue", "clean", "chunk", "embed", "write", "recap", "render"]


def window(transcript: Transcript, rng: random.Random) -> list[Segment]:
    """A 3–5 minute stretch of whole segments, re-timed to start at 0."""
    length = rng.uniform(180, 300)
    total = transcript.duration or 0.0
    offset = rng.uniform(0, max(0.0, total - length))
    picked = [s for s in transcript.segments if s.start is not None and offset <= s.start < offset + length]
    return [
        s.model_copy(update={"start": s.start - offset, "end": (s.end if s.end is not None else s.start) - offset})
        for s in picked
    ]


def stamp(seconds: float, comma: bool) -> str:
    millis = round(seconds * 1000)
    text = f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"
    return text.replace(".", ",") if comma else text


def render(segments: list[Segment], suffix: str) -> str:
    """The segments in the format of `suffix`."""
    if suffix == ".vtt":
        cues = [f"{stamp(s.start, False)} --> {stamp(s.end, False)}\n{s.text}" for s in segments]
        return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"
    if suffix == ".srt":
        cues = [f"{n}\n{stamp(s.start, True)} --> {stamp(s.end, True)}\n{s.text}" for n, s in enumerate(segments, 1)]
        return "\n\n".join(cues) + "\n"
    if suffix == ".json":
        return json.dumps([{"text": s.text, "start": s.start, "duration": s.end - s.start} for s in segments])
    turns = [f"[{int(s.start) // 60:02d}:{int(s.start) % 60:02d}] {s.speaker or 'Speaker'}: {s.text}" for s in segments]
    return "\n".join(turns) + "\n"


def generate(folder: Path, talks: int, youtube: int, delay: float, fake: FakeYouTube, seed: int = 7) -> Path:
    """Talk files, fake videos and the manifest listing them all; returns the manifest."""
    rng = random.Random(seed)
    samples = [load_file(DATA / name) for name in SAMPLES]
    rows = []
    for number in range(talks + youtube):
        sample = samples[number % len(samples)]
        segments = window(sample, rng)
        title = f"{sample.talk.title} (part {number})"
        if number < talks:
            suffix = Path(SAMPLES[number % len(SAMPLES)]).suffix
            source = f"talk-{number:03d}{suffix}"
            (folder / source).write_text(render(segments, suffix))
        else:
            source = f"benchVid{number:03d}"
            cues = [(s.start, s.end - s.start, html.escape(s.text)) for s in segments]
            fake.add(source, FakeVideo(tracks=[FakeTrack("en", "English", cues=cues)], delay=delay))
        rows.append({"source": source, "title": title, "speakers": ";".join(sample.talk.speakers), "event": "Bench"})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def summarize(label: str, report: BatchReport) -> list[str]:
    done = report.with_status("done")
    if len(done) != len(report.outcomes):
        raise SystemExit(f"{label}: not every talk was done: {[(o.talk_id, o.reason) for o in report.outcomes]}")
    totals = [o.timings["total"] for o in done]
    work = [o.timings["total"] - o.timings.get("queue", 0.0) for o in done]
    means = {stage: statistics.fmean(o.timings.get(stage, 0.0) for o in done) for stage in STAGES}
    fetched = [o.timings["fetch"] for o in done if "fetch" in o.timings]
    chunks = sum(o.chunks or 0 for o in done)
    embed_sum = sum(o.timings.get("embed", 0.0) for o in done)
    busy = sum(means[stage] for stage in STAGES if stage != "queue")
    shares = sorted(((means[s] / busy, s) for s in STAGES if s != "queue" and means[s] / busy >= 0.005), reverse=True)
    workers = ""
    if report.workers:
        workers = ", talks per Ray worker " + " + ".join(str(worker["talks"]) for worker in report.workers)
    return [
        f"{label} (torch threads per worker: {report.torch_threads}{workers})",
        f"  wall {report.seconds:.1f}s for {len(done)} talks ({chunks} chunks), start-up {report.startup:.1f}s:"
        f" {60 * len(done) / report.seconds:.0f} talks/min; per talk {statistics.fmean(totals):.2f}s mean,"
        f" {statistics.median(totals):.2f}s median from fetch start to done ({statistics.fmean(work):.2f}s without"
        " queue wait)",
        "  mean seconds per talk: "
        + ", ".join(f"{stage} {means[stage]:.3f}" for stage in STAGES if means[stage] or stage in ("fetch", "embed")),
        "  share of the time spent on a talk (queue wait aside): "
        + ", ".join(f"{stage} {100 * share:.0f}%" for share, stage in shares),
        f"  fetch over the {len(fetched)} YouTube talks: {statistics.fmean(fetched) if fetched else 0:.2f}s mean;"
        f" embed {1000 * embed_sum / max(chunks, 1):.0f} ms per chunk",
    ]


def side_by_side(rows: list[tuple[str, BatchReport]]) -> list[str]:
    """One line a configuration: wall time, start-up, the rest, throughput without start-up, per-talk work."""
    header = (
        f"{'configuration':<36} {'wall s':>7} {'start-up s':>10} {'after s':>8} {'talks/min':>9} {'work s/talk':>11}"
    )
    lines = [header, "-" * len(header)]
    for label, report in rows:
        done = report.with_status("done")
        after = report.seconds - report.startup
        work = statistics.fmean(o.timings["total"] - o.timings.get("queue", 0.0) for o in done)
        lines.append(
            f"{label:<36} {report.seconds:>7.1f} {report.startup:>10.1f} {after:>8.1f}"
            f" {60 * len(done) / max(after, 1e-9):>9.0f} {work:>11.2f}"
        )
    return lines


def run(manifest: Path, jobs: int, fake: FakeYouTube, threads: int, engine: str = "local") -> BatchReport:
    """One batch into a fresh workspace; `threads` pins torch's threads for jobs=1 (the batch sets them for >1).
    A Ray run gets the fake's session as a factory: each worker makes its own."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    if engine == "ray":
        client = functools.partial(FakeYouTubeSession, fake.base_url, timeout=30)
    else:
        client = fake.session(timeout=30)
    try:
        with tempfile.TemporaryDirectory() as directory:
            report = run_batch(
                manifest,
                Workspace(Path(directory)),
                jobs=jobs,
                engine=engine,
                http_client=client,
                console=Console(file=io.StringIO()),
            )
    finally:
        torch.set_num_threads(previous)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=50, help="generated talk files")
    parser.add_argument("--youtube", type=int, default=10, help="talks fetched from the fake YouTube")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the fake waits before each watch page")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs of the local engine")
    parser.add_argument("--no-single-thread", action="store_true", help="skip the jobs=1 run with 1 torch thread")
    parser.add_argument(
        "--engine", nargs="+", choices=["local", "ray"], default=["local"], help="engines to run (ray: beside local)"
    )
    parser.add_argument("--ray-workers", type=int, nargs="+", default=[1, 2], help="--jobs of the Ray engine")
    args = parser.parse_args()
    with FakeYouTube() as fake, tempfile.TemporaryDirectory() as directory:
        manifest = generate(Path(directory), args.talks, args.youtube, args.delay, fake)
        with tempfile.TemporaryDirectory() as scratch:
            Ingestor(Workspace(Path(scratch))).warm_up()  # the model loads once, outside the timings
        print(
            f"{args.talks} talk files + {args.youtube} fake-YouTube talks ({args.delay}s latency), "
            f"{torch.get_num_threads()} torch threads by default, {os.cpu_count()} CPUs, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
            f"load average {os.getloadavg()[0]:.1f} before"
        )
        configs: list[tuple[str, int, int]] = []
        if "local" in args.engine:
            local = [(jobs, 0) for jobs in args.jobs] + ([] if args.no_single_thread else [(1, 1)])
            configs += [("local", jobs, threads) for jobs, threads in sorted(local)]
        if "ray" in args.engine:
            configs += [("ray", workers, 0) for workers in args.ray_workers]
        rows = []
        for engine, jobs, threads in configs:
            started = time.perf_counter()
            report = run(manifest, jobs, fake, threads, engine)
            label = f"--engine {engine} --jobs {jobs}" + (" (torch pinned to 1 thread)" if threads else "")
            elapsed = time.perf_counter() - started
            print(*summarize(label, report), f"  (run {elapsed:.1f}s; load average {os.getloadavg()[0]:.1f})", sep="\n")
            rows.append((label, report))
        print("", *side_by_side(rows), sep="\n")


if __name__ == "__main__":
    main()
