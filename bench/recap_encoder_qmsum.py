"""Recap quality on QMSum val by the encoder that embeds the recap's sentences: torch (sentence-transformers, what
recaps used and what ingest stored as the sentences' own vectors) against the int8 ONNX export
(`pipeline/onnx_encoder.py`), which a recap uses for talks whose store keeps no own sentence vectors.

Per meeting, as `bench/themes_qmsum.py` measures a recap: the automatic theme count, Pk and WindowDiff of the theme
spans against the gold topics (and Pk with the gold count given), and ROUGE-1/2/Lsum F1 of the overview against the
general query's reference. Gains paired per meeting against torch, dev and check halves (`bench/qmsum.py`), 90%
bootstrap intervals over meetings. Sentence embeddings are cached in `CACHE_DIR` per meeting and encoder.

Run: `OMP_NUM_THREADS=1 nice -n 10 python bench/recap_encoder_qmsum.py [--limit N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from haystack import Document
from rouge_score import rouge_scorer

from bench.qmsum import HALVES, cached_embeddings, interval, load_meeting, val_halves
from bench.themes_qmsum import general_reference, gold_labels, lines, pk_windowdiff, theme_labels
from pipeline.embedding import document_embedder
from pipeline.recap import RecapSettings, build_recap_pipeline, extractive_overview, talk_intro

ENCODERS = ("torch", "onnx-int8")
COLUMNS = ("themes", "Pk", "WD", "Pk gold count", "R-1", "R-2", "R-Lsum")


def measure(pipeline, transcript, data: dict, documents: list[Document], settings: RecapSettings) -> list[float]:
    """One meeting's figures (`COLUMNS`) for its embedded sentence Documents."""
    segmenter, titler = pipeline.get_component("segmenter"), pipeline.get_component("titler")
    takeaways = pipeline.get_component("takeaways")
    turns = len(transcript.segments)
    gold = gold_labels(data, turns)
    segmented = segmenter.run(documents=documents, transcripts=[transcript])
    hypothesis = theme_labels(segmented["themes"], turns)
    pk, wd = pk_windowdiff(gold, hypothesis)
    forced = segmenter.run(documents=documents, transcripts=[transcript], theme_count=gold[-1] + 1)["themes"]
    pk_gold, _ = pk_windowdiff(gold, theme_labels(forced, turns))
    themes = titler.run(themes=segmented["themes"], documents=segmented["documents"])["themes"]
    found = takeaways.run(themes=themes, documents=segmented["documents"])
    intro = talk_intro(transcript.talk, found["themes"])
    overview = extractive_overview(intro, found["themes"], found["scores"], settings.overview_words)
    scores = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True).score(
        lines(general_reference(data)), lines(overview)
    )
    rouge = [100 * scores[name].fmeasure for name in ("rouge1", "rouge2", "rougeLsum")]
    return [hypothesis[-1] + 1, 100 * pk, 100 * wd, 100 * pk_gold, *rouge]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    args = parser.parse_args()
    settings = RecapSettings()
    pipeline = build_recap_pipeline(settings)
    pipeline.warm_up()
    splitter = pipeline.get_component("splitter")
    embedders = {name: document_embedder(encoder=name) for name in ENCODERS}
    for embedder in embedders.values():
        embedder.warm_up()

    def encoder(name: str):
        def embed(texts: list[str]) -> np.ndarray:
            embedded = embedders[name].run(documents=[Document(content=text) for text in texts])["documents"]
            return np.asarray([doc.embedding for doc in embedded])

        return embed

    figures: dict[str, dict[str, list[list[float]]]] = {half: {name: [] for name in ENCODERS} for half in HALVES}
    names: dict[str, list[str]] = {half: [] for half in HALVES}
    for half, paths in val_halves(args.limit).items():
        for path in paths:
            transcript, _, data = load_meeting(path)
            sentences = splitter.run(transcripts=[transcript])["documents"]
            texts = [doc.content or "" for doc in sentences]
            for name in ENCODERS:
                vectors = cached_embeddings(texts, encoder(name), f"recap-sentences-{name}-{path.stem}")
                documents = [
                    Document(id=doc.id, content=doc.content, meta=doc.meta, embedding=vector.tolist())
                    for doc, vector in zip(sentences, vectors, strict=True)
                ]
                figures[half][name].append(measure(pipeline, transcript, data, documents, settings))
            names[half].append(path.stem)
            print(f"  {half} {path.stem}: {len(texts)} sentences", file=sys.stderr, flush=True)
    print("\n| half | encoder | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for half in HALVES:
        reference = np.asarray(figures[half]["torch"])
        for name in ENCODERS:
            rows = np.asarray(figures[half][name])
            if name == "torch":
                cells = [interval(rows[:, j], names[half]) for j in range(len(COLUMNS))]
            else:
                cells = [
                    f"{rows[:, j].mean():.1f}, {interval(rows[:, j] - reference[:, j], names[half], signed=True)}"
                    for j in range(len(COLUMNS))
                ]
            print(f"| {half} ({len(names[half])}) | {name} | " + " | ".join(cells) + " |")
    print("\n(torch rows: mean [90% interval]; int8 rows: mean, paired gain over torch [90% interval])")


if __name__ == "__main__":
    main()
