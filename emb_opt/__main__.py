"""`python -m emb_opt ...` is the `emb-opt` command."""

import sys

from .cli.main import main

sys.exit(main())
