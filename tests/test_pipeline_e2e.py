"""The whole pipeline, for real: BeamDagRunner, SQLite ML Metadata, TFMA, a pushed SavedModel scored."""
import csv
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from models import features, signatures
from recommender import serving_dir
from tests.conftest import E2E_MIN_AUC, run_cli, shared_data

pytestmark = pytest.mark.e2e
CORE_NODES = {"StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform", "Trainer", "ServingBaseline",
              "Evaluator", "CatalogueEvaluator", "Pusher"}


def _example(row: dict) -> bytes:
    """A serialized tf.Example from a sample CSV row, as a client would send it (empty cells left out)."""
    feature = {}
    for column in features.COLUMNS:
        value = row.get(column.name, "")
        if value == "" or column.name in (features.LABEL_KEY, features.RATING_KEY):
            continue
        if column.kind == "string":
            feature[column.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif column.kind == "int":
            feature[column.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(value))]))
        else:
            feature[column.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _eval_rows(data_root: str, count: int) -> list:
    with open(os.path.join(data_root, "eval", "samples.csv"), newline="") as f:
        return [row for _, row in zip(range(count), csv.DictReader(f))]


def test_every_component_ran_and_recorded_its_artifacts(e2e_run):
    record = e2e_run.record()
    assert CORE_NODES <= set(record.nodes)
    for node in record.nodes.values():
        assert node.state == "COMPLETE", f"{node.node_id} is {node.state}"
        for key, artifacts in node.outputs.items():
            for artifact in artifacts:
                assert tf.io.gfile.exists(artifact.uri), f"{node.node_id}.{key} missing at {artifact.uri}"


def test_model_is_blessed_and_pushed(e2e_run):
    assert "blessed: yes" in e2e_run.stdout
    auc = float(e2e_run.stdout.split("eval ROC AUC ")[1].split()[0])
    assert auc > E2E_MIN_AUC
    assert len(serving_dir.versions(e2e_run.paths.serving_dir)) == 1


@pytest.fixture(scope="module")
def pushed_model(e2e_run):
    return tf.saved_model.load(serving_dir.latest_version_dir(e2e_run.paths.serving_dir))


def test_pushed_model_scores_examples_including_unseen_ids(e2e_run, pushed_model):
    rows = _eval_rows(e2e_run.data_root, 50)
    unseen = dict(rows[0], userId="987654321", movieId="987654321", movieGenre2="", userAvgRating="")
    scores = pushed_model.signatures[signatures.SERVING_SIGNATURE](
        examples=tf.constant([_example(r) for r in rows + [unseen]]))[signatures.PROBABILITY_KEY].numpy()
    assert scores.shape == (51, 1)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert np.std(scores) > 1e-3, "the model scores every example the same"


def test_feature_tensor_signature_agrees_with_the_example_signature(e2e_run, pushed_model):
    rows = _eval_rows(e2e_run.data_root, 20)
    from_examples = pushed_model.signatures[signatures.SERVING_SIGNATURE](
        examples=tf.constant([_example(r) for r in rows]))[signatures.PROBABILITY_KEY].numpy()
    request = {}
    for spec_name, spec in pushed_model.signatures[signatures.FEATURES_SIGNATURE].structured_input_signature[1].items():
        column = features.COLUMNS_BY_NAME[spec_name]
        values = [r.get(spec_name, "") for r in rows]  # the features that know time are not CSV columns
        if column.kind == "string":
            request[spec_name] = tf.constant(values)
        else:
            request[spec_name] = tf.constant([float(v) if v else np.nan for v in values], spec.dtype) \
                if spec.dtype.is_floating else tf.constant([int(float(v)) for v in values], spec.dtype)
    served_features = pushed_model.signatures[signatures.FEATURES_SIGNATURE]
    from_features = served_features(**request)[signatures.PROBABILITY_KEY].numpy()
    np.testing.assert_allclose(from_features, from_examples, atol=1e-5)


def test_rerun_with_nothing_changed_trains_nothing_and_pushes_nothing(e2e_run, e2e_rerun):
    """What serves changed (e2e_run pushed), so the baseline is re-read and both gates re-run against it, and the
    data gate measures drift against its statistics; nothing else runs."""
    states = {n.node_id: n.state for n in e2e_rerun.record().nodes.values()}
    gate = {"ExampleValidator", "ServingBaseline", "Evaluator", "CatalogueEvaluator", "Pusher"}
    assert {n: s for n, s in states.items() if n not in gate} == {n: "CACHED" for n in states if n not in gate}
    assert {n: states[n] for n in gate} == {n: "COMPLETE" for n in gate}
    [served] = serving_dir.versions(e2e_run.paths.serving_dir)  # e2e_run's push; the rerun added none
    assert f"serving version {served}" in e2e_rerun.stdout  # the baseline: the model e2e_run pushed
    assert "drift: nothing serves yet, no training statistics to compare with" in e2e_run.stdout
    assert re.search(rf"^drift vs serving version {served}: none above thresholds \(\d+ features\)$",
                     e2e_rerun.stdout, re.M), e2e_rerun.stdout  # the same data as the version's
    assert "blessed: yes" in e2e_rerun.stdout
    assert "(already serving, not pushed again)" in e2e_rerun.stdout, e2e_rerun.stdout


@pytest.mark.shared_data
@pytest.mark.slow
def test_pipeline_on_the_sparrowrecsys_split(tmp_path):
    data = shared_data("sparrowrecsys", "split")
    result = run_cli("run", "--data", data, "--work-dir", str(tmp_path), "--min-auc", "0.7")
    assert "blessed: yes" in result.stdout
    auc = float(result.stdout.split("eval ROC AUC ")[1].split()[0])
    assert auc > 0.72, result.stdout
