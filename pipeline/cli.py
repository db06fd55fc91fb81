"""`sparrow-tfx`: one command-line entry, one module per subcommand under pipeline/commands/."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

# Each module has `register(subparsers)`, which adds its parser and sets `handler(args) -> exit code`.
COMMAND_MODULES = (
    "pipeline.commands.run",
    "pipeline.commands.generate",
    "pipeline.commands.download",
    "pipeline.commands.report",
    "pipeline.commands.runs",
    "pipeline.commands.lineage",
    "pipeline.commands.compile",
    "pipeline.commands.submit",
    "pipeline.commands.recommend",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparrow-tfx", description="The SparrowRecSys recommender as a TFX pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show TFX and Beam logs")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # TFX and Beam parse sys.argv with their own flags (absl's -v, Beam options): hide ours from them.
    sys.argv = sys.argv[:1]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
