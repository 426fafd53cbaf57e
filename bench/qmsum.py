"""Shared QMSum loading for the benchmarks: meetings as transcripts whose segments are the turns."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.models import Segment, Talk, Transcript

QMSUM_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "qmsum" / "val"
_ANNOTATION = re.compile(r"\{\w+\}")


@dataclass
class Query:
    meeting: str
    question: str
    answer: str
    gold_turns: set[int]


def meeting_files(directory: Path = QMSUM_DIR) -> list[Path]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise SystemExit(f"no QMSum meetings in {directory}: is ../shared/eval/qmsum/val there?")
    return files


def load_meeting(path: Path) -> tuple[Transcript, list[Query], dict]:
    """The meeting as a transcript (QMSum's `{disfmarker}`-style annotations removed) and its specific queries."""
    data = json.loads(path.read_text())
    talk_id = path.stem
    segments = [
        Segment(index=i, text=" ".join(_ANNOTATION.sub(" ", turn["content"]).split()), speaker=turn["speaker"])
        for i, turn in enumerate(data["meeting_transcripts"])
    ]
    speakers = sorted({turn["speaker"] for turn in data["meeting_transcripts"]})
    transcript = Transcript(talk=Talk(id=talk_id, title=talk_id, speakers=speakers, event="QMSum"), segments=segments)
    queries = []
    for item in data["specific_query_list"]:
        gold = {t for start, end in item["relevant_text_span"] for t in range(int(start), int(end) + 1)}
        queries.append(Query(talk_id, item["query"], item["answer"], gold))
    return transcript, queries, data
