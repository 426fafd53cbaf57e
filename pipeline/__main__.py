"""`python -m pipeline …` is `talks …` (for an environment whose scripts folder is not on PATH)."""

from pipeline.cli import app

app(prog_name="talks")
