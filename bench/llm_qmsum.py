"""LLM answers and whole-meeting recaps against the extractive methods on QMSum val, dev and check halves side by
side with 90% bootstrap intervals (over meetings), and the cost of an LLM recap of the founder talk.

Specific queries: the first `--per-meeting` specific queries of every meeting of each half (`bench.qmsum.val_halves`;
4 a meeting gives 72 dev and 68 check queries), answered from the passages the real query pipeline retrieves in
their own meeting (cached, as in `bench/answers_qmsum.py`) by `LLMAnswerWriter` and, on the same passages, by the
extractive writer at `--answer-words` (the paired difference is the LLM's gain); the LLM is asked for `--words`
words in 3 to `--max-sentences` sentences, kept within `--max-words`; with `--condense-words N` it reads not the
whole passages but the extractive scorer's best N words of their sentences (`LLMAnswerWriter(condense_words=N)`).
`--half dev --limit 16` runs and reports the first 16 dev queries only (tune there; the full run reuses them).
Citations: every sentence of an LLM answer must cite passages the model was shown (`invalid` counts sentences that
do not; the writer keeps only sentences a shown passage supports, and the grounding totals count the model's `[n]`
markers it dropped).
General queries: the whole-meeting query of the first `--general` meetings of each half ("Summarize the whole
meeting." where there is one, else the meeting's general query in other words, as `bench/themes_qmsum.py` picks it:
every val meeting has one), against the LLM recap's overview (and overview plus takeaways) and the extractive
recap's on the same meeting. Recap rows go to their own file (keyed by the model and `--n-ctx`), carry the written
themes and are redone when the recap prompts or the overview code change; when only the overview's prompt or code
changed (`recap_system`/`recap_theme_user` as before), the stored themes are reused and only the overview is
re-written (`LLMRecapper.rewrite_overview`: the same call a full recap ends with, at temperature 0). ROUGE-1/2/Lsum
F1 (rouge_score, stemmed).
Queries are run dev and check interleaved, and every result is appended to a JSONL file keyed by the model, the
writer settings and the prompt templates
(`/tmp/talks-bench-cache/llm-qmsum-<key>.jsonl`), so a rerun resumes where the last one stopped and a partial run
still reports both halves. Needs the local Qwen model (`talks models install qwen2.5-1.5b`); without it, says so
and exits 0.

Run: `nice -n 10 python bench/llm_qmsum.py [--per-meeting 4 --general 3 --no-founder --report-only]
[--half dev --limit 16]`; whole-meeting recaps of both halves only: `--per-meeting 0 --general 18 --no-founder`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import os
import sys
import time
from itertools import zip_longest
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qmsum import CACHE_DIR, HALVES, cached_workspace, highlighted, interval, load_meeting, val_halves
from bench.themes_qmsum import general_reference
from pipeline.llm.base import ProgressEvent, UsageTotals
from pipeline.llm.install import ModelInstallError, resolve_model
from pipeline.models import GroundingReport, TalkRecap
from pipeline.resources import PROMPTS_DIR
from pipeline.text import split_sentences

ROOT = Path(__file__).resolve().parents[1]
FOUNDER_TALK = ROOT / "data" / "founder-talk.vtt"
GENERAL_QUERY = "summarize the whole meeting"
METRICS = ("rouge1", "rouge2", "rougeLsum")
SHORT = {"rouge1": "R-1", "rouge2": "R-2", "rougeLsum": "R-Lsum"}


def recap_text(recap: TalkRecap) -> str:
    """A recap as a summary: the overview, then every takeaway."""
    return " ".join([recap.overview, *(t.text for theme in recap.themes for t in theme.takeaways)])


def rouge(scorer, prediction: str, reference: str) -> dict[str, float]:
    """F1 × 100; sentences on their own lines, as ROUGE-Lsum expects."""
    lines = "\n".join(split_sentences(prediction)) or prediction
    scores = scorer.score("\n".join(split_sentences(reference)) or reference, lines)
    return {metric: 100 * scores[metric].fmeasure for metric in METRICS}


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


def select_items(
    per_meeting: int, general: int, half: str | None = None, limit: int | None = None
) -> list[tuple[str, str, object]]:
    """(half, kind, item) in run order: each half's specific queries (the first of every meeting, then the second...;
    the first `limit` of them if given) and general summaries, dev and check interleaved, so that a partial run
    covers both halves and most meetings; `half`: that half only."""
    queues: dict[str, list] = {}
    for half_name, paths in val_halves().items():
        if half not in (None, half_name):
            continue
        specifics, generals = [], []
        for number, path in enumerate(paths):
            transcript, queries, data = load_meeting(path)
            specifics += [
                (rank, number, (half_name, "specific", query)) for rank, query in enumerate(queries[:per_meeting])
            ]
            if number < general and data["general_query_list"]:
                generals.append((half_name, "general", (transcript, general_reference(data))))
        ordered = [item for *_, item in sorted(specifics, key=lambda entry: entry[:2])]
        queues[half_name] = ordered[:limit] + generals
    return [item for pair in zip_longest(*queues.values()) for item in pair if item is not None]


def prompts_digest(prefixes: tuple[str, ...]) -> str:
    """A digest of the prompt templates whose names start with `prefixes`."""
    digest = hashlib.sha256()
    for template in sorted(PROMPTS_DIR.glob("*.jinja")):
        if template.name.startswith(prefixes):
            digest.update(template.name.encode() + template.read_bytes())
    return digest.hexdigest()[:16]


def results_path(model: Path, settings: dict) -> Path:
    """The JSONL file of this model, these settings and the answer prompts (an answer prompt edit starts afresh;
    recap rows carry the digest of the recap prompts they were made with, and are redone when those change)."""
    key = json.dumps(
        {"model": model.name, **settings, "prompts": prompts_digest(("answer_", "repair_"))}, sort_keys=True
    )
    return CACHE_DIR / f"llm-qmsum-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


def recap_results_path(model: Path, n_ctx: int) -> Path:
    """The JSONL file of the whole-meeting recaps of this model (its rows carry the keys of `recap_keys`)."""
    key = json.dumps({"model": model.name, "n_ctx": n_ctx}, sort_keys=True)
    return CACHE_DIR / f"llm-qmsum-recap-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


def recap_keys() -> tuple[str, str]:
    """(themes key, recap key): the digest of the prompts the themes are written with, and of all recap prompts
    plus the overview's settings and code of `LLMRecapper` (a row whose recap key differs is redone; its themes are
    reused when its themes key is today's)."""
    from pipeline.llm import recap as module

    themes = prompts_digest(("recap_system", "recap_theme_user"))
    parameters = inspect.signature(module.LLMRecapper).parameters
    settings = [parameters[name].default for name in ("overview_max_words", "overview_tokens")]
    code = inspect.getsource(module.LLMRecapper._overview) + inspect.getsource(module.trim_to_words)
    key = f"{prompts_digest(('recap_',))} {settings} {hashlib.sha256(code.encode()).hexdigest()}"
    return themes, hashlib.sha256(key.encode()).hexdigest()[:16]


