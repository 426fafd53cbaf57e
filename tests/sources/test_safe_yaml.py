"""YAML "billion laughs": sidecars and manifests refuse anchors and aliases before expanding anything."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from pipeline.batch.manifest import BatchError, read_manifest
from pipeline.sources.base import SourceError
from pipeline.sources.files import load_file
from pipeline.sources.safe_yaml import YamlAliasError, load_yaml


def laughs(levels: int = 9) -> str:
    """The classic alias bomb: each level repeats the one before nine times (9**levels strings once expanded)."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_load_yaml_refuses_anchors_aliases_and_merge_keys_naming_the_line():
    assert load_yaml("title: Talk\nspeakers: [Ann, Bob]\n") == {"title": "Talk", "speakers": ["Ann", "Bob"]}
    for text, line in (
        ("x: &a 1\n", 1),
        ("x: 1\ny:\n  - &a [1]\n  - *a\n", 3),
        ("base: {k: 1}\nother:\n  <<: *base\n", 3),
    ):
        with pytest.raises(YamlAliasError, match=f"line {line}: YAML anchors and aliases"):
            load_yaml(text)


def test_an_alias_bomb_sidecar_is_refused_in_one_line_at_once(tmp_path: Path):
    (tmp_path / "talk.txt").write_text("Hello and welcome.\n")
    (tmp_path / "talk.meta.yaml").write_text("title: Bomb\n" + laughs(12))
    started = time.perf_counter()
    with pytest.raises(SourceError) as caught:
        load_file(tmp_path / "talk.txt")
    assert time.perf_counter() - started < 2
    message = str(caught.value)
    assert message == (
        f"{tmp_path / 'talk.meta.yaml'}: sidecar metadata cannot be read "
        "(line 2: YAML anchors and aliases (&name, *name) are not allowed; write the values out)"
    )


@pytest.mark.parametrize(
    ("sidecar", "problem"),
    [
        ("[[[[" * 3000, "YAML nested too deeply"),
        ("date: 2026-13-45\n", "month must be in 1..12"),
        ("title: [unclosed\n", "line 2:"),
    ],
    ids=["deep", "bad-date", "syntax"],
)
def test_unreadable_sidecars_are_one_line(tmp_path: Path, sidecar: str, problem: str):
    (tmp_path / "talk.txt").write_text("Hello and welcome.\n")
    (tmp_path / "talk.meta.yaml").write_text(sidecar)
    with pytest.raises(SourceError, match="sidecar metadata cannot be read") as caught:
        load_file(tmp_path / "talk.txt")
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_manifests_refuse_alias_bombs_too(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Hello.\n")
    manifest = tmp_path / "talks.yaml"
    manifest.write_text(laughs(12) + "talks:\n  - source: a.txt\n")
    with pytest.raises(BatchError, match="line 1: YAML anchors and aliases"):
        read_manifest(manifest)
    manifest.write_text("talks:\n  - &row {source: a.txt}\n  - *row\n")
    with pytest.raises(BatchError, match="line 2: YAML anchors and aliases"):
        read_manifest(manifest)
    assert yaml.safe_load("a: &x 1\nb: *x\n") == {"a": 1, "b": 1}  # what the plain SafeLoader would have done


def test_manifest_rows_with_deep_json_or_huge_numbers_are_row_problems(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Hello.\n")
    manifest = tmp_path / "talks.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    manifest.write_text('{"source": "a.txt"}\n' + deep + "\n" + '{"source": "b.txt", "x": ' + "9" * 5000 + "}\n")
    parsed = read_manifest(manifest)
    assert [row.talk_id for row in parsed.rows] == ["a"]
    assert [problem.line for problem in parsed.problems] == [2, 3]
    assert all("not a JSON object of a talk" in problem.message for problem in parsed.problems)
