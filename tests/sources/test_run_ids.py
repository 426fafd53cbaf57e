"""Two inputs of one run never share an id silently: the second is an error, in `talks ingest` and in manifests;
a later run still replaces."""

from __future__ import annotations

from pathlib import Path

from pipeline.batch.manifest import read_manifest
from pipeline.sources import expand_sources, load_source
from pipeline.sources.base import SourceError

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n{}\n"


def write_inputs(folder: Path) -> None:
    folder.mkdir()
    (folder / "講演.vtt").write_text(VTT.format("We talk about caching layers and invalidation."))
    (folder / "発表.srt").write_text("1\n00:00:01,000 --> 00:00:04,000\nA talk about database replication.\n")
    (folder / "a.vtt").write_text(VTT.format("The first file called a, about queues."))
    (folder / "a.txt").write_text("The second file called a, about logging.\n")
    (folder / "-.txt").write_text("A file whose name has no letters.\n")


def test_manifest_rows_get_transliterated_ids_and_a_repeated_id_is_a_row_problem(tmp_path: Path):
    write_inputs(tmp_path / "in")
    manifest = tmp_path / "talks.csv"
    manifest.write_text("source\nin/講演.vtt\nin/発表.srt\nin/a.vtt\nin/a.txt\nin/-.txt\n", encoding="utf-8")
    parsed = read_manifest(manifest)
    ids = [row.talk_id for row in parsed.rows]
    assert ids[:3] == ["JiangYan", "FaBiao", "a"] and ids[3].startswith("talk-")
    assert [(p.line, p.message) for p in parsed.problems] == [(5, "duplicate talk id 'a' (first on line 4)")]


def test_a_second_input_with_an_id_already_used_in_the_run_is_an_error(tmp_path: Path, ingestor_factory):
    write_inputs(tmp_path / "in")
    ingestor = ingestor_factory(tmp_path / "ws")
    items = sorted(expand_sources([str(tmp_path / "in")]))
    outcomes = list(ingestor.ingest_many(load_source(item, None, None) for item in items))
    done = {o.result.talk_id: o.transcript.talk.source for o in outcomes if o.result}
    failed = [o for o in outcomes if o.error]
    assert {"JiangYan", "FaBiao", "a"} < set(done) and len(done) == 4
    assert any(talk_id.startswith("talk-") for talk_id in done)
    assert len(failed) == 1
    error = failed[0].error
    assert isinstance(error, SourceError)
    first, second = sorted(str(tmp_path / "in" / name) for name in ("a.txt", "a.vtt"))
    problem = f"id 'a' already used by {first} in this run; pass --id to ingest it under another id"
    assert str(error) == f"{second}: {problem}"
    assert ingestor.workspace.load_transcript("a").talk.source == first  # the first one kept, not replaced

    again = list(ingestor.ingest_many([load_source(second, None, None)]))  # a later run replaces, as always
    assert again[0].result is not None and again[0].result.replaced
    assert ingestor.workspace.load_transcript("a").talk.source == second