def current(rows: list[dict]) -> list[dict]:
    """The rows made with today's prompts: every answer row, and recap rows of the current recap key."""
    recap = recap_keys()[1]
    return [row for row in rows if row["kind"] == "specific" or row.get("prompts") == recap]


def read_rows(*paths: Path) -> list[dict]:
    return [json.loads(line) for path in paths if path.exists() for line in path.read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-1.5b", help="short name or GGUF path (default: qwen2.5-1.5b)")
    parser.add_argument("--per-meeting", type=int, default=4, help="specific queries per meeting (default 4)")
    parser.add_argument("--general", type=int, default=3, help="whole-meeting summaries per half (default 3)")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--max-passages", type=int, default=3, help="passages the LLM answer reads (default 3)")
    parser.add_argument("--words", type=int, default=70, help="answer length the LLM is asked for (default 70)")
    parser.add_argument("--max-words", type=int, default=100, help="LLM answers kept within (default 100)")
    parser.add_argument("--max-sentences", type=int, default=5, help="LLM answer sentences asked for (default 5)")
    parser.add_argument(
        "--condense-words",
        type=int,
        default=0,
        help="the LLM reads the extractive scorer's best N words of sentences of --max-passages passages instead of "
        "the whole passages (LLMAnswerWriter(condense_words=N); default 0: whole passages)",
    )
    parser.add_argument("--half", choices=HALVES, help="run and report one half only (tune on dev)")
    parser.add_argument("--limit", type=int, help="run and report only the first N specific queries of each half")
    parser.add_argument("--answer-words", type=int, default=65, help="extractive answer length (default 65)")
    parser.add_argument("--no-founder", action="store_true", help="skip the founder-talk recap timing")
    parser.add_argument("--report-only", action="store_true", help="report the stored results, run nothing")
    parser.add_argument("--out", type=Path, help="the results file (default: keyed by model, settings, prompts)")
    parser.add_argument("--verbose", action="store_true", help="print every model call as it ends")
    args = parser.parse_args()

    try:
        model = resolve_model(args.model)
    except ModelInstallError as error:
        print(f"skipped: {error}")
        return
    settings = {"n_ctx": args.n_ctx, "max_passages": args.max_passages, "answer_words": args.answer_words}
    if (args.words, args.max_words, args.max_sentences) != (70, 100, 5):  # the defaults keep their results file
        settings |= {"words": args.words, "max_words": args.max_words, "max_sentences": args.max_sentences}
    if args.condense_words:
        settings["condense_words"] = args.condense_words
    out = args.out or results_path(model, settings)
    recap_out = recap_results_path(model, args.n_ctx)
    stored = read_rows(out, recap_out)
    done = current(stored)
    print(f"results: {out}, recaps: {recap_out} ({len(done)} stored)")
    if not args.report_only:
        run(args, model, out, recap_out, {(row["kind"], row["meeting"], row["query"]) for row in done}, stored)
        done = current(read_rows(out, recap_out))
    items = select_items(args.per_meeting, args.general, args.half, args.limit)
    chosen = {(kind, *_names(kind, item)) for _, kind, item in items}
    report([row for row in done if (row["kind"], row["meeting"], row["query"]) in chosen])


def run(args, model: Path, out: Path, recap_out: Path, done: set, stored: list[dict]) -> None:
    """Answers and recaps every selected item not in `done`, appending each answer to `out` and each recap to
    `recap_out` as it ends; a recap whose themes are stored (`stored`, with today's themes key) is only given a new
    overview."""
    from rouge_score import rouge_scorer

    from pipeline.components.answer import ExtractiveAnswerWriter
    from pipeline.llm.answer import NO_ANSWER, LLMAnswerWriter
    from pipeline.llm.factory import create_generator
    from pipeline.llm.recap import LLMRecapper
    from pipeline.llm.settings import GeneratorConfig
    from pipeline.models import Answer, Theme
    from pipeline.query import Searcher
    from pipeline.recap import Recapper
    from pipeline.workspace import Workspace

    config = GeneratorConfig(backend="llama-cpp", model=str(model), n_ctx=args.n_ctx)
    generator = create_generator(config, progress=print_step if args.verbose else None)
    writer = LLMAnswerWriter(
        generator,
        max_passages=args.max_passages,
        words=args.words,
        max_words=args.max_words,
        max_sentences=args.max_sentences,
        condense_words=args.condense_words,
    )
    recapper = LLMRecapper(generator)
    extractive_writer = ExtractiveAnswerWriter(answer_words=args.answer_words)
    extractive_recapper = Recapper(Workspace(CACHE_DIR))  # recap_transcript reads no workspace
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    halves = val_halves()
    searcher = Searcher(Workspace(cached_workspace("qmsum-val", halves["dev"] + halves["check"])))
    items = select_items(args.per_meeting, args.general, args.half, args.limit)
    keys = [(kind, *_names(kind, item)) for _, kind, item in items]
    todo = [item for item, key in zip(items, keys, strict=True) if key not in done]
    themes_key, recap_key = recap_keys()
    written = {r["meeting"]: r for r in stored if r["kind"] == "general" and r.get("themes_key") == themes_key}
    print(f"model {model.name}: {len(items)} items, {len(todo)} to run (`uptime`: {os.getloadavg()[0]:.1f})")
    for number, (half, kind, item) in enumerate(todo, start=1):
        meeting, query = _names(kind, item)
        before = dataclasses.replace(generator.usage)
        row = {"half": half, "kind": kind, "meeting": meeting, "query": query, "load": round(os.getloadavg()[0], 1)}
        if kind == "specific":
            passages, scores = highlighted(searcher, item)
            extractive = extractive_writer.run(query=item.question, passages=passages, sentence_scores=scores)["answer"]
            started = time.perf_counter()
            written = writer.write(
                Answer(question=item.question, passages=passages, sentences=extractive.sentences, method="extractive"),
                sentence_scores=scores,
            )
            seconds = time.perf_counter() - started
            llm_text = " ".join(s.text for s in written.sentences if s.text != NO_ANSWER)
            extractive_text = " ".join(s.text for s in extractive.sentences)
            invalid = sum(
                1
                for s in written.sentences
                if s.text != NO_ANSWER and (not s.citations or not all(1 <= n <= len(passages) for n in s.citations))
            )
            row |= {
                "llm": rouge(scorer, llm_text, item.answer),
                "extractive": rouge(scorer, extractive_text, item.answer),
                "llm_words": len(llm_text.split()),
                "extractive_words": len(extractive_text.split()),
                "method": written.method,
                "sentences": len(written.sentences),
                "invalid": invalid,
                "no_answer": not llm_text,
                "grounding": written.grounding.model_dump() if written.grounding else None,
                "text": written.answer,
            }
        else:
            transcript, gold = item
            baseline = extractive_recapper.recap_transcript(transcript)
            reused = written.get(meeting)
            started = time.perf_counter()
            if reused is None:
                recap = recapper.recap_transcript(transcript)
            else:  # the themes of a stored recap, written with today's theme prompts: only the overview is new
                themes = [Theme.model_validate(theme) for theme in reused["themes"]]
                overview, _, grounding = recapper.rewrite_overview(transcript, themes, baseline.overview)
                recap = TalkRecap(talk=transcript.talk, overview=overview, themes=themes, grounding=grounding)
            seconds = time.perf_counter() - started
            row |= {
                "llm": rouge(scorer, recap.overview, gold),
                "extractive": rouge(scorer, baseline.overview, gold),
                "llm_full": rouge(scorer, recap_text(recap), gold),
                "extractive_full": rouge(scorer, recap_text(baseline), gold),
                "llm_words": len(recap.overview.split()),
                "extractive_words": len(baseline.overview.split()),
                "full_words": len(recap_text(recap).split()),
                "extractive_full_words": len(recap_text(baseline).split()),
                "grounding": recap.grounding.model_dump() if reused is None else overview_grounding(reused, recap),
                "overview_fallback": any(f.startswith("overview:") for f in recap.grounding.fallbacks),
                "text": recap.overview,
                "themes": [theme.model_dump(mode="json") for theme in recap.themes],
                "themes_key": themes_key,
                "prompts": recap_key,
                "reused_themes": reused is not None,
            }
        row |= {"seconds": round(seconds, 1), "usage": usage_since(before, generator.usage)}
        with (out if kind == "specific" else recap_out).open("a") as file:
            file.write(json.dumps(row) + "\n")
        print(
            f"  {number}/{len(todo)} {half} {kind} {meeting}: {seconds:.0f}s, R-1 {row['llm']['rouge1']:.1f} "
            f"(extractive {row['extractive']['rouge1']:.1f}), load {row['load']}",
            flush=True,
        )
    if not args.no_founder:
        founder_timing(recapper, extractive_recapper, generator)


def overview_grounding(reused: dict, recap: TalkRecap) -> dict:
    """The stored recap's grounding with its overview's entries (fallback, trimming) replaced by the new
    overview's."""
    kept = [f for f in reused["grounding"]["fallbacks"] if not f.startswith("overview")]
    new = [f for f in recap.grounding.fallbacks if f.startswith("overview")]
    return {**reused["grounding"], "fallbacks": kept + new}


def _names(kind: str, item) -> tuple[str, str]:
    return (item.meeting, item.question) if kind == "specific" else (item[0].talk.id, GENERAL_QUERY)


def founder_timing(recapper, extractive_recapper, generator) -> None:
    """The time, tokens/s and grounding of an LLM recap of data/founder-talk.vtt beside the extractive recap's."""
    from pipeline.components.cleaner import TranscriptCleaner
    from pipeline.sources.files import load_file

    talk = TranscriptCleaner().run(transcript=load_file(FOUNDER_TALK))["transcript"]
    before = dataclasses.replace(generator.usage)
    started = time.perf_counter()
    recap = recapper.recap_transcript(talk)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    extractive_recapper.recap_transcript(talk)
    extractive_seconds = time.perf_counter() - started
    usage = usage_since(before, generator.usage)
    print(
        f"founder talk ({(talk.duration or 0) / 60:.1f} min, {talk.word_count} words, load "
        f"{os.getloadavg()[0]:.1f}): LLM recap {seconds:.0f}s ({usage['calls']} calls, {usage['prompt_tokens']} tokens "
        f"read at {usage['prompt_tokens_per_second']}/s, {usage['tokens']} written at "
        f"{usage['generation_tokens_per_second']}/s), extractive {extractive_seconds:.1f}s; grounding "
        f"{recap.grounding.model_dump(exclude={'fallbacks'})}"
    )


def report(rows: list[dict]) -> None:
    """Both halves side by side: mean [90% bootstrap interval over meetings], and the paired LLM − extractive."""
    for kind, label in (("specific", "specific queries"), ("general", "whole-meeting summaries (overview)")):
        chosen = {half: [row for row in rows if row["kind"] == kind and row["half"] == half] for half in HALVES}
        if not any(chosen.values()):
            continue
        counts = ", ".join(
            f"{half} {len({r['meeting'] for r in chosen[half]})} meetings / {len(chosen[half])}" for half in HALVES
        )
        print(f"\nQMSum val {label} ({counts}); ROUGE F1 x100, mean [90% bootstrap interval over meetings]")
        columns = [f"{SHORT[m]} {half}" for m in METRICS[:2] for half in HALVES]
        print(" | ".join([f"{'method':>22}", f"{'words':>5}"] + [f"{c:>20}" for c in columns]))
        methods = ["llm", "extractive"] + (["llm_full", "extractive_full"] if kind == "general" else [])
        for method in methods:
            cells = [
                _cell(chosen[half], lambda r, m=metric, k=method: r[k][m]) for metric in METRICS[:2] for half in HALVES
            ]
            full = {"llm_full": "full_words", "extractive_full": "extractive_full_words"}
            field = full.get(method, method + "_words")
            words = [r[field] for h in HALVES for r in chosen[h] if field in r]
            name = {"llm_full": "llm overview+takeaways", "extractive_full": "extr. overview+takeaways"}.get(
                method, method
            )
            print(" | ".join([f"{name:>22}", f"{np.mean(words):5.0f}" if words else f"{'':>5}", *cells]))
        for llm, extractive, name in [("llm", "extractive", "llm − extractive")] + (
            [("llm_full", "extractive_full", "full: llm − extractive")] if kind == "general" else []
        ):
            cells = [
                _cell(chosen[half], lambda r, m=metric, a=llm, b=extractive: r[a][m] - r[b][m], signed=True)
                for metric in METRICS[:2]
                for half in HALVES
            ]
            print(" | ".join([f"{name:>22}", f"{'':>5}", *cells]))
        for half in HALVES:
            done = chosen[half]
            if not done:
                continue
            seconds = [r["seconds"] for r in done]
            loads = [r["load"] for r in done]
            line = f"  {half}: median {np.median(seconds):.0f}s an item (load {min(loads)}–{max(loads)})"
            if kind == "specific":
                grounding = [r["grounding"] or {} for r in done]
                line += (
                    f"; {sum(r['invalid'] for r in done)} answer sentences with an invalid citation, "
                    f"{sum(g.get('citations_dropped', 0) for g in grounding)} of "
                    f"{sum(g.get('citations_checked', 0) for g in grounding)} citations dropped by the writer, "
                    f"{sum(g.get('claims_dropped', 0) for g in grounding)} sentences dropped as unsupported, "
                    f"{sum(r['no_answer'] for r in done)} no-answer replies, "
                    f"{sum(r['method'] == 'extractive' for r in done)} extractive fallbacks"
                )
            else:
                line += (
                    f"; {sum(r.get('reused_themes', False) for r in done)} overviews re-written over stored themes "
                    f"(their time is the overview's), {sum(r.get('overview_fallback', False) for r in done)} "
                    "overviews fell back to the extractive one, "
                    f"{sum(any(f.startswith('overview trimmed') for f in r['grounding']['fallbacks']) for r in done)} "
                    "were trimmed to the cap"
                )
            print(line)


def _cell(rows: list[dict], value, signed: bool = False) -> str:
    if not rows:
        return f"{'–':>20}"
    return f"{interval([value(r) for r in rows], [r['meeting'] for r in rows], signed=signed):>20}"


if __name__ == "__main__":
    main()
