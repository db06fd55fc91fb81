"""AtomicPusher executor: publish model, feature snapshot and serving policy in one commit; never push what already
serves.

A re-run of an unchanged pipeline re-blesses the same model; pushing it again would only add a duplicate
version. It is the same release when the model's fingerprint, the snapshot's digest and the serving policy all
match. The snapshot is optional: without one the model is published alone (the pipeline always gives one). A
snapshot in a format this code does not read is never published: the push stops with snapshot.SnapshotFormatError.
The serving policy (a first-run fallback, recommender/serving_policy.py) comes from the CatalogueEvaluator's
artifact where it wrote one and is published as the version's `serving_policy.json`, inside the same commit.
A model with the `serve_features` signature pushed with a snapshot is published with the `recommend` signatures
(recommender/export.py): saved again, in a local temporary directory, with the snapshot and the policy as tables,
its own signatures as they were; then staged and committed like any version. Such a version records the trained
model's fingerprint (its own differs), which tells the same model already serving; a version of that model
pushed without the signatures (before them) is pushed again, with them.
The training split's statistics (StatisticsGen's, where the Pusher has them) are published inside the version as
serving_dir.TRAINING_STATISTICS_FILE, in the same commit: the next run's DataGate measures drift against them.
They do not make a release of their own: the same model, snapshot and policy already serving is not pushed again.
"""
import logging
import os
import tempfile
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.components.statistics_gen import executor as statistics_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils, proto_utils

from components.atomic_pusher import spec
from recommender import export, serving_dir, serving_policy, snapshot


def _served_digest(version_dir: str) -> Optional[str]:
    """The digest of the snapshot a served version holds; None when it holds none this code reads (none at all, or
    one in another format): then it is not the snapshot being pushed, which replaces it."""
    try:
        return snapshot.load_manifest(os.path.join(version_dir, serving_dir.FEATURE_SNAPSHOT_DIR))[snapshot.DIGEST]
    except (FileNotFoundError, snapshot.SnapshotFormatError):
        return None


def _served_policy(version_dir: str) -> Optional[dict]:
    """The serving policy a served version holds; None without one (or one this code does not read)."""
    try:
        policy = serving_policy.load(version_dir)
    except serving_policy.PolicyFormatError:
        return None
    return policy.to_dict() if policy else None


def exports_recommend(model_path: str, digest: Optional[str]) -> bool:
    """Whether the push of this model (and a snapshot of this digest; None: none) adds the `recommend` signatures."""
    return digest is not None and export.has_features_signature(model_path)


def is_serving(model_path: str, digest: Optional[str], version_dir: str, policy: Optional[dict] = None) -> bool:
    """Whether version_dir serves the model at model_path with the snapshot of this digest (None: no snapshot) and
    this serving policy (ServingPolicy.to_dict(); None: none), with the `recommend` signatures where a push now adds
    them."""
    fingerprint = serving_dir.model_fingerprint(model_path)
    return bool(fingerprint) and export.source_fingerprint(version_dir) == fingerprint and \
        export.exported_by_this_code(version_dir) == exports_recommend(model_path, digest) and \
        _served_digest(version_dir) == digest and _served_policy(version_dir) == policy


def training_statistics(input_dict: Dict[str, List[types.Artifact]]) -> Optional[str]:
    """The file of the training split's statistics among the Pusher's inputs; None without a statistics input."""
    statistics = input_dict.get(spec.STATISTICS_KEY)
    if not statistics:
        return None
    path = os.path.join(artifact_utils.get_split_uri(statistics, spec.STATISTICS_SPLIT),
                        statistics_executor.DEFAULT_FILE_NAME)
    if not tf.io.gfile.exists(path):
        logging.warning("No training statistics at %s: the version is pushed without them (the next run's drift "
                        "check will say so).", path)
        return None
    return path


class Executor(tfx_pusher.Executor):
    """TFX's Pusher executor for the blessing check and the `pushed*` properties; the push is ours."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model_push = artifact_utils.get_single_instance(output_dict[spec.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        snapshots = input_dict.get(spec.FEATURE_SNAPSHOT_KEY)
        snapshot_dir = artifact_utils.get_single_instance(snapshots).uri if snapshots else None
        # Read before anything is published: raises SnapshotFormatError for a format this code does not read.
        digest = snapshot.load_manifest(snapshot_dir)[snapshot.DIGEST] if snapshot_dir else None
        evaluations = input_dict.get(spec.CATALOGUE_EVALUATION_KEY)
        evaluation_dir = artifact_utils.get_single_instance(evaluations).uri if evaluations else None
        policy = serving_policy.load(evaluation_dir) if evaluation_dir else None
        destination = proto_utils.json_to_proto(exec_properties[spec.PUSH_DESTINATION_KEY],
                                                 pusher_pb2.PushDestination())
        base_dir = destination.filesystem.base_directory
        latest = serving_dir.latest_version_dir(base_dir)
        if latest and is_serving(model_path, digest, latest, policy.to_dict() if policy else None):
            logging.info("Model %s and its features are already served as %s; not pushing again.", model_path, latest)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(spec.ALREADY_SERVED_PROPERTY, latest)
            return
        with tempfile.TemporaryDirectory(prefix="sparrow-export-") as local:
            source, exported = model_path, {}
            if exports_recommend(model_path, digest):
                source = os.path.join(local, "model")
                exported = export.export(model_path, snapshot_dir, policy, source)
                logging.info("Added the recommend signatures in %.1f s: %s", exported["seconds"], exported["paths"])
            files = {serving_policy.POLICY_FILE: serving_policy.path_of(evaluation_dir)} if policy else {}
            statistics_file = training_statistics(input_dict)
            if statistics_file:
                files[serving_dir.TRAINING_STATISTICS_FILE] = statistics_file
            target = serving_dir.publish(
                source, base_dir, {serving_dir.FEATURE_SNAPSHOT_DIR: snapshot_dir} if snapshot_dir else {}, files)
        io_utils.copy_dir(target, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=target, pushed_version=os.path.basename(target))
        model_push.set_string_custom_property(spec.SERVING_POLICY_PROPERTY, policy.summary() if policy else "")
        model_push.set_string_custom_property(spec.RECOMMEND_PROPERTY, export.summary(exported) if exported else "")
        logging.info("Model and feature snapshot pushed to %s%s.", target,
                     f", with the serving policy: {policy.summary()}" if policy else "")
