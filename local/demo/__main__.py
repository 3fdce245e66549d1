"""``python -m local.demo``: see ``local.demo.main``."""

import sys

from local.demo.main import main

if __name__ == "__main__":
    sys.exit(main())
