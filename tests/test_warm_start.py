"""Warm start on real parts: a tiny model trained and exported by the Trainer's run_fn, published to a serving
directory, then a second run on data whose vocabularies added and dropped ids starts from it (real tf.Transform
output both times)."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

from compat.keras import keras
from models import features, model, trainer, warm_start
from recommender import serving_dir
from tests.helpers.transform import raw_row, transform_rows

HPARAMS = model.HParams(batch_size=32, max_epochs=2, early_stopping_patience=0, hidden_units=(16, 8))
# The first run's ids and the second's: users 1-9 and movies 1-4 leave, users 31-36 and movies 21-24 arrive.
FIRST, SECOND = (range(1, 31), range(1, 21)), (range(10, 37), range(5, 25))
GENRES = (b"Drama", b"Comedy")


def _transform(tmp_path_factory, users, movies, seed):
    """(train file pattern, TFTransformOutput) of six ratings per user, movies drawn from the range."""
    rng = np.random.default_rng(seed)
    rows = []
    for second, user in enumerate(list(users) * 6):
        row = raw_row(user, int(rng.choice(movies)), label=int(rng.random() < 0.5))
        row.update(timestamp=[1000 + second], movieGenre1=[GENRES[second % 2]])
        rows.append(row)
    return transform_rows(rows, tmp_path_factory)


def _train(tmp_path, data, hparams=HPARAMS, **config):
    """The Trainer's run_fn on data, as TFX calls it: the training summary and the exported model's directory."""
    files, tft_output = data
    fn_args = FnArgs(train_files=files, transform_output=os.path.dirname(tft_output.transform_savedmodel_dir),
                     serving_model_dir=str(tmp_path / "serving_model"), model_run_dir=str(tmp_path / "model_run"),
                     train_steps=None,
                     custom_config={**dataclasses.asdict(hparams), trainer.CODE_VERSION_KEY: "test", **config})
    summary = trainer.train(fn_args)
    with open(tmp_path / "model_run" / "training_summary.json") as f:
        assert json.load(f) == json.loads(json.dumps(summary))
    return summary, fn_args.serving_model_dir


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the first run's published version directory, the second run's data)."""
    first = _transform(tmp_path_factory, *FIRST, seed=1)
    summary, exported = _train(tmp_path_factory.mktemp("first_run"), first)
    assert summary["warm_start"] is None  # off unless the pipeline names a source
    version = serving_dir.publish(exported, str(tmp_path_factory.mktemp("serving")))
    return version, _transform(tmp_path_factory, *SECOND, seed=2)


def _built(data, hparams=HPARAMS):
    """The model as the Trainer builds it, before training."""
    keras.utils.set_random_seed(hparams.seed)
    return model.build_model(model.vocabulary_sizes(data[1]), hparams), data[1]


def _variables(model_dir):
    """An exported model's weights by name (e.g. "mlp_0/kernel"), read back independently of warm_start."""
    loaded = tf.saved_model.load(model_dir)  # held while reading: the signature's variables belong to it
    return {v.name.split(":")[0]: v.numpy() for v in loaded.signatures[warm_start.FEATURES_SIGNATURE].variables}


def _vocabulary(path):
    with open(path, "rb") as f:
        return [line.rstrip(b"\n") for line in f]


@pytest.mark.slow  # trains
def test_shared_ids_keep_their_served_rows_and_new_ids_start_as_built(served):
    version, second = served
    old_weights = _variables(version)
    fresh, tft_output = _built(second)
    warmed, _ = _built(second)
    result = warm_start.initialise(warmed, version, tft_output)

    assert result.warm and result.source == version and not result.reason
    for name in (features.USER_KEY, features.MOVIE_KEY):
        old_tokens = _vocabulary(f"{version}/assets/{name}")
        new_tokens = tft_output.vocabulary_by_name(name)
        shared = set(old_tokens) & set(new_tokens)
        assert result.vocabularies[name] == {"shared": len(shared), "new": len(new_tokens) - len(shared),
                                             "dropped": len(old_tokens) - len(shared)}
        assert len(shared) and len(new_tokens) > len(shared) and len(old_tokens) > len(shared)
        rows = warmed.get_layer(f"{name}_embedding").get_weights()[0]
        fresh_rows = fresh.get_layer(f"{name}_embedding").get_weights()[0]
        served_rows = old_weights[f"{name}_embedding/embeddings"]
        # Vocabularies are ordered by frequency: the row moves with its id.
        assert any(old_tokens.index(t) != new_tokens.index(t) for t in shared)
        for j, token in enumerate(new_tokens):
            expected = served_rows[old_tokens.index(token)] if token in shared else fresh_rows[j]
            np.testing.assert_array_equal(rows[j], expected, err_msg=f"{name} {token}")
        oov = features.CATEGORICAL_FEATURES[[f.name for f in features.CATEGORICAL_FEATURES].index(name)].oov_buckets
        np.testing.assert_array_equal(rows[len(new_tokens):], fresh_rows[len(new_tokens):])  # OOV buckets too
        assert len(rows) == len(new_tokens) + oov
    for layer in ("mlp_0", "mlp_1", model.LIKE_OUTPUT):
        for weight, name in zip(warmed.get_layer(layer).get_weights(), ("kernel", "bias")):
            np.testing.assert_array_equal(weight, old_weights[f"{layer}/{name}"])


