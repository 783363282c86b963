"""``python -m waferscale`` runs the command line."""

import sys

from waferscale.cli import main

if __name__ == "__main__":
    sys.exit(main())
