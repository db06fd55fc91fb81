"""`sparrow-tfx`: one command-line entry, one module per subcommand under pipeline/commands/."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
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
    if not args.verbose:
        _quiet_libraries()
    try:
        return args.handler(args)
    except OSError as error:  # a path the checks before could not foresee (permissions, a full disk)
        where = f": {error.filename}" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        return 1


def _quiet_libraries() -> None:
    """Only errors from TF, TFX and Beam: their routine warnings (deprecations, CUDA probing, Python version
    notices) buried the run's own output under a hundred lines. `-v` shows everything."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read when TensorFlow loads, which is later
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="tensorflow_model_analysis")
    for handler in logging.getLogger().handlers:  # a filter on the handler: absl resets its logger's level
        handler.addFilter(_library_errors_only)


_LIBRARIES = ("absl", "apache_beam", "tensorflow", "tfx")


def _library_errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR or record.name.split(".")[0] not in _LIBRARIES


if __name__ == "__main__":
    sys.exit(main())
