"""``python -m verifier.cli``: the ``hedui`` command."""

import sys

from verifier.cli import main

sys.exit(main())
