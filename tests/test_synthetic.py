"""The embedded dataset: deterministic, aggregates consistent with its ratings, and learnable."""
import csv
import hashlib
import os

import numpy as np
import pytest

from models import features, sample_features
from pipeline.datasets import synthetic


def _digest(directory: str) -> str:
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                digest.update(name.encode() + f.read())
    return digest.hexdigest()


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    synthetic.generate(str(tmp_path / "a"), 3000, seed=7)
    synthetic.generate(str(tmp_path / "b"), 3000, seed=7)
    synthetic.generate(str(tmp_path / "c"), 3000, seed=8)
    assert _digest(str(tmp_path / "a")) == _digest(str(tmp_path / "b"))
    assert _digest(str(tmp_path / "a")) != _digest(str(tmp_path / "c"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    counts = synthetic.generate(str(out), 4000, seed=3)
    return out, counts


def test_sample_files_have_the_sample_format(generated):
    out, counts = generated
    for split in ("train", "eval"):
        with open(out / "samples" / split / "samples.csv") as f:
            assert next(csv.reader(f)) == list(features.COLUMN_NAMES)
    assert counts["train"] > 3 * counts["eval"] > 0


def test_time_split_puts_every_eval_sample_after_every_train_sample(generated):
    out, _ = generated
    train = _read(out / "samples" / "train" / "samples.csv")
    evaluation = _read(out / "samples" / "eval" / "samples.csv")
    assert max(int(r["timestamp"]) for r in train) < min(int(r["timestamp"]) for r in evaluation)


def test_aggregates_agree_with_the_raw_ratings_before_each_sample(generated):
    out, _ = generated
    ratings = _read(out / "raw" / "ratings.csv")
    samples = _read(out / "samples" / "train" / "samples.csv")
    for sample in samples[::97]:
        user, movie, ts = sample["userId"], sample["movieId"], int(sample["timestamp"])
        movie_before = [float(r["rating"]) for r in ratings if r["movieId"] == movie and int(r["timestamp"]) < ts]
        user_before = [float(r["rating"]) for r in ratings if r["userId"] == user and int(r["timestamp"]) < ts]
        assert int(sample["movieRatingCount"]) == len(movie_before)
        if movie_before:
            assert float(sample["movieAvgRating"]) == pytest.approx(np.mean(movie_before), abs=0.006)
        assert int(sample["userRatingCount"]) == min(len(user_before), sample_features.USER_WINDOW)
        assert float(sample["userAvgRating"]) == pytest.approx(
            np.mean(user_before[-sample_features.USER_WINDOW:]), abs=0.006)
        assert sample["label"] == str(int(float(sample["rating"]) >= features.POSITIVE_RATING))


def test_genres_are_movielens_genres_and_ids_are_known(generated):
    out, _ = generated
    movies = {r["movieId"]: r for r in _read(out / "raw" / "movies.csv")}
    samples = _read(out / "samples" / "eval" / "samples.csv")
    for sample in samples:
        assert sample["movieId"] in movies
        genres = [sample[f"movieGenre{i}"] for i in range(1, 4) if sample[f"movieGenre{i}"]]
        assert genres == movies[sample["movieId"]]["genres"].split("|")[:3]
        assert set(genres) <= set(features.GENRES)


def test_ratings_carry_a_learnable_signal(generated):
    """A user's past average and the movie's past average predict the label: the world is not noise."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    out, _ = generated
    cols = ["userAvgRating", "movieAvgRating"]

    def xy(split):
        rows = [r for r in _read(out / "samples" / split / "samples.csv") if all(r[c] for c in cols)]
        return np.array([[float(r[c]) for c in cols] for r in rows]), np.array([int(r["label"]) for r in rows])

    x_train, y_train = xy("train")
    x_eval, y_eval = xy("eval")
    model = LogisticRegression().fit(x_train, y_train)
    assert roc_auc_score(y_eval, model.predict_proba(x_eval)[:, 1]) > 0.65
