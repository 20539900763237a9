"""`python -m civicflow.launch` (what `make run` runs): the whole system on this machine until Ctrl-C."""

from __future__ import annotations

import sys

from civicflow.launch.ports import PortInUseError, refuse_ports_in_use
from civicflow.launch.settings import LauncherSettings

# Exit status of a launcher that refused to start, as the services use it for a configuration they refuse.
EXIT_REFUSED = 2


def main() -> int:
    settings = LauncherSettings()
    try:
        # First, before the imports of everything else: a port in use is reported within a second or two.
        refuse_ports_in_use(settings)
    except PortInUseError as error:
        print(error, file=sys.stderr)
        return EXIT_REFUSED
    try:
        from civicflow.launch.launcher import launch
    except ImportError as missing:
        # The image and a plain `pip install civicflow` leave the launcher's own dependencies out.
        print(
            f"the launcher needs the launch extra ({missing.name} is missing): pip install 'civicflow[launch]'",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    return launch(settings)


sys.exit(main())
