"""The whole local pipeline with its pipeline root and serving directory on S3, while a reader polls the serving
directory; then `runs`, `lineage` and `report` on that run. Prints one JSON line.

Run as `python -m tests.object_store_run S3_ROOT WORK_DIR` with the S3 environment of tests.conftest.s3_server
(ML Metadata and the input data stay in WORK_DIR: SQLite needs a local file).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sys
import threading

from compat import file_systems
from pipeline import configs
from pipeline.cli import main
from pipeline.runners import local
from recommender import serving_dir
from tests import serving_dir_probe

DATA_SIZE = 2000  # ratings: the smallest data SampleGen makes both splits of
TRAIN_STEPS = 10


@dataclasses.dataclass(frozen=True)
class ObjectStorePaths(configs.LocalPaths):
    """Pipeline root and serving directory under store_root; metadata and data in the local work dir."""
    store_root: str = ""

    @property
    def pipeline_root(self) -> str:
        return f"{self.store_root}/pipeline_root"

    @property
    def serving_dir(self) -> str:
        return f"{self.store_root}/serving"


def cli_output(*args: str) -> dict:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main.main(list(args))
    return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()[-2000:]}


def run(store_root: str, work_dir: str) -> dict:
    from pipeline.datasets import synthetic

    paths = ObjectStorePaths(work_dir, store_root)
    file_systems.register_for(store_root)
    data = synthetic.ensure_generated(paths.data_dir, DATA_SIZE, configs.DEFAULT_DATA_SEED)
    seen = dict.fromkeys(("polls", "uncommitted_version_prefixes", "committed_seen", "incomplete_loads"), 0)
    done = threading.Event()

    def poll():
        while not done.wait(0.2):
            serving_dir_probe.check(paths.serving_dir, seen)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        record = local.run(configs.Settings(data_root=os.path.join(data, "raw"), min_auc=0.0,
                                            max_auc_regression=1.0, train_steps=TRAIN_STEPS), paths)
    finally:
        done.set()
        reader.join()
    pushed = record.node("Pusher").output("pushed_model")
    version = pushed.custom_properties["pushed_version"].string_value
    report_path = os.path.join(work_dir, "report.html")
    return {
        "run_id": record.run_id,
        "states": {node: node_record.state for node, node_record in record.nodes.items()},
        "uris": {node: [a.uri for artifacts in r.outputs.values() for a in artifacts][:1]
                 for node, r in record.nodes.items()},
        "pushed_version": version,
        "versions": serving_dir.versions(paths.serving_dir),
        "seen": seen,
        "runs": cli_output("runs", "--work-dir", work_dir),
        "lineage": cli_output("lineage", version, "--work-dir", work_dir),
        "report": cli_output("report", "--run", record.run_id, "--work-dir", work_dir, "--output", report_path),
        "report_bytes": os.path.getsize(report_path) if os.path.exists(report_path) else 0,
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2])), flush=True)
    file_systems.leave(0)
