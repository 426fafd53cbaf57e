"""LLM answers and recaps against the extractive methods on QMSum val, and the cost of a recap of a 40-minute talk.

Fixed subset: the first `--specific` specific queries (meetings in sorted order, queries in file order) answered
from the passages `Searcher` retrieves in their own meeting, and the first `--general` "Summarize the whole
meeting" queries answered by a whole recap (overview and takeaways). ROUGE-1/2/Lsum F1 (rouge_score, stemmed)
for the LLM and the extractive method on the same items; then the time, tokens/s and grounding totals of an LLM
recap of data/founder-talk.vtt. Needs the local Qwen model (`talks models install qwen2.5-1.5b`); without it,
says so and exits 0.

Run: `python bench/llm_qmsum.py [--specific 20 --general 5 --model qwen2.5-1.5b --out results.json]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import load_meeting, meeting_files
from pipeline.llm.base import ProgressEvent, UsageTotals
from pipeline.llm.factory import create_generator
from pipeline.llm.install import ModelInstallError, resolve_model
from pipeline.llm.settings import GeneratorConfig
from pipeline.models import GroundingReport, TalkRecap
from pipeline.text import split_sentences

ROOT = Path(__file__).resolve().parents[1]
FOUNDER_TALK = ROOT / "data" / "founder-talk.vtt"
GENERAL_QUERY = "summarize the whole meeting"
METRICS = ("rouge1", "rouge2", "rougeLsum")


def recap_text(recap: TalkRecap) -> str:
    """A recap as a summary: the overview, then every takeaway."""
    return " ".join([recap.overview, *(t.text for theme in recap.themes for t in theme.takeaways)])


def rouge(scorer, prediction: str, reference: str) -> dict[str, float]:
    """F1 × 100; sentences on their own lines, as ROUGE-Lsum expects."""
    lines = "\n".join(split_sentences(prediction)) or prediction
    scores = scorer.score("\n".join(split_sentences(reference)) or reference, lines)
    return {metric: 100 * scores[metric].fmeasure for metric in METRICS}


def mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(row[key] for row in rows) / len(rows) if rows else 0.0


def add_report(total: GroundingReport, report: GroundingReport | None) -> None:
    if report is None:
        return
    for name in ("quotes_kept", "quotes_repaired", "quotes_dropped", "citations_checked", "citations_dropped"):
        setattr(total, name, getattr(total, name) + getattr(report, name))
    total.claims_dropped += report.claims_dropped
    total.fallbacks.extend(report.fallbacks)


def usage_since(before: UsageTotals, after: UsageTotals) -> dict[str, float]:
    """Calls, tokens and speeds between two snapshots of a generator's usage."""
    spent = UsageTotals(
        calls=after.calls - before.calls,
        tokens=after.tokens - before.tokens,
        prompt_tokens=after.prompt_tokens - before.prompt_tokens,
        seconds=after.seconds - before.seconds,
        prompt_seconds=after.prompt_seconds - before.prompt_seconds,
    )
    return {
        "calls": spent.calls,
        "tokens": spent.tokens,
        "prompt_tokens": spent.prompt_tokens,
        "seconds": round(spent.seconds, 1),
        "tokens_per_second": round(spent.tokens_per_second, 2),
        "prompt_tokens_per_second": round(spent.prompt_tokens_per_second, 1),
        "generation_tokens_per_second": round(spent.generation_tokens_per_second, 2),
    }


def print_step(event: ProgressEvent) -> None:
    if event.done:
        print(f"    {event.label}: {event.prompt_tokens} tokens read, {event.tokens} written, {event.seconds:.1f}s")


