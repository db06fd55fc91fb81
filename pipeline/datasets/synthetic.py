"""The embedded default dataset: a small deterministic latent world written as MovieLens files and samples.

Users have genre tastes, a rating bias and an activity level; movies have genres, a release year, popularity
and quality. A rating is quality + bias + taste match + noise, rounded to MovieLens' half stars. Samples are
then built with the same point-in-time feature code as real data, so aggregates are consistent with ratings.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from typing import Dict, Iterator, List, Sequence, Tuple, Union

import numpy as np

from dataio import raw_rows
from models import features, sample_features
from pipeline.cli.progress import Step, no_step

_START = 946684800  # 2000-01-01
_END = 1420070400  # 2015-01-01
_GENRE_POPULARITY = np.array([8, 5, 2, 2, 9, 4, 1, 10, 2, 1, 3, 1, 1, 2, 5, 3, 5, 1, 1], dtype=float)


class RatingTable(Sequence[sample_features.Rating]):
    """Ratings as numpy columns, read as Ratings: a million of them take 28 MB here, ~200 MB as objects."""

    def __init__(self, user_id: np.ndarray, movie_id: np.ndarray, rating: np.ndarray, timestamp: np.ndarray):
        self._columns = (user_id, movie_id, rating, timestamp)

    def __len__(self) -> int:
        return len(self._columns[0])

    def __getitem__(self, index: Union[int, slice]):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        user_id, movie_id, rating, timestamp = (column[index] for column in self._columns)
        return sample_features.Rating(int(user_id), int(movie_id), float(rating), int(timestamp))

    def __add__(self, more: Sequence[sample_features.Rating]) -> List[sample_features.Rating]:
        return [*self, *more]  # as a list of them would

    def __iter__(self) -> Iterator[sample_features.Rating]:
        for user_id, movie_id, rating, timestamp in zip(*(column.tolist() for column in self._columns)):
            yield sample_features.Rating(user_id, movie_id, rating, timestamp)


@dataclasses.dataclass(frozen=True)
class World:
    movies: Dict[int, sample_features.Movie]
    titles: Dict[int, str]
    ratings: Sequence[sample_features.Rating]


def _sizes(num_ratings: int) -> Tuple[int, int]:
    """Users and movies for a number of ratings, about MovieLens' ratios (140 ratings a user, 15 a movie)."""
    num_users = max(20, num_ratings // 40)
    num_movies = max(50, min(num_ratings // 15, 60000))
    return num_users, num_movies


def generate_world(num_ratings: int = 24000, seed: int = 42) -> World:
    rng = np.random.default_rng(seed)
    num_users, num_movies = _sizes(num_ratings)
    num_genres = len(features.GENRES)

    # Movies: 1-3 genres, a release year skewed recent, Zipf-like popularity, a latent quality.
    genre_p = _GENRE_POPULARITY / _GENRE_POPULARITY.sum()
    movie_genres = []
    for _ in range(num_movies):
        k = rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25])
        movie_genres.append(rng.choice(num_genres, size=k, replace=False, p=genre_p))
    release_year = np.clip(np.round(2012 - rng.gamma(2.0, 9.0, num_movies)), 1920, 2014).astype(int)
    popularity = 1.0 / np.arange(1, num_movies + 1) ** 0.9
    popularity = rng.permutation(popularity)
    quality = rng.normal(0.0, 0.45, num_movies) + 0.15 * np.log(popularity / popularity.mean())
    genre_matrix = np.zeros((num_movies, num_genres))
    for m, g in enumerate(movie_genres):
        genre_matrix[m, g] = 1.0 / len(g)

    # Users: a taste over genres (a few liked, some disliked), a bias, an activity level.
    taste = rng.normal(0.0, 0.5, (num_users, num_genres))
    liked = rng.choice(num_genres, size=(num_users, 3), p=genre_p)
    np.put_along_axis(taste, liked, 1.2, axis=1)
    bias = rng.normal(0.0, 0.4, num_users)
    activity = rng.lognormal(0.0, 1.0, num_users)
    per_user = np.maximum(3, np.round(activity / activity.sum() * num_ratings)).astype(int)
    per_user = np.minimum(per_user, num_movies // 2)

    columns: Tuple[List[np.ndarray], ...] = ([], [], [], [])  # userId, movieId, rating, timestamp per user
    for u in range(num_users):
        # Users pick popular movies and movies matching their taste.
        affinity = genre_matrix @ taste[u]
        weights = popularity * np.exp(affinity)
        chosen = rng.choice(num_movies, size=per_user[u], replace=False, p=weights / weights.sum())
        start = rng.integers(_START, _END - 86400 * 30)
        end = min(_END, start + int(rng.exponential(86400 * 400)) + 86400)
        times = np.sort(rng.integers(start, end, size=len(chosen)))
        raw = 3.2 + quality[chosen] + bias[u] + 0.8 * affinity[chosen] + rng.normal(0, 0.7, len(chosen))
        stars = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
        for column, values in zip(columns, (np.full(len(chosen), u + 1), chosen + 1, stars, times)):
            column.append(values)

    movies = {}
    titles = {}
    for m in range(num_movies):
        movie_id = m + 1
        movies[movie_id] = sample_features.Movie(
            movie_id, int(release_year[m]), tuple(features.GENRES[g] for g in movie_genres[m]))
        titles[movie_id] = f"Synthetic Movie {movie_id} ({release_year[m]})"
    user_id, movie_id, rating, timestamp = (np.concatenate(column) for column in columns)
    order = np.lexsort((movie_id, user_id, timestamp))  # by time, then user, then movie
    return World(movies, titles, RatingTable(user_id[order], movie_id[order], rating[order], timestamp[order]))


def write_movielens(world: World, out_dir: str, span_days: int = 0) -> None:
    """ratings.csv and movies.csv in MovieLens' format; with span_days, the ratings as span files instead
    (`write_spans`)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, raw_rows.MOVIES_FILE), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(raw_rows.MOVIES_HEADER)
        for movie_id, movie in sorted(world.movies.items()):
            writer.writerow([movie_id, world.titles[movie_id], "|".join(movie.genres)])
    if span_days:
        write_spans(world.ratings, out_dir, span_days)
        return
    write_ratings(world.ratings, os.path.join(out_dir, raw_rows.RATINGS_FILE))


def write_ratings(ratings: Sequence[sample_features.Rating], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(raw_rows.RATINGS_HEADER)
        for r in ratings:
            writer.writerow([r.user_id, r.movie_id, r.rating, r.timestamp])


def write_spans(ratings: Sequence[sample_features.Rating], out_dir: str, days: int) -> List[str]:
    """The ratings as span files ratings-0001.csv, ratings-0002.csv, ... (TFX's {SPAN}), span k holding the
    ratings of the k-th `days` days from the first rating's UTC midnight; a period without ratings is a span
    of the header alone, so the spans have no gap. Returns the files' paths, oldest first."""
    first_day = min(r.timestamp for r in ratings) // 86400 * 86400
    by_span: Dict[int, List[sample_features.Rating]] = {}
    for r in ratings:
        by_span.setdefault((r.timestamp - first_day) // (days * 86400) + 1, []).append(r)
    width = max(4, len(str(max(by_span))))
    paths = []
    for span in range(1, max(by_span) + 1):
        paths.append(os.path.join(out_dir, f"ratings-{span:0{width}d}.csv"))
        write_ratings(by_span.get(span, []), paths[-1])
    return paths


def time_cutoff(world: World, eval_fraction: float) -> int:
    """The timestamp before which (1 - eval_fraction) of the ratings fall."""
    times = np.array([r.timestamp for r in world.ratings])
    return int(np.quantile(times, 1.0 - eval_fraction))


def write_samples(world: World, out_dir: str, eval_fraction: float = 0.2) -> Dict[str, int]:
    """Point-in-time samples split by time: `train/samples.csv` before the cutoff, `eval/samples.csv` after."""
    cutoff = time_cutoff(world, eval_fraction)
    counts = {"train": 0, "eval": 0}
    files = {}
    writers = {}
    try:
        for split in counts:
            os.makedirs(os.path.join(out_dir, split), exist_ok=True)
            files[split] = open(os.path.join(out_dir, split, "samples.csv"), "w", newline="")
            writers[split] = csv.writer(files[split])
            writers[split].writerow(features.COLUMN_NAMES)
        for row in sorted(sample_features.build_samples(world.ratings, world.movies),
                          key=lambda s: (s[features.TIME_KEY], s[features.USER_KEY], s[features.MOVIE_KEY])):
            split = "eval" if row[features.TIME_KEY] >= cutoff else "train"
            writers[split].writerow(
                [sample_features.format_cell(c, row[c.name]) for c in features.COLUMNS])
            counts[split] += 1
    finally:
        for f in files.values():
            f.close()
    return counts


GENERATE_STEPS = ("ratings", "MovieLens files", "samples")


def generate(out_dir: str, num_ratings: int = 24000, seed: int = 42, step: Step = no_step, span_days: int = 0
             ) -> Dict[str, int]:
    """Writes `raw/` (MovieLens files, the default run's input through SampleGen; with span_days, the ratings as
    span files of that many days) and `samples/{train,eval}` (the same point-in-time samples built in memory, in
    the sample CSV format) under out_dir; returns sample counts. step: reports each of GENERATE_STEPS."""
    ratings, files, samples = GENERATE_STEPS
    with step(ratings):
        world = generate_world(num_ratings, seed)
    with step(files):
        write_movielens(world, os.path.join(out_dir, "raw"), span_days)
    with step(samples):
        return write_samples(world, os.path.join(out_dir, "samples"))


def ensure_generated(parent_dir: str, num_ratings: int, seed: int) -> str:
    """The dataset for (num_ratings, seed) under parent_dir, generated once; returns its directory.

    Files are never rewritten once complete: unchanged files keep ExampleGen's input fingerprint, so re-runs
    are served from cache.
    """
    out_dir = os.path.join(parent_dir, f"synthetic-{num_ratings}-seed{seed}")
    marker = os.path.join(out_dir, ".complete")
    if not os.path.exists(marker):
        write_movielens(generate_world(num_ratings, seed), os.path.join(out_dir, "raw"))
        open(marker, "w").close()
    return out_dir
