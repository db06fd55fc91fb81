"""`sparrow-tfx`: one command-line entry, one module per subcommand under pipeline/cli/commands/."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from pipeline import configs
from pipeline.cli import console

# Each module has `register(subparsers)`, which adds its parser and sets `handler(args) -> exit code`.
COMMAND_MODULES = (
    "pipeline.cli.commands.run",
    "pipeline.cli.commands.generate",
    "pipeline.cli.commands.download",
    "pipeline.cli.commands.report",
    "pipeline.cli.commands.runs",
    "pipeline.cli.commands.lineage",
    "pipeline.cli.commands.compile",
    "pipeline.cli.commands.submit",
    "pipeline.cli.commands.recommend",
    "pipeline.cli.commands.serve",
    "pipeline.cli.commands.replay",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparrow-tfx", description="The SparrowRecSys recommender as a TFX pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every library's logs and warnings (TensorFlow, absl, Beam, Google clients); "
                             "without it they go to a log file under the work dir (<work dir>/logs), named when a "
                             "command fails")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # TFX and Beam parse sys.argv with their own flags (absl's -v, Beam options): hide ours from them.
    sys.argv = sys.argv[:1]
    if args.verbose:
        console.verbose()
    else:
        console.quiet(args.command, getattr(args, "work_dir", None) or configs.DEFAULT_WORK_DIR)
    try:
        return args.handler(args)
    except OSError as error:  # a path the checks before could not foresee (permissions, a full disk)
        where = f": {error.filename}" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted {console.where_logged()}".rstrip(), file=sys.stderr)
        return 130
    except Exception as error:  # a failure no command expected: one line here, the traceback in the log
        if args.verbose:
            raise
        console.log_failure(error)
        print(f"error: {type(error).__name__}: {error}\n{console.where_logged()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
