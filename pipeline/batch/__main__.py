"""`python -m pipeline.batch MANIFEST [options]`: the same as `talks batch MANIFEST [options]` (one CLI)."""

import sys

from pipeline.cli import app

app(["batch", *sys.argv[1:]], prog_name="python -m pipeline.batch")