def select_queries(specific: int, general: int) -> tuple[list, list, dict]:
    """The fixed subset: (meeting, query) pairs, (meeting, gold summary) pairs and the transcripts they need."""
    specifics, generals, transcripts = [], [], {}
    for path in meeting_files():
        if len(specifics) >= specific and len(generals) >= general:
            break
        transcript, queries, data = load_meeting(path)
        wanted = queries[: max(0, specific - len(specifics))]
        summaries = [q for q in data["general_query_list"] if q["query"].strip().rstrip(".").lower() == GENERAL_QUERY]
        summaries = summaries[: max(0, general - len(generals))]
        if wanted or summaries:
            transcripts[transcript.talk.id] = transcript
        specifics += [(transcript.talk.id, query) for query in wanted]
        generals += [(transcript.talk.id, item["answer"]) for item in summaries]
    return specifics, generals, transcripts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-1.5b", help="short name or GGUF path (default: qwen2.5-1.5b)")
    parser.add_argument("--specific", type=int, default=20, help="specific queries (default 20)")
    parser.add_argument("--general", type=int, default=5, help="whole-meeting summaries (default 5)")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=5, help="passages per specific query")
    parser.add_argument("--no-founder", action="store_true", help="skip the founder-talk recap timing")
    parser.add_argument("--out", type=Path, help="write every item's scores and the totals as JSON")
    parser.add_argument("--verbose", action="store_true", help="print every model call as it ends")
    args = parser.parse_args()

    try:
        model = resolve_model(args.model)
    except ModelInstallError as error:
        print(f"skipped: {error}")
        return
    from rouge_score import rouge_scorer

    from pipeline.components.cleaner import TranscriptCleaner
    from pipeline.ingest import Ingestor
    from pipeline.llm.answer import LLMAnswerWriter
    from pipeline.llm.recap import LLMRecapper
    from pipeline.pipelines import QuerySettings
    from pipeline.query import Searcher
    from pipeline.sources.files import load_file
    from pipeline.workspace import Workspace

    config = GeneratorConfig(backend="llama-cpp", model=str(model), n_ctx=args.n_ctx, max_tokens=args.max_tokens)
    generator = create_generator(config, progress=print_step if args.verbose else None)
    generator.warm_up()
    writer, recapper = LLMAnswerWriter(generator), LLMRecapper(generator)
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    specifics, generals, transcripts = select_queries(args.specific, args.general)
    print(
        f"model {model.name}: {len(specifics)} specific, {len(generals)} general queries ({len(transcripts)} meetings)"
    )
    results: dict = {"model": model.name, "config": config.parameters(), "specific": [], "general": []}
    grounding = GroundingReport()

    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory))
        ingestor = Ingestor(workspace)
        ingestor.warm_up()
        for meeting, _ in specifics:
            if not workspace.has_talk(meeting):
                ingestor.ingest(transcripts[meeting])
        searcher = Searcher(workspace, QuerySettings(top_k=args.top_k)) if specifics else None
        if searcher:
            searcher.warm_up()
        before = dataclasses.replace(generator.usage)
        for number, (meeting, query) in enumerate(specifics, start=1):
            retrieved = searcher.ask(query.question, top_k=args.top_k, talk=meeting)
            started = time.perf_counter()
            written = writer.write(retrieved)
            seconds = time.perf_counter() - started
            llm_text = " ".join(s.text for s in written.sentences)
            extractive_text = " ".join(s.text for s in retrieved.sentences)  # Searcher's extractive answer
            row = {
                "meeting": meeting,
                "query": query.question,
                "llm": rouge(scorer, llm_text, query.answer),
                "extractive": rouge(scorer, extractive_text, query.answer),
                "llm_words": len(llm_text.split()),
                "extractive_words": len(extractive_text.split()),
                "method": written.method,
                "seconds": round(seconds, 1),
            }
            add_report(grounding, written.grounding)
            results["specific"].append(row)
            print(f"  specific {number}/{len(specifics)} {meeting}: {seconds:.0f}s R1 {row['llm']['rouge1']:.1f}")
        results["specific_usage"] = usage_since(before, generator.usage)

    if generals or not args.no_founder:
        from pipeline.recap import Recapper

        extractive = Recapper(Workspace(Path(tempfile.gettempdir())))  # recap_transcript reads no workspace
    before = dataclasses.replace(generator.usage)
    for number, (meeting, gold) in enumerate(generals, start=1):
        transcript = transcripts[meeting]
        started = time.perf_counter()
        recap = recapper.recap_transcript(transcript)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        baseline = extractive.recap_transcript(transcript)
        extractive_seconds = time.perf_counter() - started
        row = {
            "meeting": meeting,
            "llm": rouge(scorer, recap_text(recap), gold),
            "extractive": rouge(scorer, recap_text(baseline), gold),
            "llm_words": len(recap_text(recap).split()),
            "extractive_words": len(recap_text(baseline).split()),
            "seconds": round(seconds, 1),
            "extractive_seconds": round(extractive_seconds, 1),
            "fallbacks": len(recap.grounding.fallbacks),
        }
        add_report(grounding, recap.grounding)
        results["general"].append(row)
        print(f"  general {number}/{len(generals)} {meeting}: {seconds:.0f}s R1 {row['llm']['rouge1']:.1f}")
    results["general_usage"] = usage_since(before, generator.usage)

    if not args.no_founder:
        talk = TranscriptCleaner().run(transcript=load_file(FOUNDER_TALK))["transcript"]
        before = dataclasses.replace(generator.usage)
        started = time.perf_counter()
        recap = recapper.recap_transcript(talk)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        extractive.recap_transcript(talk)
        results["founder_talk"] = {
            "minutes": round((talk.duration or 0) / 60, 1),
            "words": talk.word_count,
            "llm_seconds": round(seconds, 1),
            "extractive_seconds": round(time.perf_counter() - started, 1),
            "usage": usage_since(before, generator.usage),
            "windows": recap.generation.parameters.get("windows"),
            "themes": len(recap.themes),
            "takeaways": sum(len(theme.takeaways) for theme in recap.themes),
            "quotes": sum(len(theme.quotes) for theme in recap.themes),
            "grounding": recap.grounding.model_dump(),
            "recap": recap.model_dump(mode="json"),
        }
        add_report(grounding, recap.grounding)

    results["grounding_totals"] = grounding.model_dump(exclude={"fallbacks"}) | {"fallbacks": len(grounding.fallbacks)}
    print_summary(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")


def print_summary(results: dict) -> None:
    print("\nROUGE F1 (×100)            | " + " | ".join(f"{m:>9}" for m in METRICS) + " |  words")
    for kind in ("specific", "general"):
        rows = results[kind]
        if not rows:
            continue
        for method in ("llm", "extractive"):
            scores = [mean([row[method] for row in rows], metric) for metric in METRICS]
            words = mean(rows, f"{method}_words")
            label = f"{kind} ({len(rows)}), {method}"
            print(f"{label:<26} | " + " | ".join(f"{s:9.2f}" for s in scores) + f" | {words:6.0f}")
    for kind in ("specific_usage", "general_usage"):
        if results.get(kind, {}).get("calls"):
            usage = results[kind]
            print(
                f"{kind}: {usage['calls']} calls, {usage['tokens']} tokens written, {usage['prompt_tokens']} read, "
                f"{usage['seconds']}s; {usage['prompt_tokens_per_second']} tokens/s reading, "
                f"{usage['generation_tokens_per_second']} tokens/s writing, {usage['tokens_per_second']} end to end"
            )
    if "founder_talk" in results:
        founder = results["founder_talk"]
        usage = founder["usage"]
        print(
            f"founder talk ({founder['minutes']} min, {founder['words']} words): LLM recap {founder['llm_seconds']}s "
            f"({founder['windows']} windows, {usage['calls']} calls, {usage['prompt_tokens']} tokens read at "
            f"{usage['prompt_tokens_per_second']}/s, {usage['tokens']} written at "
            f"{usage['generation_tokens_per_second']}/s), "
            f"extractive {founder['extractive_seconds']}s; "
            f"{founder['themes']} themes, {founder['takeaways']} takeaways, {founder['quotes']} quotes"
        )
    print(f"grounding totals: {results['grounding_totals']}")


if __name__ == "__main__":
    main()
