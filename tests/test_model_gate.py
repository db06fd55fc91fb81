"""The model gate: a bad candidate never reaches serving, a push is never seen half done, and the pushed model
answers requests with ids it never saw and optional features missing. A candidate that loses to the most-rated
list: tests/test_baseline_cache.py (its run with a cached Trainer)."""
from __future__ import annotations

import os
import random
import re
import shutil
import threading

import pytest

from models import features
from pipeline import configs
from pipeline.report import metadata
from tests import bad_data
from tests.conftest import E2E_MIN_AUC, run_cli


def _served_versions(base_dir: str):
    """Version directories as TensorFlow Serving lists them: every integer-named child, complete or not."""
    return sorted(name for name in os.listdir(base_dir) if name.isdigit()) if os.path.isdir(base_dir) else []


@pytest.mark.e2e
@pytest.mark.slow
def test_candidate_trained_on_shuffled_labels_is_not_blessed_and_serving_is_untouched(e2e_run, tmp_path):
    work_dir, data_root = str(tmp_path / "work"), str(tmp_path / "shuffled")
    serving_dir = configs.LocalPaths(work_dir).serving_dir
    shutil.copytree(e2e_run.paths.serving_dir, serving_dir)
    shutil.copytree(e2e_run.data_root, data_root)

    def shuffle_labels(header, rows):
        column = header.index(features.LABEL_KEY)
        labels = [row[column] for row in rows]
        random.Random(7).shuffle(labels)
        return header, [row[:column] + [label] + row[column + 1:] for row, label in zip(rows, labels)]

    bad_data.mutate_file(os.path.join(data_root, "train", "samples.csv"), shuffle_labels)  # eval keeps true labels
    served_version = _served_versions(serving_dir)[-1]
    before = bad_data.tree_digest(serving_dir)

    result = run_cli("run", "--data", data_root, "--work-dir", work_dir, "--min-auc", str(E2E_MIN_AUC), check=False)
    print(result.stdout)
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert "blessed: no" in result.stdout
    assert f"serving version {served_version}" in result.stdout  # compared with the model serving now
    assert re.search(rf"auc = 0\.\d+ is below the minimum {E2E_MIN_AUC:.4f}", result.stdout), result.stdout
    assert re.search(r"auc changed by -0\.\d+ against the baseline", result.stdout), result.stdout
    assert "serving model: unchanged (nothing pushed)" in result.stdout
    assert bad_data.tree_digest(serving_dir) == before
    for split in ("train", "eval"):  # record accounting of the CSV path
        assert re.search(rf"{split}\s+(\d+) rows read = \1 examples written \+ 0 rejected: ok", result.stdout)


def _model_and_blessing(e2e_run):
    """The e2e run's trained model and a positive blessing, as the Pusher's input artifacts."""
    from tfx.types import standard_artifacts

    trainer = metadata.runs(e2e_run.paths.metadata_path, configs.PIPELINE_NAME)[0].node("Trainer")
    model = standard_artifacts.Model()
    model.set_mlmd_artifact(trainer.output("model"))
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", 1)
    return model, blessing


class _PollingReader(threading.Thread):
    """A model server's view: polls base_dir and loads every new version the moment its directory appears."""

    def __init__(self, base_dir: str):
        super().__init__(daemon=True)
        self.base_dir = base_dir
        self.stop = threading.Event()
        self.loaded, self.failures = [], []

    def run(self):
        while True:
            stopping = self.stop.is_set()  # read first: one more look after the push has finished
            self._load_new_versions()
            if stopping:
                return

    def _load_new_versions(self):
        import tensorflow as tf

        tried = set(self.loaded) | {version for version, _ in self.failures}
        for version in _served_versions(self.base_dir):
            if version in tried:
                continue
            try:
                tf.saved_model.load(os.path.join(self.base_dir, version))
                self.loaded.append(version)
            except Exception as error:  # a partial model: what serving must never see
                self.failures.append((version, repr(error)[:300]))


@pytest.mark.e2e
def test_a_reader_polling_during_a_push_only_ever_loads_complete_models(e2e_run, tmp_path):
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.atomic_pusher import executor as atomic_pusher

    model, blessing = _model_and_blessing(e2e_run)
    base_dir = str(tmp_path / "serving")
    os.makedirs(base_dir)
    reader = _PollingReader(base_dir)
    reader.start()
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_dir))
    atomic_pusher.Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
                                {"push_destination": proto_utils.proto_to_json(destination)})
    reader.stop.set()
    reader.join(timeout=120)

    assert reader.failures == []
    assert reader.loaded == _served_versions(base_dir) and len(reader.loaded) == 1
    assert pushed.get_int_custom_property("pushed") == 1
    assert os.listdir(base_dir) == reader.loaded  # no staging directory left behind


def _example(values: dict) -> bytes:
    import tensorflow as tf

    feature = {}
    for name, value in values.items():
        kind = features.COLUMNS_BY_NAME[name].kind
        if kind == "int":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        elif kind == "float":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.mark.e2e
def test_pushed_model_scores_unseen_ids_and_missing_optional_features(e2e_run):
    import numpy as np
    import tensorflow as tf

    from models import signatures
    from recommender import serving_dir

    model = tf.saved_model.load(serving_dir.latest_version_dir(e2e_run.paths.serving_dir))
    required = {"movieId": 10**8, "userId": 10**8 + 1, "timestamp": 1_500_000_000, "movieGenre1": "Drama"}
    full = {**required, "releaseYear": 1999, "movieGenre2": "Sci-Fi", "movieRatingCount": 12, "movieAvgRating": 3.9,
            "movieRatingStddev": 0.8, "userRatedMovie1": 10**8 + 2, "userRatingCount": 3, "userAvgRating": 4.1,
            "userRatingStddev": 0.5, "userGenre1": "Comedy"}
    requests = [
        _example(full),  # every id unseen in training
        _example(required),  # every optional feature missing
        _example({**required, "userGenre1": "Cyberpunk"}),  # a genre outside the vocabulary
    ]
    scores = model.signatures[signatures.SERVING_SIGNATURE](examples=tf.constant(requests))[signatures.PROBABILITY_KEY]
    scores = np.asarray(scores).reshape(-1)
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores)) and np.all((scores > 0) & (scores < 1)), scores
