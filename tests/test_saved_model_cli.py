"""The pushed version as TensorFlow's own `saved_model_cli` sees it (what TensorFlow Serving loads): the `serve`
tag, the signatures with their inputs and outputs, both serving signatures run by the tool itself, and the
`recommend` signature run by it to `recommend`'s top 10 on the trained model."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models import features, signatures
from recommender import export, serve, serving_dir, snapshot
from tests.serving_data import eval_examples

pytestmark = pytest.mark.e2e
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
SAMPLES = 8


def saved_model_cli(*args: str) -> str:
    result = subprocess.run([SAVED_MODEL_CLI, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"saved_model_cli {' '.join(args)}:\n{result.stderr[-4000:]}"
    return result.stdout


def parse_show_all(text: str) -> dict:
    """signature name -> {"inputs": {name: (dtype, shape)}, "outputs": {...}, "method": str}."""
    found = {}
    for block in re.split(r"\nsignature_def\['", text)[1:]:
        name = block.split("'", 1)[0]
        parts = {"inputs": {}, "outputs": {}}
        for kind, key, dtype, shape in re.findall(
                r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: ([^\n]+)", block):
            parts[kind][key] = (dtype, shape.strip())
        parts["method"] = re.search(r"Method name is: ([^\n]*)", block).group(1).strip()
        found[name] = parts
    return found


def expected_feature_dtype(name: str) -> str:
    column = features.COLUMNS_BY_NAME[name]
    if column.kind == "string":
        return "DT_STRING"
    if column.kind == "float":
        return "DT_FLOAT"
    return "DT_INT64" if column.required else "DT_DOUBLE"  # an optional integer may be NaN: missing


@pytest.fixture(scope="module")
def version_dir(e2e_run) -> str:
    return serving_dir.latest_version_dir(e2e_run.paths.serving_dir)


def test_show_all_lists_the_serving_signatures(version_dir):
    text = saved_model_cli("show", "--all", "--dir", version_dir)
    assert "MetaGraphDef with tag-set: 'serve'" in text
    listed = parse_show_all(text)
    probability = {signatures.PROBABILITY_KEY: ("DT_FLOAT", "(-1, 1)")}
    assert listed[signatures.SERVING_SIGNATURE] == {
        "inputs": {"examples": ("DT_STRING", "(-1)")}, "outputs": probability,
        "method": "tensorflow/serving/predict"}
    assert listed[signatures.FEATURES_SIGNATURE] == {
        "inputs": {name: (expected_feature_dtype(name), "(-1)") for name in features.MODEL_FEATURE_KEYS},
        "outputs": probability, "method": "tensorflow/serving/predict"}
    assert signatures.TRANSFORM_SIGNATURE in listed
    scalar = "unknown_rank"
    top = {export.MOVIE_IDS: ("DT_INT64", "(-1)"), export.SCORES: ("DT_DOUBLE", "(-1)"),
           export.PATH: ("DT_STRING", "()")}
    assert listed[export.SIGNATURE] == {
        "inputs": {export.USER_ID: ("DT_INT64", scalar), export.K: ("DT_INT32", scalar)}, "outputs": top,
        "method": "tensorflow/serving/predict"}
    assert listed[export.CANDIDATES_SIGNATURE] == {
        "inputs": {export.USER_ID: ("DT_INT64", scalar), export.K: ("DT_INT32", scalar),
                   export.CANDIDATES: ("DT_INT64", "(-1)")}, "outputs": top, "method": "tensorflow/serving/predict"}


def test_saved_model_cli_runs_both_signatures_to_the_pipelines_scores(e2e_run, version_dir, tmp_path):
    examples = eval_examples(e2e_run, SAMPLES)
    expected = tf.saved_model.load(version_dir).signatures[signatures.SERVING_SIGNATURE](
        examples=tf.constant([record for record, _ in examples]))[signatures.PROBABILITY_KEY].numpy()

    # serving_default from tf.Examples with the model's features only: no label, rating or rating time.
    requests = [{name: [sample[name]] for name in features.MODEL_FEATURE_KEYS if sample[name] is not None}
                for _, sample in examples]
    saved_model_cli("run", "--dir", version_dir, "--tag_set", "serve", "--signature_def",
                    signatures.SERVING_SIGNATURE, "--input_examples", f"examples={requests!r}",
                    "--outdir", str(tmp_path / "examples"))
    np.testing.assert_allclose(np.load(tmp_path / "examples" / "probability.npy"), expected, atol=1e-6)

    # serve_features from one tensor per feature, missing values as "" and NaN.
    served = serve.load_newest(e2e_run.paths.serving_dir)
    request = serve.feature_request([sample for _, sample in examples], served.signature)
    np.savez(tmp_path / "request.npz", **{name: tensor.numpy() for name, tensor in request.items()})
    inputs = ";".join(f"{name}={tmp_path / 'request.npz'}[{name}]" for name in request)
    saved_model_cli("run", "--dir", version_dir, "--tag_set", "serve", "--signature_def",
                    signatures.FEATURES_SIGNATURE, "--inputs", inputs, "--outdir", str(tmp_path / "features"))
    np.testing.assert_allclose(np.load(tmp_path / "features" / "probability.npy"), expected, atol=1e-6)


def test_saved_model_cli_runs_recommend_to_recommends_top_10(e2e_run, version_dir):
    served = serve.load_newest(e2e_run.paths.serving_dir)
    users = {user[features.USER_KEY]: len(user[snapshot.RATED]) for user in snapshot.users(served.snapshot_dir)}
    heavy = max(users, key=lambda user: (users[user], user))
    for user in (heavy, 987654321):
        out = saved_model_cli("run", "--dir", version_dir, "--tag_set", "serve", "--signature_def", export.SIGNATURE,
                              "--input_exprs", f"user_id={user};k=10")
        print(out)
        expected = serve.recommend(served, user, top=10)
        ids = re.search(r"Result for output key movie_ids:\n\[([^\]]*)\]", out).group(1).split()
        assert [int(i) for i in ids] == [item.movie_id for item in expected.items], out
        loaded = served.model.signatures[export.SIGNATURE](user_id=tf.constant(user, tf.int64), k=tf.constant(10))
        np.testing.assert_allclose(loaded[export.SCORES].numpy(), [item.score for item in expected.items], atol=1e-5)
