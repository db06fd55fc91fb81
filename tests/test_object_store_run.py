"""The whole local pipeline on S3 (moto's server on loopback): pipeline root and serving directory there, a reader
polling the serving directory never finds an incomplete version, and `runs`, `lineage` and `report` read the run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.e2e
@pytest.mark.slow
def test_the_pipeline_runs_on_s3_and_serves_only_complete_versions(s3_server, tmp_path):
    # In a child process: tensorflow-io's S3 client aborts the interpreter's normal exit (file_systems.leave).
    result = subprocess.run([sys.executable, "-m", "tests.object_store_run", f"{s3_server.bucket}/sparrow",
                             str(tmp_path / "work")], cwd=REPO_ROOT, env={**os.environ, **s3_server.environment},
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-6000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    print({key: outcome[key] for key in ("run_id", "states", "uris", "pushed_version", "versions", "seen")})
    assert set(outcome["states"].values()) == {"COMPLETE"}
    assert all(uris[0].startswith(s3_server.bucket) for uris in outcome["uris"].values() if uris)
    assert outcome["versions"] == [int(outcome["pushed_version"])]
    seen = outcome["seen"]
    assert seen["committed_seen"] > 0 and seen["incomplete_loads"] == 0, seen
    for command in ("runs", "lineage", "report"):
        assert outcome[command]["exit"] == 0, (command, outcome[command])
    assert outcome["run_id"] in outcome["runs"]["stdout"]
    assert outcome["pushed_version"] in outcome["lineage"]["stdout"] and "s3://" in outcome["lineage"]["stdout"]
    assert outcome["report_bytes"] > 0