@pytest.mark.slow  # trains
def test_a_warm_started_run_trains_from_the_served_version_and_is_deterministic(served, tmp_path):
    version, second = served
    first, exported = _train(tmp_path / "a", second, **{warm_start.WARM_START_KEY: version})
    again, exported_again = _train(tmp_path / "b", second, **{warm_start.WARM_START_KEY: version})
    assert first["warm_start"]["warm"] and first["warm_start"]["source"] == version
    assert _metrics(first) == _metrics(again)
    weights, weights_again = _variables(exported), _variables(exported_again)
    assert weights.keys() == weights_again.keys()
    for name, value in weights.items():
        np.testing.assert_array_equal(value, weights_again[name], err_msg=name)
    cold, _ = _train(tmp_path / "c", second)
    assert _metrics(cold) != _metrics(first)  # and not where a cold run goes


def _metrics(summary):
    """Each epoch's training metrics, without its timing."""
    return [{k: v for k, v in epoch.items() if k not in ("seconds", "examples_per_second")}
            for epoch in summary["epochs"]]


@pytest.mark.slow  # trains
def test_nothing_serving_starts_cold_and_says_so(served, tmp_path):
    _, second = served
    summary, _ = _train(tmp_path, second, **{warm_start.WARM_START_KEY: ""})
    assert summary["warm_start"] == {"warm": False, "source": None, "reason": "nothing serves yet",
                                     "vocabularies": {}}
    missing = str(tmp_path / "serving" / "17")
    built, tft_output = _built(second)
    assert warm_start.initialise(built, missing, tft_output).reason == f"no SavedModel in {missing}"


@pytest.mark.slow  # trains
@pytest.mark.parametrize("change, reason", [
    ({"hidden_units": (16, 4)}, "mlp_1/kernel is (16, 8) served and (16, 4) in this run"),
    ({"hidden_units": (16,)}, "score/kernel is (8, 1) served and (16, 1) in this run"),
    ({"embedding_dim": 4}, "movieId_embedding/embeddings is 10 wide served and 4 in this run"),
])
def test_a_model_of_another_shape_starts_cold_with_the_reason(served, change, reason):
    version, second = served
    hparams = dataclasses.replace(HPARAMS, **change)
    built, tft_output = _built(second, hparams)
    before = [w.copy() for w in built.get_weights()]
    result = warm_start.initialise(built, version, tft_output)
    assert not result.warm and result.reason == f"the served model does not fit: {reason}"
    for a, b in zip(before, built.get_weights()):  # nothing copied: all or nothing
        np.testing.assert_array_equal(a, b)


def test_the_pipeline_names_the_serving_version_in_the_trainers_config():
    from pipeline import configs
    from pipeline import pipeline as pipeline_lib
    from pipeline.cli import main
    from pipeline.cli.commands import arguments

    config = pipeline_lib.warm_start_config
    assert config(False, "/s", "17:abc", False) == {}
    assert config(True, "/s", "17:abc", False) == {warm_start.WARM_START_KEY: "/s/17"}
    assert config(True, "gs://b/s/", "17:abc", False) == {warm_start.WARM_START_KEY: "gs://b/s/17"}
    assert config(True, "/s", "", False) == {warm_start.WARM_START_KEY: ""}
    with pytest.raises(ValueError, match="compiled spec"):
        config(True, "/s", "", True)
    built = pipeline_lib.create_pipeline(configs.Settings(warm_start=True), pipeline_root="/tmp/unused",
                                         schema_path="/tmp/unused.pbtxt", serving_dir="/srv", serving_state="5:ab")
    [node] = [c for c in built.components if c.id == "Trainer"]
    assert json.loads(node.exec_properties["custom_config"])[warm_start.WARM_START_KEY] == "/srv/5"
    args = main.build_parser().parse_args(["run", "--warm-start"])
    assert arguments.settings(args, "data", None).warm_start
    assert not arguments.settings(main.build_parser().parse_args(["run"]), "data", None).warm_start
