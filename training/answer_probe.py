"""Tries linear probes on the candidate sentences' embeddings as extra features of the answer scorer (issue 15);
not adopted (README, "Answers": no gain on either val half), kept so the figures can be rerun.

Two ridge probes, fitted on QMSum train to each candidate's ROUGE-1 precision against the reference (the scorer's
target): on the sentence's 384-d vector (what summary-like content looks like) and on the elementwise product of the
question's and the sentence's vectors (a learned diagonal bilinear relevance). Their outputs are added to the
scorer's `FEATURES`: out of fold (5 folds of train meetings) for the fit of the second stage, so it does not learn
from probes that saw its own targets, and from probes fitted on all train for val. The second stage is
`training/answer_scorer.py`'s ridge, cross-validated over train meetings the same way; val is then written on the
frozen passages of `training/answer_passages.py val`, both halves paired against the shipped weights. The vectors
are those the highlighter scored (the store's pooled sentence vectors), frozen beside the passages.

    nice -n 10 python training/answer_passages.py train --every 1   # the 162 train meetings, with vectors
    nice -n 10 python training/answer_passages.py val
    nice -n 10 python training/answer_probe.py [--stage-every 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.qmsum import HALVES, TRAIN_DIR, interval, meeting_files, val_halves  # noqa: E402
from pipeline.components.answer import FEATURES, HAND_SET, fitted_scorer  # noqa: E402
from training import answer_scorer as scorer  # noqa: E402
from training.answer_passages import load_vectors  # noqa: E402


def load(split: str) -> tuple[list[scorer.Item], np.ndarray, np.ndarray]:
    """The frozen items and, a row a candidate, its sentence's vector and its question's."""
    items = scorer.load(split)
    queries, sentences = load_vectors(split)
    if len(queries) != len(items):
        raise SystemExit(f"the frozen {split} vectors do not match its passages: run answer_passages.py {split}")
    rows = [(sentences[k][c.number - 1][c.position], queries[k]) for k, item in enumerate(items) for c in item.pool]
    return items, np.asarray([r[0] for r in rows], dtype=float), np.asarray([r[1] for r in rows], dtype=float)


def folds(groups: np.ndarray, k: int = 5) -> list[np.ndarray]:
    meetings = sorted(set(groups))
    return [np.isin(groups, meetings[i::k]) for i in range(k)]


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, alpha: float) -> np.ndarray:
    from sklearn.linear_model import Ridge

    result = np.zeros(len(y))
    for held in folds(groups):
        result[held] = Ridge(alpha=alpha).fit(x[~held], y[~held]).predict(x[held])
    return result


def offsets(items: list[scorer.Item]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(item.pool) for item in items])]).astype(int)


def fit(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """`answer_scorer.fit`'s ridge on these columns: raw-unit weights, counted points kept hand-set."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    weights = Ridge(alpha=alpha).fit(scaler.transform(x), y).coef_ / scaler.scale_
    weights[scorer.ENUMERATION] = HAND_SET["enumeration"]
    return weights


def written(items: list[scorer.Item], x: np.ndarray, weights: np.ndarray, redundancy: float) -> np.ndarray:
    """ROUGE-1 and -2 F1 (x100) of each item's answer written with these scores."""
    bounds, rows = offsets(items), []
    for k, item in enumerate(items):
        scores = x[bounds[k] : bounds[k + 1]] @ weights
        rows.append(scorer.rouge(item, scorer.written(item, scores, 65, redundancy)))
    return 100 * np.asarray(rows)


def cross_validated(items: list[scorer.Item], extra: np.ndarray | None, y: np.ndarray, redundancy: float) -> float:
    """Mean ROUGE-1 of the second stage over 5 folds of train meetings (word rates refitted without the fold)."""
    meetings, bounds, results = sorted({item.meeting for item in items}), offsets(items), []
    for i in range(5):
        held = set(meetings[i::5])
        train = [k for k, item in enumerate(items) if item.meeting not in held]
        test = [k for k, item in enumerate(items) if item.meeting in held]
        rates, other = scorer.word_rates([items[k] for k in train])
        x = scorer.features(items, rates, other)
        x = np.column_stack([x, extra]) if extra is not None else x
        rows = [np.arange(bounds[k], bounds[k + 1]) for k in train]
        weights = fit(x[np.concatenate(rows)], y[np.concatenate(rows)], 10.0)
        held_rows = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in test])
        results.append(written([items[k] for k in test], x[held_rows], weights, redundancy))
    return float(np.concatenate(results)[:, 0].mean())


