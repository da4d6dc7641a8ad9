"""``python -m natsd [flags]``: the same as the ``natsd`` command."""

import sys

from natsd.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
