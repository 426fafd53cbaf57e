"""Seeded fuzzing of the parsers and of `talks ingest`: truncations, byte flips, random binary, other encodings
(UTF-16/32, Latin-1), NUL bytes, extreme numbers, deep JSON/YAML, alias bombs, huge lines, shuffled cues.

In process (a few hundred cases, no model): every input either loads into a transcript that is safe downstream
(finite bounded times, bounded segments, chunks within the chunk size, JSON round trip) or fails with one
`SourceError` line naming the file; manifests load or fail with one `BatchError` line. Then one real `talks ingest`
run over valid files mixed with fuzzed ones: no traceback, exit 1, exactly the files the parsers accept are stored,
and `list`, `ask`, `themes` and `recap` work on them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.batch.manifest import BatchError, read_manifest
from pipeline.components.chunker import TranscriptChunker
from pipeline.components.cleaner import TranscriptCleaner
from pipeline.models import Transcript, format_timestamp
from pipeline.sources.base import SourceError
from pipeline.sources.files import load_file
from pipeline.sources.limits import SEGMENT_CHARS, SEGMENT_WORDS, Limits
from tests.conftest import DATA, FIXTURES
from tests.helpers import talks

SEED = 20261130
CASES = 320
SEEDS = [
    FIXTURES / "auto-captions.vtt",
    FIXTURES / "panel.srt",
    FIXTURES / "turns.txt",
    FIXTURES / "yt.json",
    FIXTURES / "malformed.vtt",
    FIXTURES / "malformed.srt",
    DATA / "founder-talk.vtt",
    DATA / "panel-remote-teams.srt",
    DATA / "lightning-pricing.json",
    DATA / "fireside-chat.txt",
]
SIDECARS = sorted(DATA.glob("*.meta.yaml"))
_LABELS = re.compile(r"(?:^|\n)[^:\n]{1,80}: ")
EXTREMES = ["9" * 30, "1e400", "-5", "NaN", "Infinity", "99999999999", "0" * 40, "1e-400", "2147483648", "60"]


@dataclass
class Case:
    name: str  # file name, unique in a run
    data: bytes
    mutation: str
    sidecar: bytes | None = None  # written as NAME.meta.yaml beside the transcript


# --- mutations: each takes the seed's bytes and a seeded Random --------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, max(2, len(data)))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def insert_nul(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + b"\x00" * rng.randint(1, 3) + data[at:]


def random_binary(data: bytes, rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(1, 4096))


def reencode(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"])
    return text.encode(encoding, "replace")


def extreme_number(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    runs = list(re.finditer(r"\d+(?:\.\d+)?", text))
    for match in rng.sample(runs, min(len(runs), rng.randint(1, 3))):
        replacement = rng.choice(EXTREMES)
        text = text[: match.start()] + replacement + text[match.end() :]
        break  # offsets of later matches moved; one replacement a pass
    return text.encode()


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([1000, 10_000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return (opener * depth + closer * depth).encode()


def huge_line(data: bytes, rng: random.Random) -> bytes:
    words = rng.choice([5_000, 60_000])
    filler = b" ".join(rng.choice([b"talk", b"scale", b"open", b"source", b"x" * 300]) for _ in range(words))
    return data.replace(b"\n", b" ") + b" " + filler if rng.random() < 0.5 else data + filler


def shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    rng.shuffle(lines)
    return b"\n".join(lines)


def duplicate_region(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    piece = data[start : start + rng.randint(1, 400)]
    return data[:start] + piece * rng.randint(2, 50) + data[start:]


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    truncate,
    flip_bytes,
    insert_nul,
    random_binary,
    reencode,
    extreme_number,
    deep_nesting,
    huge_line,
    shuffle_lines,
    duplicate_region,
]


def alias_bomb(levels: int) -> bytes:
    lines = ['a0: &a0 "lol"'] + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return ("title: Bomb\n" + "\n".join(lines) + "\n").encode()


def sidecar_case(rng: random.Random) -> bytes:
    """A fuzzed sidecar (its `id:` line removed, so the transcript's file name names the talk)."""
    seed = b"\n".join(line for line in rng.choice(SIDECARS).read_bytes().split(b"\n") if not line.startswith(b"id:"))
    kind = rng.randrange(6)
    if kind == 0:
        return alias_bomb(rng.randint(3, 12))
    if kind == 1:
        return b"[" * rng.choice([100, 10_000])
    if kind == 2:
        return seed + rng.choice(
            [b"\nextra: [1, 2]\n", b"\nextra: {a: {b: 1}}\n", b"\ndate: 2026-13-45\n", b"\nx: 1e400\n"]
        )
    return rng.choice([flip_bytes, truncate, insert_nul, reencode])(seed, rng)


def make_cases(count: int = CASES, seed: int = SEED) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    base = (FIXTURES / "turns.txt").read_bytes()
    for number in range(count):
        if number % 8 == 7:
            cases.append(Case(f"case{number:03d}.txt", base, "sidecar", sidecar_case(rng)))
            continue
        source = rng.choice(SEEDS)
        mutation = rng.choice(MUTATIONS)
        data = mutation(source.read_bytes(), rng)
        cases.append(Case(f"case{number:03d}{source.suffix}", data, f"{mutation.__name__}({source.name})"))
    return cases


def write_case(folder: Path, case: Case) -> Path:
    path = folder / case.name
    path.write_bytes(case.data)
    if case.sidecar is not None:
        (folder / f"{path.stem}.meta.yaml").write_bytes(case.sidecar)
    return path


def check_accepted(transcript: Transcript, chunker: TranscriptChunker, cleaner: TranscriptCleaner) -> None:
    """What accepted input must be: safe for everything downstream."""
    limits = Limits.from_env()
    assert transcript.segments and [s.index for s in transcript.segments] == list(range(len(transcript.segments)))
    for segment in transcript.segments:
        for value in (segment.start, segment.end):
            assert value is None or 0 <= value <= limits.max_seconds
            format_timestamp(value)
        assert len(segment.text.split()) <= SEGMENT_WORDS and len(segment.text) <= SEGMENT_CHARS
    assert Transcript.model_validate_json(transcript.model_dump_json()) == transcript
    cleaned = cleaner.run(transcript=transcript)["transcript"]
    documents = chunker.run(transcript=cleaned)["documents"]
    assert documents, "an accepted transcript has text to index"
    for document in documents:  # at most `words` spoken words (a `Name: ` label opens each change of speaker)
        spoken = _LABELS.sub(" ", document.content or "")
        assert len(spoken.split()) <= chunker.words and len(spoken) <= chunker.words * (SEGMENT_CHARS // 10 + 1)
        format_timestamp(document.meta["start"])


def classify(folder: Path, cases: list[Case]) -> tuple[dict[str, Transcript], dict[str, str], list[str]]:
    """Loads every case: (accepted transcripts, one-line errors, broken cases) by file name."""
    chunker, cleaner = TranscriptChunker(), TranscriptCleaner()
    accepted: dict[str, Transcript] = {}
    rejected: dict[str, str] = {}
    broken: list[str] = []
    for case in cases:
        path = write_case(folder, case)
        try:
            transcript = load_file(path)
        except SourceError as error:
            message = str(error)
            if "\n" in message or "unexpected" in message or not message.startswith(f"{folder}/{path.stem}"):
                broken.append(f"{case.name} [{case.mutation}]: not one line naming the file: {message[:200]!r}")
            rejected[case.name] = message
            continue
        except BaseException as error:  # this is what the test looks for
            broken.append(f"{case.name} [{case.mutation}]: {type(error).__name__}: {str(error)[:200]}")
            continue
        try:
            check_accepted(transcript, chunker, cleaner)
        except BaseException as error:
            broken.append(f"{case.name} [{case.mutation}]: accepted but unsafe: {type(error).__name__}: {error}")
            continue
        accepted[case.name] = transcript
    return accepted, rejected, broken


def test_parsers_survive_a_few_hundred_fuzzed_inputs(tmp_path: Path):
    cases = make_cases()
    accepted, rejected, broken = classify(tmp_path, cases)
    assert not broken, "\n".join(broken)
    assert len(accepted) + len(rejected) == len(cases)
    assert len(accepted) >= 40 and len(rejected) >= 100  # the fuzzing exercises both sides
    assert any("YAML anchors and aliases" in message for message in rejected.values())
    assert any("JSON nested too deeply" in message for message in rejected.values())


def test_manifests_survive_fuzzing(tmp_path: Path):
    rng = random.Random(SEED + 1)
    csv_seed = (DATA / "manifest.csv").read_bytes()
    rows = [line.split(",")[0] for line in csv_seed.decode().splitlines()[1:]]
    jsonl_seed = "".join(json.dumps({"source": str(DATA / row), "title": "T"}) + "\n" for row in rows).encode()
    yaml_seed = ("event: Conf\ntalks:\n" + "".join(f"  - source: {DATA / row}\n" for row in rows)).encode()
    broken = []
    for number in range(120):
        suffix, seed = rng.choice([(".csv", csv_seed), (".jsonl", jsonl_seed), (".yaml", yaml_seed)])
        data = alias_bomb(10) if number % 10 == 9 else rng.choice(MUTATIONS)(seed, rng)
        path = tmp_path / f"m{number:03d}{suffix}"
        path.write_bytes(data)
        try:
            manifest = read_manifest(path)
        except BatchError as error:
            if "\n" in str(error) or not str(error).startswith(str(path)):
                broken.append(f"{path.name}: not one line naming the file: {str(error)[:200]!r}")
            continue
        except BaseException as error:
            broken.append(f"{path.name}: {type(error).__name__}: {str(error)[:200]}")
            continue
        assert len({row.talk_id for row in manifest.rows}) == len(manifest.rows)
    assert not broken, "\n".join(broken)


def test_ingest_takes_the_good_files_past_the_bad_ones_and_everything_accepted_works(tmp_path: Path, ingestor_factory):
    """One real CLI ingest over valid files and fuzzed ones (small, so the embedding stays quick); then list, ask,
    themes and recap on what was accepted."""
    probe = tmp_path / "probe"
    probe.mkdir()
    cases = [case for case in make_cases(160, SEED + 2) if len(case.data) < 40_000]
    accepted, rejected, broken = classify(probe, cases)
    assert not broken, "\n".join(broken)
    chosen = [c for c in cases if c.name in accepted][:8] + [c for c in cases if c.name in rejected][:12]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for case in chosen:
        write_case(inputs, case)
    valid = ["turns.txt", "yt.json", "panel.srt", "auto-captions.vtt"]
    for name in valid:
        (inputs / f"valid-{name}").write_bytes((FIXTURES / name).read_bytes())
    expected = {accepted[c.name].talk.id for c in chosen if c.name in accepted} | {
        f"valid-{Path(name).stem}" for name in valid
    }

    workspace = tmp_path / "ws"
    run = talks(workspace, "ingest", str(inputs), "--json")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout and "unexpected error" not in run.stderr + run.stdout
    report = json.loads(run.stdout)
    assert {talk["talk_id"] for talk in report["talks"]} == expected
    # a failure names the file at fault: the transcript, or its sidecar (caseNNN.meta.yaml)
    assert sorted(Path(f["source"]).name.split(".")[0] for f in report["failures"]) == sorted(
        Path(c.name).stem for c in chosen if c.name in rejected
    )
    assert all("\n" not in f["problem"] for f in report["failures"])

    listed = talks(workspace, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    infos = json.loads(listed.stdout)
    assert {info["talk"]["id"] for info in infos} == expected
    assert {info["status"] for info in infos} == {"indexed"}

    asked = talks(workspace, "ask", "What is this talk about?", "--json", "--top-k", "8")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["passages"] and answer.get("error") is None

    from pipeline.recap import Recapper
    from pipeline.render import render_recap
    from pipeline.workspace import Workspace

    recapper = Recapper(Workspace(workspace))
    for talk_id in sorted(expected):
        recap = recapper.recap(talk_id)  # what `talks themes` and `talks recap` print
        assert recap.overview.strip() and "\n# " in "\n" + render_recap(recap)
        assert recap.themes or any("too short" in note for note in recap.grounding.fallbacks)

    shortest = min(expected, key=lambda talk_id: Workspace(workspace).load_transcript(talk_id).word_count)
    result = talks(workspace, "recap", shortest, "--format", "md")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert f"{shortest}" in result.stdout


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
def test_every_mutation_is_deterministic(mutation):
    data = (FIXTURES / "panel.srt").read_bytes()
    assert mutation(data, random.Random(7)) == mutation(data, random.Random(7))
