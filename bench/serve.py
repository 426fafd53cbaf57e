"""`talks serve` speed: ask latency through HTTP with 1, 4 and 16 concurrent clients at 100 talks, beside the same
questions asked in process (`Library.ask`, the server's own code path without HTTP); page render times.

Run: `python bench/serve.py [--talks 100] [--rounds 3]`. The corpus is the bundled samples copied under new ids (as
`bench/ingest.py` does) until there are `--talks` talks, ingested once into a cached workspace. The server is a real
`talks serve` process on 127.0.0.1; clients are threads with one httpx connection each, every client asking the
questions in turn. In process and HTTP run in the same script, one after the other, with the machine's load printed
(`uptime`), so compare the rows, not the absolute figures, on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import httpx

from bench.ingest import QUESTIONS, corpus
from bench.qmsum import CACHE_DIR
from pipeline.api import Library

ROOT = Path(__file__).resolve().parents[1]


def workspace_with(talks: int) -> Path:
    """A cached workspace holding `talks` copies of the samples (only missing ones are ingested)."""
    root = CACHE_DIR / f"serve-{talks}"
    with Library(root) as library:
        present = set(library.talk_ids())
        copies = -(-talks // 5)
        wanted = [t for t in corpus(copies)][:talks]
        missing = [t for t in wanted if t.talk.id not in present]
        if missing:
            print(f"ingesting {len(missing)} talks into {root} …", flush=True)
            report = library.ingest(missing)
            if report.failures:
                raise SystemExit(f"ingest failed: {report.failures[0]}")
    return root


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def in_process(root: Path, rounds: int) -> list[float]:
    with Library(root) as library:
        library.warm_up()
        library.ask(QUESTIONS[0])
        timings = []
        for _ in range(rounds):
            for question in QUESTIONS:
                started = time.perf_counter()
                library.ask(question)
                timings.append(time.perf_counter() - started)
    return timings


def start_server(root: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipeline.cli", "serve", "--workspace", str(root), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"the server did not start: {server.stderr.read() if server.stderr else ''}")


def over_http(base: str, clients: int, rounds: int) -> tuple[list[float], int, float]:
    """Each client asks every question `rounds` times; returns latencies, errors and wall seconds."""
    timings: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(number: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=300) as http:
            for round_ in range(rounds):
                for offset in range(len(QUESTIONS)):
                    question = QUESTIONS[(number + round_ + offset) % len(QUESTIONS)]
                    started = time.perf_counter()
                    response = http.post("/api/ask", json={"question": question})
                    elapsed = time.perf_counter() - started
                    with lock:
                        timings.append(elapsed)
                        errors += response.status_code != 200 or response.json().get("error") is not None

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, errors, time.perf_counter() - started


def page_times(base: str, talk_id: str, event: str, repeats: int = 5) -> None:
    """Prints each page's median render time (after one visit that fills any cache); the event page comes last,
    its first visit computing the digest of every talk of the event."""
    pages = {
        "library /": "/",
        "talk page": f"/talks/{talk_id}",
        "recap page (draft exists)": f"/talks/{talk_id}/recap",
        "ask page with an answer": "/ask?q=How+do+you+keep+a+remote+team+aligned%3F",
        "event page (digest cached)": f"/events/{event}",
    }
    with httpx.Client(base_url=base, timeout=3600) as http:
        for name, path in pages.items():
            first = time.perf_counter()
            http.get(path).raise_for_status()
            first_visit = {"recap": "recap page, first visit (generates the recap)", "event": "event page, first visit"}
            label = first_visit.get(name.split()[0])
            if label:
                print(f"| {label} | {(time.perf_counter() - first) * 1000:.0f} |")
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                http.get(path).raise_for_status()
                timings.append(time.perf_counter() - started)
            print(f"| {name} | {statistics.median(timings) * 1000:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--talks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="How often each client asks every question.")
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    root = workspace_with(args.talks)
    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"\nask latency at {args.talks} talks ({len(QUESTIONS)} questions × {args.rounds} rounds per client)\n")
    print("| how | p50 ms | p95 ms | errors | asks | asks/s |\n|---|---:|---:|---:|---:|---:|", flush=True)
    local = in_process(root, args.rounds)
    row("in process (Library.ask)", local, 0, None)
    (root / "drafts" / "founder-talk-0.json").unlink(missing_ok=True)  # so the first recap visit generates it
    server = start_server(root, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        httpx.post(f"{base}/api/ask", json={"question": QUESTIONS[0]}, timeout=300)
        for clients in (1, 4, 16):
            timings, errors, wall = over_http(base, clients, args.rounds)
            row(f"HTTP, {clients} client{'s' if clients > 1 else ''}", timings, errors, len(timings) / wall)
        print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        print("\n| page | median ms |\n|---|---:|", flush=True)
        page_times(base, "founder-talk-0", "Open Source Founders Summit 2026")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


def row(name: str, timings: list[float], errors: int, rate: float | None) -> None:
    p50, p95 = percentiles(timings)
    shown = f"{rate:.1f}" if rate else ""
    print(f"| {name} | {p50 * 1000:.0f} | {p95 * 1000:.0f} | {errors} | {len(timings)} | {shown} |", flush=True)


if __name__ == "__main__":
    main()
