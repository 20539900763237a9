"""`python -m civicflow.launch` (what `make run` runs): the whole system on this machine until Ctrl-C."""

from __future__ import annotations

import sys

from civicflow.launch.launcher import main

sys.exit(main())