def main() -> None:
    from sklearn.linear_model import Ridge

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage-every", type=int, default=5, help="second stage on every N-th train meeting")
    parser.add_argument("--alpha-sentence", type=float, default=3.0)
    parser.add_argument("--alpha-relevance", type=float, default=0.1)
    parser.add_argument("--redundancy", type=float, default=0.2)
    args = parser.parse_args()
    items, sentences, questions = load("train")
    y = np.concatenate([scorer.targets(item) for item in items])
    groups = np.asarray([item.meeting for item in items for _ in item.pool])
    inputs = {"sentence": sentences, "relevance": questions * sentences}
    alphas = {"sentence": args.alpha_sentence, "relevance": args.alpha_relevance}
    probes = {name: out_of_fold(x, y, groups, alphas[name]) for name, x in inputs.items()}
    print(f"train: {len(set(groups))} meetings, {len(items)} queries, {len(y)} candidates")
    for name, values in probes.items():
        correlation = np.corrcoef(values, y)[0, 1]
        print(f"probe {name} (alpha {alphas[name]}): out-of-fold correlation with the target {correlation:.3f}")
    kept = {path.stem for path in meeting_files(TRAIN_DIR)[:: args.stage_every]}
    mask = np.asarray([item.meeting in kept for item in items for _ in item.pool])
    stage = [item for item in items if item.meeting in kept]
    extra = np.column_stack([probes["sentence"][mask], probes["relevance"][mask]])
    print(f"second stage: {len(kept)} meetings, {len(stage)} queries; 5-fold CV ROUGE-1, redundancy {args.redundancy}:")
    print(f"  without probes {cross_validated(stage, None, y[mask], args.redundancy):.2f}")
    print(f"  with probes    {cross_validated(stage, extra, y[mask], args.redundancy):.2f}")
    rates, other = scorer.word_rates(stage)
    x = scorer.features(stage, rates, other)
    variants = {"refit": (x, []), "+sentence": (np.column_stack([x, extra[:, 0]]), ["sentence"])}
    variants["+both"] = (np.column_stack([x, extra]), ["sentence", "relevance"])
    weights = {name: fit(columns, y[mask], 10.0) for name, (columns, _) in variants.items()}
    models = {name: Ridge(alpha=alphas[name]).fit(values, y) for name, values in inputs.items()}
    val, val_sentences, val_questions = load("val")
    val_inputs = {"sentence": val_sentences, "relevance": val_questions * val_sentences}
    val_probes = {name: models[name].predict(values) for name, values in val_inputs.items()}
    shipped = fitted_scorer()
    shipped_x = scorer.features(val, shipped.word_rates, shipped.other_rate)
    results = {
        "shipped": written(val, shipped_x, np.asarray([shipped.weights[f] for f in FEATURES]), shipped.redundancy)
    }
    val_x = scorer.features(val, rates, other)
    for name, (_, names) in variants.items():
        columns = np.column_stack([val_x, *[val_probes[n] for n in names]]) if names else val_x
        results[name] = written(val, columns, weights[name], args.redundancy)
    half_of = {path.stem: half for half, paths in val_halves().items() for path in paths}
    meetings = np.asarray([item.meeting for item in val])
    halves = np.asarray([half_of[m] for m in meetings])
    print("QMSum val, frozen passages: ROUGE-1 [90% interval over meetings]; paired against the shipped weights")
    for name, values in results.items():
        cells = []
        for half in HALVES:
            chosen = halves == half
            ours, theirs = values[chosen, 0], results["shipped"][chosen, 0]
            paired = interval(ours - theirs, list(meetings[chosen]), signed=True)
            cells.append(f"{half} {interval(ours, list(meetings[chosen]))} (paired {paired})")
        print(f"{name:>10}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
