"""Which ML Metadata store the review commands read: `--metadata PATH`, or the one in `--work-dir`."""
from __future__ import annotations

import os

from pipeline import configs
from pipeline.report import metadata


def add_arguments(parser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--work-dir", default=configs.DEFAULT_WORK_DIR,
                       help="the work directory of `sparrow-tfx run`; its metadata.sqlite is read (default: .work)")
    where.add_argument("--metadata", help="path of an ML Metadata SQLite store (overrides --work-dir)")


def metadata_path(args) -> str:
    path = args.metadata or configs.LocalPaths(os.path.abspath(args.work_dir)).metadata_path
    if not os.path.isfile(path):
        raise SystemExit(f"error: no ML Metadata store at {path}: run `sparrow-tfx run` first, "
                         f"or pass --metadata PATH / --work-dir DIR")
    try:
        metadata.connect(path)
    except RuntimeError as error:  # ML Metadata's error for a file that is not its SQLite store
        raise SystemExit(f"error: {path} is not an ML Metadata store ({str(error).split(' query:')[0]})") from None
    return path


def load_runs(args) -> list:
    """Every run of the pipeline in the chosen store, oldest first."""
    return metadata.runs(metadata_path(args), configs.PIPELINE_NAME)
