"""Entry point: `python -m civicflow_cli`, the same as the installed `civicflow` command."""

from __future__ import annotations

import sys

from civicflow_cli.main import main

if __name__ == "__main__":
    sys.exit(main())
