"""``python -m docpipe_cli``: the same as the ``docpipe`` command."""

import sys

from docpipe_cli.cli import main

sys.exit(main())
