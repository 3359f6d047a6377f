"""Old entry point of the identity helper, kept for stacks whose state predates the `kedge` package.

Pulumi runs a resource's delete with the command recorded in its state, so state written before
the move still says `venv/bin/python -m components.azure.device_registry delete`. This module runs
the current helper for it; new state records `-m kedge.azure.registry.device`.
"""

import sys

from kedge.azure.registry.device import main

if __name__ == "__main__":
    sys.exit(main())
