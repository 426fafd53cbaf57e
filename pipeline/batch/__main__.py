"""`python -m pipeline.batch MANIFEST [options]`."""

import sys

from pipeline.batch.runner import main

sys.exit(main())
