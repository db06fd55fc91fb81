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


@pytest.fixture(scope="module")
def world():
    return synthetic.generate_world(24000, seed=42)


def test_no_rating_before_its_movie_is_released(world):
    users, movies, _, times = world.ratings.columns()
    release_year = np.array([world.movies[m].release_year for m in movies.tolist()])
    assert (release_year <= synthetic._year_of(times)).all()
    assert len(set(zip(users.tolist(), movies.tolist()))) == len(users)  # a movie rated once per user


def test_new_movies_are_rated_most_soon_after_release(world):
    """Shifting popularity: the movies released in the data's time range get fewer ratings with every two years of
    age (the hype, then the fade; the release year is a part year, so years go in pairs)."""
    _, movies, _, times = world.ratings.columns()
    release_year = np.array([world.movies[m].release_year for m in movies.tolist()])
    age_years = synthetic._year_of(times) - release_year
    new = (release_year >= 2000) & (release_year <= 2008)  # six years of life or more inside the data
    per_two_years = np.bincount(age_years[new] // 2, minlength=3)[:3]
    assert per_two_years[0] > 1.15 * per_two_years[1] > 1.15 ** 2 * per_two_years[2]


def test_taste_shapes_what_is_rated_beyond_popularity(world):
    """Users rate movies that match their taste: EASE over their past beats the most-rated list on their next
    half year, pooled over yearly cuts (the co-rating structure the latent taste puts in, which real data has;
    docs/data-and-validation.md, "The generated world")."""
    from recommender import future

    ratings = future.Ratings(*world.ratings.columns())
    parts = []
    for year in (2011, 2012, 2013, 2014):
        cut = synthetic._year_start(np.array([year]))[0]
        period = future.FuturePeriod.of(ratings, cut, cut + 180 * future.DAY)
        rankers = {"most_rated": future.popularity(period)["most_rated"], "ease": future.ease(period, lam=500.0)}
        parts.append(future.per_user(period, rankers, groups=(future.KNOWN,)))
    pooled = future.pool(parts)[future.KNOWN].figures
    assert np.mean(pooled["ease"]["recall@10"]) > 1.1 * np.mean(pooled["most_rated"]["recall@10"])
