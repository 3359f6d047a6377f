"""Old entry point of the deployment helper, kept for stacks whose state predates the `kedge` package.

State written before the move records `venv/bin/python -m components.azure.configuration_registry`
for delete and update; this module runs the current helper for it. New state records
`-m kedge.azure.registry.configuration`.
"""

import sys

from kedge.azure.registry.configuration import main

if __name__ == "__main__":
    sys.exit(main())
