"""Build hook: ship the top-level `prompts/` folder (and every subfolder, e.g. `prompts/web/`) inside the wheel as
`pipeline/prompts/`, where `pipeline.resources` finds it. Everything else is configured in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROMPTS = Path(__file__).resolve().parent / "prompts"


class BuildWithPrompts(build_py):
    """`build_py`, then `prompts/**` copied to `<build>/pipeline/prompts/**` (caches and hidden files left out)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "pipeline" / "prompts"
        for source in sorted(PROMPTS.rglob("*")):
            relative = source.relative_to(PROMPTS)
            if source.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                self.mkpath(str((target / relative).parent))
                self.copy_file(str(source), str(target / relative))


setup(cmdclass={"build_py": BuildWithPrompts})
