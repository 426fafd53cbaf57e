"""LLM recaps of the sample talks: time, tokens read and written, and the quality rules of issue 15, checked.

For each talk of data/ named on the command line (default: the founder talk), the extractive recap and the LLM
recap (Qwen2.5-Coder-1.5B Q4_K_M unless `--model`), side by side: seconds, CPU seconds of this process (all its
threads: on a machine shared with other jobs, close to what the wall time would be on an idle one), calls, tokens
read and written (load-independent) and tokens/s, the machine load (`os.getloadavg`) before and after. Then the
rules, checked on the LLM recap: every takeaway says something of its cited span (content-word overlap), none
opens with "The speaker / <name> emphasizes / discusses / highlights", every citation lies inside its theme's
spans, no takeaway repeats another (any theme), quotes are verbatim and start and end at sentence boundaries, no
two theme titles share a content word. The drafts are written to `--out` (Markdown) for the README's side-by-side
excerpts. Too slow for CI.

Run: `nice -n 10 python bench/llm_recap.py [founder-talk panel-remote-teams] [--style prose] [--out /tmp/llm-recap]`.
Needs the local model (`talks models install qwen2.5-1.5b`); without it, says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.components.quotes import TalkText, normalise
from pipeline.llm.base import ProgressEvent
from pipeline.llm.install import ModelInstallError, resolve_model
from pipeline.llm.recap_checks import (
    check_takeaway,
    framing_pattern,
    repeats,
    snap_quote,
    spoken_text,
    titles_overlap,
)
from pipeline.models import TalkRecap, Transcript, format_timestamp

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def load_talk(name: str) -> Transcript:
    from pipeline.components.cleaner import TranscriptCleaner
    from pipeline.sources.files import load_file

    path = next((p for p in DATA.glob(f"{name}.*") if p.suffix in (".vtt", ".srt", ".txt", ".json")), None)
    if path is None:
        raise SystemExit(f"no sample talk '{name}' in {DATA}")
    return TranscriptCleaner().run(transcript=load_file(path))["transcript"]


def rule_failures(recap: TalkRecap, transcript: Transcript) -> dict[str, list[str]]:
    """Each quality rule of the module docstring, with the texts that break it."""
    names = list(transcript.talk.speakers)
    framing = framing_pattern(names)
    text = TalkText.of(transcript)
    failures: dict[str, list[str]] = {
        "vague opening": [],
        "nothing specific from the cited span": [],
        "citation outside its theme": [],
        "repeated across themes": [],
        "quote not verbatim": [],
        "quote not at sentence bounds": [],
        "overlapping titles": [],
    }
    written: list[str] = []
    for number, theme in enumerate(recap.themes):
        allowed = [(s.first_segment, s.last_segment) for s in theme.spans]
        if titles_overlap(theme.title, [t.title for t in recap.themes[:number]]):
            failures["overlapping titles"].append(theme.title)
        for takeaway in theme.takeaways:
            citation = takeaway.citations[0]
            cited = (citation.first_segment, citation.last_segment)
            if framing.match(takeaway.text):
                failures["vague opening"].append(takeaway.text)
            problem, _, _ = check_takeaway(takeaway.text, cited, transcript, names, allowed)
            if problem == "citation outside its theme":
                failures["citation outside its theme"].append(takeaway.text)
            elif problem and "cited span" in problem:
                failures["nothing specific from the cited span"].append(takeaway.text)
            if repeats(takeaway.text, written):
                failures["repeated across themes"].append(takeaway.text)
            written.append(takeaway.text)
        for quote in theme.quotes:
            last = quote.last_segment if quote.last_segment is not None else quote.segment
            if normalise(quote.text) not in normalise(spoken_text(transcript, quote.segment, last)):
                failures["quote not verbatim"].append(quote.text)
            snapped = snap_quote(quote, text)
            if snapped is None or normalise(snapped.text) != normalise(quote.text):
                failures["quote not at sentence bounds"].append(quote.text)
    return failures


def verbatim(recap: TalkRecap, transcript: Transcript) -> int:
    """Takeaways that are the talk's own words (normalised: case, punctuation), as a model copying its sentence or an
    extractive fallback writes them."""
    text = TalkText.of(transcript)
    return sum(text.find(normalise(t.text)) >= 0 for theme in recap.themes for t in theme.takeaways)


def side_by_side(plain: TalkRecap, recap: TalkRecap) -> str:
    """A Markdown table of the two drafts, theme by theme (the extractive left, the LLM's right), each takeaway with
    its time; for the README."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def line(takeaway) -> str:
        start = takeaway.citations[0].start if takeaway.citations else None
        return cell(f"{takeaway.text} ({format_timestamp(start)})")

    rows = ["| extractive | LLM |", "| --- | --- |", f"| {cell(plain.overview)} | {cell(recap.overview)} |"]
    for left, right in zip(plain.themes, recap.themes, strict=False):
        rows.append(f"| **{cell(left.title)}** | **{cell(right.title)}** |")
        for number in range(max(len(left.takeaways), len(right.takeaways))):
            a = line(left.takeaways[number]) if number < len(left.takeaways) else ""
            b = line(right.takeaways[number]) if number < len(right.takeaways) else ""
            rows.append(f"| {a} | {b} |")
    return "\n".join(rows) + "\n"


def usage_row(generator, before: tuple[int, int, int, float, float], seconds: float) -> dict[str, float]:
    usage = generator.usage
    calls, written, read = usage.calls - before[0], usage.tokens - before[1], usage.prompt_tokens - before[2]
    total, reading = usage.seconds - before[3], usage.prompt_seconds - before[4]
    return {
        "seconds": round(seconds, 1),
        "calls": calls,
        "tokens_read": read,
        "tokens_written": written,
        "read_per_s": round(read / reading, 1) if reading else 0.0,
        "write_per_s": round(written / (total - reading), 1) if total > reading else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("talks", nargs="*", default=["founder-talk"])
    parser.add_argument("--model", default="qwen2.5-1.5b")
    parser.add_argument("--style", choices=["bullets", "prose"], default="bullets")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: half the cores)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/llm-recap"))
    args = parser.parse_args()
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("pipeline.llm.recap").setLevel(logging.INFO)  # the rejected takeaways
    try:
        resolve_model(args.model)
    except ModelInstallError as error:
        print(f"skipped: {error}")
        return 0
    from pipeline.llm.factory import create_generator
    from pipeline.llm.recap import LLMRecapper
    from pipeline.llm.settings import GeneratorConfig
    from pipeline.prose import extractive_prose
    from pipeline.recap import Recapper
    from pipeline.render import render

    args.out.mkdir(parents=True, exist_ok=True)
    config = GeneratorConfig(backend="llama-cpp", model=args.model, n_ctx=4096, n_threads=args.threads)

    def show(event: ProgressEvent) -> None:
        if event.done:
            print(f"  {event.label}: {event.prompt_tokens} tokens read, {event.tokens} written, {event.seconds:.0f} s")

    generator = create_generator(config, progress=show)
    generator.warm_up()
    extractive = Recapper()
    extractive.warm_up()
    recapper = LLMRecapper(generator, extractive=extractive)
    results = []
    for name in args.talks:
        transcript = load_talk(name)
        started = time.perf_counter()
        plain = extractive.recap_transcript(transcript)
        if args.style == "prose":
            plain.prose = extractive_prose(plain, transcript)
        plain_seconds = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        usage = generator.usage
        before = (usage.calls, usage.tokens, usage.prompt_tokens, usage.seconds, usage.prompt_seconds)
        started, cpu_started = time.perf_counter(), time.process_time()
        recap = recapper.recap_transcript(transcript, style=args.style)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        load_after = os.getloadavg()[0]
        failures = rule_failures(recap, transcript)
        row = {
            "talk": name,
            "style": args.style,
            "words": sum(len(s.text.split()) for s in transcript.segments),
            "extractive_seconds": round(plain_seconds, 1),
            "llm": {**usage_row(generator, before, seconds), "cpu_seconds": round(cpu_seconds, 1)},
            "load_1min": [round(load_before, 1), round(load_after, 1)],
            "themes": len(recap.themes),
            "takeaways": sum(len(t.takeaways) for t in recap.themes),
            "model_takeaways": recap.generation.parameters.get("model_takeaways"),
            "verbatim_takeaways": verbatim(recap, transcript),
            "quotes": sum(len(t.quotes) for t in recap.themes),
            "grounding": recap.grounding.model_dump(),
            "rule_failures": {rule: texts for rule, texts in failures.items()},
        }
        results.append(row)
        for label, result in (("extractive", plain), ("llm", recap)):
            (args.out / f"{name}.{args.style}.{label}.md").write_text(render(result, "md"))
        (args.out / f"{name}.{args.style}.llm.json").write_text(recap.model_dump_json(indent=2))
        (args.out / f"{name}.{args.style}.extractive.json").write_text(plain.model_dump_json(indent=2))
        (args.out / f"{name}.{args.style}.side-by-side.md").write_text(side_by_side(plain, recap))
        llm = row["llm"]
        broken = {rule: len(texts) for rule, texts in failures.items() if texts}
        print(
            f"{name} ({row['words']} words, {args.style}): extractive {row['extractive_seconds']} s; LLM "
            f"{llm['seconds']} s ({llm['cpu_seconds']} CPU-s), {llm['calls']} calls, "
            f"{llm['tokens_read']} tokens read at {llm['read_per_s']}/s, "
            f"{llm['tokens_written']} written at {llm['write_per_s']}/s; load {row['load_1min'][0]}→"
            f"{row['load_1min'][1]}; {row['themes']} themes, {row['takeaways']} takeaways "
            f"({row['model_takeaways']} the model's, checked; {row['verbatim_takeaways']} of all word for word "
            f"from the talk), {row['quotes']} quotes; "
            f"citations dropped {recap.grounding.citations_dropped}/{recap.grounding.citations_checked}, "
            f"fallbacks {len(recap.grounding.fallbacks)}; rules broken: {broken or 'none'}",
            flush=True,
        )
    (args.out / f"results.{args.style}.json").write_text(json.dumps(results, indent=2))
    generator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
