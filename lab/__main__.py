"""python -m lab build | dind --stack FILE --device ID [--host-users|--userns] -- COMMAND... (docs/lab.md)."""

import argparse
import json
import sys

from . import images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find in the cache) the node guest and the dind image")
    args, rest = parser.parse_known_args(argv)
    if args.command == "build":
        node, dind = images.node_image(), images.dind_image()
        print(json.dumps({"node": str(node), "dind": str(dind)}, indent=1))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
