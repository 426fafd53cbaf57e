"""The speaker-attribution check of LLM answers (`pipeline.llm.answer_speakers`) replayed on stored real answers,
without a model call: how many sentences it drops or re-cites on QMSum val, dev and check halves, and what that does
to ROUGE (paired, 90% bootstrap interval over meetings).

The rows of `bench/llm_qmsum.py` (its JSONL results file) hold each answer as written after grounding (`text`, the
kept sentences with their `[n]` citations), not the raw reply; the passages the model was shown are the cached
retrieval results (`bench.qmsum.highlighted`). Grounding that text again against the same passages without the
speaker check returns it unchanged (checked here: a row where it does not is reported and left out); with the check,
the difference is the check's. An answer left with no sentence takes the extractive answer's score, as the writer
falls back to it. What cannot be replayed: a sentence the 100-word cap cut that would take a dropped one's place.

Run: `nice -n 10 python bench/llm_answer_attribution.py [--results /tmp/talks-bench-cache/llm-qmsum-<key>.jsonl]
[--show 10]`
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.llm_qmsum import METRICS, SHORT, read_rows, rouge, select_items
from bench.qmsum import CACHE_DIR, HALVES, cached_workspace, highlighted, interval, val_halves
from pipeline.llm.answer import ground_reply, passage_heading
from pipeline.llm.answer_speakers import attributed, speaking
from pipeline.llm.recap_checks import overlap
from pipeline.models import GroundingReport

DEFAULT_RESULTS = CACHE_DIR / "llm-qmsum-bbefe948a8f13de3.jsonl"  # the neutral answer prompt's full run (a89f150)
SHOWN = 3  # `--max-passages` of that run (fewer when its grounding says some were left out to fit the context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="a bench/llm_qmsum.py results file")
    parser.add_argument("--show", type=int, default=10, help="dropped or re-cited sentences to print (default 10)")
    args = parser.parse_args()
    if not args.results.exists():
        print(f"skipped: no results file {args.results} (run bench/llm_qmsum.py first)")
        return

    from rouge_score import rouge_scorer

    from pipeline.query import Searcher
    from pipeline.workspace import Workspace

    rows = [row for row in read_rows(args.results) if row["kind"] == "specific"]
    items = {(item.meeting, item.question): item for _, kind, item in select_items(10, 0) if kind == "specific"}
    halves = val_halves()
    searcher = Searcher(Workspace(cached_workspace("qmsum-val", halves["dev"] + halves["check"])))
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    replayed: dict[str, list[dict]] = {half: [] for half in HALVES}
    examples, skipped = [], []
    for row in rows:
        if row["method"] != "llama-cpp" or row["no_answer"]:
            replayed[row["half"]].append(
                {**row, "new": row["llm"], "dropped": 0, "recited": 0, "checked": 0, "attributing": 0, "own": []}
            )
            continue  # an extractive fallback or a no-answer: no LLM sentence to check
        item = items[(row["meeting"], row["query"])]
        passages, _ = highlighted(searcher, item)
        left_out = re.search(r"passages (\d+)–\d+ left out", " ".join(row["grounding"]["fallbacks"]))
        passages = passages[: int(left_out.group(1)) - 1 if left_out else SHOWN]
        shown = [f"{passage_heading(p)}\n{p.text}" for p in passages]
        before, _ = ground_reply(row["text"], shown, GroundingReport())
        if [(s.text, s.citations) for s in before] != _parsed(row["text"]):
            skipped.append(f"{row['meeting']} ({row['query'][:40]})")
            continue
        report, speakers = GroundingReport(), [speaking(p) for p in passages]
        after, _ = ground_reply(row["text"], shown, report, speakers=speakers)
        named = [(s, attributed(s.text, set().union(*speakers))) for s in after]
        attributing = sum(1 for s in before if attributed(s.text, set().union(*speakers)))
        own = [_own_words(s, found[0][1], passages) for s, found in named if len(found) == 1 and found[0][1]]
        kept = {s.text: s.citations for s in after}
        recited = [s for s in before if s.text in kept and kept[s.text] != s.citations]
        examples += [f"dropped: {reason.removeprefix('answer: dropped ')}" for reason in report.fallbacks]
        examples += [f"re-cited {s.citations} -> {kept[s.text]}: {s.text}" for s in recited]
        text = " ".join(s.text for s in after)
        new = rouge(scorer, text, item.answer) if after else row["extractive"]
        replayed[row["half"]].append(
            {
                **row,
                "new": new,
                "dropped": report.claims_dropped,
                "recited": len(recited),
                "checked": len(before),
                "attributing": attributing,
                "own": own,
            }
        )
    if skipped:
        print(f"left out (stored text not reproduced by grounding it again): {', '.join(skipped)}")
    print(f"{args.results.name}: QMSum val specific queries, ROUGE F1 x100, mean [90% bootstrap over meetings]")
    for half in HALVES:
        done = replayed[half]
        if not done:
            continue
        meetings = [r["meeting"] for r in done]
        changed = sum(1 for r in done if r["dropped"] or r["recited"])
        emptied = sum(1 for r in done if r["dropped"] and r["dropped"] == r["checked"])
        print(
            f"  {half}: {len(done)} answers, {sum(r['checked'] for r in done)} LLM sentences, "
            f"{sum(r['attributing'] for r in done)} of them naming a speaker of the passages as saying something; "
            f"the check drops "
            f"{sum(r['dropped'] for r in done)} and re-cites {sum(r['recited'] for r in done)} ({changed} answers "
            f"changed, {emptied} left empty -> extractive)"
        )
        own = [words for r in done for words in r["own"]]
        print(
            f"    turn level (not checked): of the {len(own)} kept sentences naming one speaker, "
            f"{sum(words == 0 for words in own)} share no content word with that speaker's own turns in the cited "
            "passages (the words come from others' turns)"
        )
        for metric in METRICS[:2]:
            old = [r["llm"][metric] for r in done]
            new = [r["new"][metric] for r in done]
            gain = [b - a for a, b in zip(old, new, strict=True)]
            print(
                f"    {SHORT[metric]}: before {interval(old, meetings)}, after {interval(new, meetings)}, "
                f"paired {interval(gain, meetings, signed=True)}"
            )
    for example in examples[: args.show]:
        print(f"  {example}")


def _own_words(sentence, meaning: frozenset[str], passages) -> int:
    """Content words `sentence` shares with the `Speaker: text` turns of `meaning`'s speakers in its cited passages
    (the speakers' names left out of the sentence)."""
    text = sentence.text
    for word in {word for speaker in meaning for word in speaker.split()}:
        text = re.sub(rf"\b{re.escape(word)}\b", " ", text, flags=re.I)
    turns = [
        body
        for n in sentence.citations
        for speaker, body in re.findall(r"^([^:\n]{1,60}):\s+(.*)$", passages[n - 1].text, re.M)
        if speaker in meaning
    ]
    return overlap(text, " ".join(turns))[0]


def _parsed(text: str) -> list[tuple[str, list[int]]]:
    """The (sentence, citations) pairs of a stored answer text (`answer_text`: each sentence then ` [n]` markers)."""
    return [
        (sentence, [int(n) for n in re.findall(r"\d+", markers)])
        for sentence, markers in re.findall(r"(.+?[.!?])((?: \[\d+\])+)(?: |$)", text)
    ]


if __name__ == "__main__":
    main()
