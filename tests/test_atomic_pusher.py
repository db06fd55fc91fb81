"""AtomicPusher's executor on a small real SavedModel: the snapshot travels inside the version, a model and
snapshot already serving are not pushed again, new features alone make a new version, a snapshot in a format this
code does not read is never published and a served one is replaced."""
from __future__ import annotations

import os
import re

import pytest
import tensorflow as tf
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.atomic_pusher import executor, spec
from recommender import serving_dir, snapshot
from tests.helpers.pushes import feature_snapshot, saved_model
from tests.helpers.snapshots import set_format_version

pytestmark = pytest.mark.slow  # imports TensorFlow and TFX


def push(model, blessed: int, feature_snapshot_artifact, base_dir: str, out: str) -> standard_artifacts.PushedModel:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = out
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_dir))
    executor.Executor().Do(
        {spec.MODEL_KEY: [model], spec.MODEL_BLESSING_KEY: [blessing],
         spec.FEATURE_SNAPSHOT_KEY: [feature_snapshot_artifact]},
        {spec.PUSHED_MODEL_KEY: [pushed]},
        {spec.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
    return pushed


def test_model_and_snapshot_are_one_version_and_are_not_pushed_twice(tmp_path):
    base = str(tmp_path / "serving")
    model = saved_model(str(tmp_path / "model"))
    first_snapshot = feature_snapshot(str(tmp_path / "snapshot-1"), "Heat (1995)")

    pushed = push(model, 1, first_snapshot, base, str(tmp_path / "pushed-1"))
    version = serving_dir.latest_version_dir(base)
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == version
    assert os.listdir(base) == [os.path.basename(version)]  # no staging directory left
    assert tf.saved_model.load(version).score(tf.constant([1.5])).numpy().tolist() == [3.0]
    served_snapshot = os.path.join(version, serving_dir.FEATURE_SNAPSHOT_DIR)
    assert snapshot.load_movies(served_snapshot)[1][snapshot.TITLE] == "Heat (1995)"

    again = push(model, 1, first_snapshot, base, str(tmp_path / "pushed-2"))
    assert again.get_int_custom_property("pushed") == 0
    assert again.get_string_custom_property(spec.ALREADY_SERVED_PROPERTY) == version
    assert serving_dir.versions(base) == [int(os.path.basename(version))]

    newer = push(model, 1, feature_snapshot(str(tmp_path / "snapshot-2"), "Heat (1995) [new]"), base,
                 str(tmp_path / "pushed-3"))
    assert newer.get_int_custom_property("pushed") == 1 and len(serving_dir.versions(base)) == 2
    latest = os.path.join(serving_dir.latest_version_dir(base), serving_dir.FEATURE_SNAPSHOT_DIR)
    assert snapshot.load_movies(latest)[1][snapshot.TITLE] == "Heat (1995) [new]"


def test_a_model_not_blessed_is_not_pushed(tmp_path):
    base = str(tmp_path / "serving")
    pushed = push(saved_model(str(tmp_path / "model")), 0, feature_snapshot(str(tmp_path / "snapshot"), "Heat"),
                  base, str(tmp_path / "pushed"))
    assert pushed.get_int_custom_property("pushed") == 0
    assert serving_dir.versions(base) == []


@pytest.mark.parametrize("version", [None, 999], ids=["no format_version", "format_version 999"])
def test_a_snapshot_in_a_format_this_code_does_not_read_is_not_pushed(tmp_path, version):
    base = str(tmp_path / "serving")
    unreadable = feature_snapshot(str(tmp_path / "snapshot"), "Heat (1995)")
    set_format_version(unreadable.uri, version)
    found = "no format_version" if version is None else "format_version 999"
    with pytest.raises(snapshot.SnapshotFormatError, match=re.escape(f"feature snapshot {unreadable.uri} has {found}")):
        push(saved_model(str(tmp_path / "model")), 1, unreadable, base, str(tmp_path / "pushed"))
    assert serving_dir.versions(base) == [] and not os.path.exists(base)


def test_a_served_snapshot_in_a_format_this_code_does_not_read_is_replaced_by_the_next_push(tmp_path):
    """The fix the error names: the same model pushed again with a snapshot of the current format."""
    base = str(tmp_path / "serving")
    model, current = saved_model(str(tmp_path / "model")), feature_snapshot(str(tmp_path / "snapshot"), "Heat")
    first = push(model, 1, current, base, str(tmp_path / "pushed-1")).get_string_custom_property("pushed_destination")
    served_snapshot = os.path.join(first, serving_dir.FEATURE_SNAPSHOT_DIR)
    set_format_version(served_snapshot, None)  # as a version pushed before snapshots had a format version
    with pytest.raises(snapshot.SnapshotFormatError):
        snapshot.load_manifest(served_snapshot)
    again = push(model, 1, current, base, str(tmp_path / "pushed-2"))
    assert again.get_int_custom_property("pushed") == 1 and len(serving_dir.versions(base)) == 2
    latest = os.path.join(serving_dir.latest_version_dir(base), serving_dir.FEATURE_SNAPSHOT_DIR)
    assert snapshot.load_manifest(latest)[snapshot.FORMAT_VERSION_KEY] == snapshot.FORMAT_VERSION
