"""Publishing a serving version: a reader polling the serving directory only ever finds complete versions, a failed
push leaves nothing it would load, and the next push cleans up; on a local file system and on S3 (moto's S3 server
on loopback, through TensorFlow's s3:// file system from tensorflow-io)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # imports TensorFlow


def assert_safe(result: dict) -> None:
    seen = result["seen"]
    assert seen["committed_seen"] > 0 and seen["incomplete_loads"] == 0, seen
    assert result["failure"] and result["versions_after_failure"] == result["published"]
    assert result["listing_after_cleaning"] == result["published"]  # the failed pushes' files are gone
    assert result["score"] == 64 * 64


def test_local_publish_is_one_rename_and_a_failed_push_is_cleaned(tmp_path):
    from recommender import serving_dir
    from tests import serving_dir_probe

    base = str(tmp_path / "serving")
    result = serving_dir_probe.publish_while_polling(base, str(tmp_path))
    print(result)
    assert_safe(result)
    assert result["seen"]["uncommitted_version_prefixes"] == 0  # a local version appears whole
    leftovers = [n for n in result["listing_after_failure"] if n not in result["published"]]
    assert sorted(result["cleaned"]) == sorted(leftovers) and len(leftovers) == 1
    assert leftovers[0].startswith(serving_dir.STAGING_PREFIX)


def test_the_next_push_removes_only_old_leftovers(tmp_path):
    from recommender import serving_dir
    from tests import serving_dir_probe

    base, model = str(tmp_path / "serving"), serving_dir_probe.small_saved_model(str(tmp_path / "model"))
    first = serving_dir.publish(model, base)
    old_leftover, fresh_leftover = tmp_path / "serving" / ".staging-old", tmp_path / "serving" / ".staging-fresh"
    for leftover in (old_leftover, fresh_leftover):
        serving_dir.copy_tree(model, str(leftover))  # a failed push's files, no commit marker
    hours_ago = time.time() - 2 * serving_dir.LEFTOVER_AGE_SECONDS
    for root, _, files in os.walk(old_leftover):
        for name in files:
            os.utime(os.path.join(root, name), (hours_ago, hours_ago))
    assert serving_dir.versions(base) == [int(os.path.basename(first))]
    second = serving_dir.publish(model, base)
    assert sorted(os.listdir(base)) == sorted([os.path.basename(first), ".staging-fresh", os.path.basename(second)])


def test_a_local_version_pushed_before_commit_markers_stays_served(tmp_path):
    """An upgrade must not unserve, nor let the next push delete, what an earlier release pushed."""
    from recommender import serving_dir
    from tests import serving_dir_probe

    base, model = str(tmp_path / "serving"), serving_dir_probe.small_saved_model(str(tmp_path / "model"))
    legacy = os.path.join(base, "1700000000")
    serving_dir.copy_tree(model, legacy)  # as the earlier release's rename left it: no marker
    hours_ago = time.time() - 2 * serving_dir.LEFTOVER_AGE_SECONDS
    for root, _, files in os.walk(legacy):
        for name in files:
            os.utime(os.path.join(root, name), (hours_ago, hours_ago))
    assert serving_dir.latest_version_dir(base) == legacy
    newer = serving_dir.publish(model, base)
    assert serving_dir.versions(base) == [1700000000, int(os.path.basename(newer))]
    assert os.path.exists(os.path.join(legacy, serving_dir.SAVED_MODEL_FILE))


def test_s3_publish_commits_with_a_marker_written_last(s3_server, tmp_path):
    # In a child process: tensorflow-io's S3 file system aborts the process that used it at exit.
    result = subprocess.run([sys.executable, "-m", "tests.serving_dir_probe", f"{s3_server.bucket}/models/sparrow",
                             str(tmp_path)], cwd=REPO_ROOT, env={**os.environ, **s3_server.environment},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    print(outcome)
    assert_safe(outcome)  # seen["uncommitted_version_prefixes"]: polls that caught a copy in progress, skipped
