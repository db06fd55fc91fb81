"""The embedded default dataset: a deterministic latent world, in time, written as MovieLens files and samples.

Movies have 1-3 genres, a base popularity (lognormal, POPULARITY_SIGMA), a quality, LATENT_DIMS latent coordinates
and a release time: BACK_CATALOGUE of them were released before the data starts (years 1920-1999, skewed recent),
the rest arrive steadily through [2000, 2015). movieIds follow release (MovieLens numbers movies as it adds them);
`releaseYear` is the release's year. Users have genre tastes (three liked genres), a latent vector, a rating bias,
an activity level (lognormal: how many ratings) and an active window (a uniform start, an exponential length of
ACTIVE_DAYS on average). No rating falls before its movie's release or outside its user's window.

Time. A movie's pull at age a (since release; 0 before) is its base popularity x (0.35 + 2.0 exp(-a / 60 days) +
0.75 exp(-a / 3 years)) (FLOOR, PULL_DECAYS): a hype in the first months, a fade over years, then the floor. Fitted to
ml-latest-small-2015: the rate of a movie's ratings by age since its first rating (not counting that day; each
month's ratings weighted by 1 / that month's volume), relative to months 6-12, was 2.0-2.5 in the first month,
1.5-1.8 in months 1-3, 1.2-1.6 in months 3-6, 0.75 in year 2, 0.58 in year 4, 0.4-0.5 in years 5-8; the fit gives
2.6, 1.8, 1.2, 0.80, 0.58, 0.42. What follows, as there: the share of each year's ratings that go to the back
catalogue falls from 84% (2000) to 33% (2014) (ml-latest-small-2015, movies older than its data: 72% to 25-35%), and
12-24% go to movies of that year or the year before (there 7-19%). POPULARITY_SIGMA (1.5) gives its concentration
at its size (100k ratings): the top 1% of the rated movies take 17% of the ratings (there 16%), the top half 91%
(94%).

Taste, in what is rated and in the stars. A user's match with a movie is the genre affinity (the movie's genres,
weighted 1/k, dotted with the user's tastes) plus the latent one (user . movie vector). LATENT_SCALE makes the
match's spread about that of the log base popularity: a user picks by taste about as much as by what is popular.
Which movies a user rates: k without replacement, by weight base popularity x exp(match) x the pull's integral over
the user's window (Gumbel-top-k as exponential races: the k largest weight / Exp(1)), so genres and the latent part
give co-rating structure that popularity does not explain, for item-item methods to find. Each rating's time is then
drawn from the movie's pull within the window (closed forms for the exponentials). The stars: 3.5 + quality + user
bias + 0.8 x (match - its mean over the ratings) + noise (sd 0.7), rounded to MovieLens' half stars (mean 3.5 as
there), so whether a user likes what they rate is learnable from the same match.

Samples are then built with the same point-in-time feature code as real data, so aggregates are consistent with
ratings. The baselines on the world's future, before and after it had time and latent taste, and beside
ml-latest-small-2015: docs/data-and-validation.md ("The generated world"; `python -m bench.bench_generated_world`).
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
_DAY = 86400
_GENRE_POPULARITY = np.array([8, 5, 2, 2, 9, 4, 1, 10, 2, 1, 3, 1, 1, 2, 5, 3, 5, 1, 1], dtype=float)
BACK_CATALOGUE = 0.4  # the share of movies released before the data starts
# A movie's pull, x its base popularity: FLOOR + the sum of amplitude x exp(-age / days) over PULL_DECAYS, from its
# release on (module docstring: fitted to ml-latest-small-2015).
FLOOR = 0.35
PULL_DECAYS = ((2.0, 60.0), (0.75, 1095.0))  # (amplitude, days): the hype of the first months, the fade over years
POPULARITY_SIGMA = 1.5  # sd of a movie's log base popularity
LATENT_DIMS = 8
LATENT_SCALE = 0.7  # sd of a latent coordinate: with the genres', the match's sd is about POPULARITY_SIGMA's
ACTIVE_DAYS = 400  # a user's mean active window
_BLOCK_CELLS = 2_000_000  # users x movies weighed at a time

class RatingTable(Sequence[sample_features.Rating]):
    """Ratings as numpy columns, read as Ratings: a million of them take 28 MB here, ~200 MB as objects."""

    def __init__(self, user_id: np.ndarray, movie_id: np.ndarray, rating: np.ndarray, timestamp: np.ndarray):
        self._columns = (user_id, movie_id, rating, timestamp)

    def __len__(self) -> int:
        return len(self._columns[0])

    def columns(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """userId, movieId (int64), rating (float64), timestamp (int64): future.Ratings' columns."""
        return self._columns

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

    # Movies, numbered in release order.
    genre_p = _GENRE_POPULARITY / _GENRE_POPULARITY.sum()
    genre_count = rng.choice([1, 2, 3], size=num_movies, p=[0.35, 0.4, 0.25])
    genre_order = np.argsort(-(np.log(genre_p) + rng.gumbel(size=(num_movies, num_genres))), axis=1)
    back = rng.random(num_movies) < BACK_CATALOGUE
    old_year = np.clip(np.round(1999 - rng.gamma(2.0, 9.0, num_movies)), 1920, 1999).astype(int)
    old_release = _year_start(old_year) + rng.random(num_movies) * (_year_start(old_year + 1) - _year_start(old_year))
    release = np.where(back, old_release, _START + rng.random(num_movies) * (_END - _START)).astype(np.int64)
    order = np.argsort(release, kind="stable")
    release, genre_count, genre_order = release[order], genre_count[order], genre_order[order]
    movie_genres = [genre_order[m, :genre_count[m]] for m in range(num_movies)]
    release_year = _year_of(release)
    popularity = np.exp(rng.normal(0.0, POPULARITY_SIGMA, num_movies))
    quality = rng.normal(0.0, 0.45, num_movies) + 0.15 * (np.log(popularity) - np.log(popularity).mean())
    genre_matrix = np.zeros((num_movies, num_genres))
    for m, g in enumerate(movie_genres):
        genre_matrix[m, g] = 1.0 / len(g)
    movie_side = np.hstack([genre_matrix, rng.normal(0.0, LATENT_SCALE, (num_movies, LATENT_DIMS))])

    # Users: a taste over genres (a few liked, some disliked), a latent vector, a bias, an activity level, a window.
    taste = rng.normal(0.0, 0.5, (num_users, num_genres))
    liked = rng.choice(num_genres, size=(num_users, 3), p=genre_p)
    np.put_along_axis(taste, liked, 1.2, axis=1)
    user_side = np.hstack([taste, rng.normal(0.0, LATENT_SCALE, (num_users, LATENT_DIMS))])
    bias = rng.normal(0.0, 0.4, num_users)
    activity = rng.lognormal(0.0, 1.0, num_users)
    per_user = np.maximum(3, np.round(activity / activity.sum() * num_ratings)).astype(int)
    per_user = np.minimum(per_user, num_movies // 2)
    start = rng.integers(_START, _END - _DAY * 30, num_users)
    end = np.minimum(_END, start + (rng.exponential(_DAY * ACTIVE_DAYS, num_users)).astype(np.int64) + _DAY)

    # Which movies each user rates: the k largest pull-over-window x exp(match) / Exp(1), a block of users at a time,
    # over the movies released before the block's last window ends (a prefix: movies are in release order).
    log_popularity = np.log(popularity)
    users_by_end = np.argsort(end, kind="stable")
    chosen_users, chosen_movies = [], []
    block = 0
    while block < num_users:
        available = int(np.searchsorted(release, end[users_by_end[min(num_users, block + 64) - 1]]))
        users = users_by_end[block:block + max(1, _BLOCK_CELLS // max(1, available))]
        block += len(users)
        available = int(np.searchsorted(release, end[users].max()))
        pull = sum(_window_pull(start[users][:, None], end[users][:, None], release[None, :available]))
        weight = np.exp(user_side[users] @ movie_side[:available].T + log_popularity[:available]) * pull
        key = weight / rng.standard_exponential(weight.shape)
        count = np.minimum(per_user[users], (pull > 0).sum(axis=1))
        most = int(count.max())
        top = np.argpartition(-key, most - 1, axis=1)[:, :most]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(key, top, axis=1), axis=1, kind="stable"), 1)
        for row, user in enumerate(users.tolist()):
            chosen_users.append(np.full(count[row], user))
            chosen_movies.append(top[row, :count[row]])
    user = np.concatenate(chosen_users)
    movie = np.concatenate(chosen_movies)

    # When: from the movie's pull within the window: one of its parts by its share of the integral, then the time
    # within that part (uniform for the floor, a truncated exponential for a decay).
    first = np.maximum(start[user], release[movie]).astype(np.float64)
    length = (end[user] - first).astype(np.float64)
    parts = np.cumsum(_window_pull(start[user], end[user], release[movie]), axis=0)
    part = (rng.random(len(user)) * parts[-1] >= parts).sum(axis=0)
    uniform = rng.random(len(user))
    offset = uniform * length
    for k, (_, days) in enumerate(PULL_DECAYS, 1):
        tau = days * _DAY
        offset = np.where(part == k, -tau * np.log1p(uniform * np.expm1(-length / tau)), offset)
    times = np.minimum(first + offset, end[user] - 1).astype(np.int64)

    match = np.einsum("ij,ij->i", user_side[user], movie_side[movie])
    # The match centred on its mean over the ratings: users pick movies that match, so taste lifts every rating
    # alike, and the stars keep MovieLens' mean (3.5) whatever the taste's scale.
    raw = 3.5 + quality[movie] + bias[user] + 0.8 * (match - match.mean()) + rng.normal(0, 0.7, len(user))
    stars = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)

    movies = {}
    titles = {}
    for m in range(num_movies):
        movie_id = m + 1
        movies[movie_id] = sample_features.Movie(
            movie_id, int(release_year[m]), tuple(features.GENRES[g] for g in movie_genres[m]))
        titles[movie_id] = f"Synthetic Movie {movie_id} ({release_year[m]})"
    user_id, movie_id = user + 1, movie + 1
    order = np.lexsort((movie_id, user_id, times))  # by time, then user, then movie
    return World(movies, titles, RatingTable(user_id[order], movie_id[order], stars[order], times[order]))


def _window_pull(start: np.ndarray, end: np.ndarray, release: np.ndarray) -> List[np.ndarray]:
    """The integral of a movie's pull (/ its base popularity) over [start, end), in seconds, broadcast over the
    arrays: the floor's part, then each decay's. exp(-(t - release) / tau) is factored as
    exp(-(t - _START) / tau) x exp((release - _START) / tau), so a users x movies block takes outer products only."""
    first = np.maximum(start, release)
    parts = [FLOOR * np.maximum(0, end - first).astype(np.float64)]
    for amplitude, days in PULL_DECAYS:
        tau = days * _DAY
        released = np.exp((release - _START) / tau)
        left = np.minimum(1.0, np.exp(-(start - _START) / tau) * released)  # exp(-(first - release) / tau)
        parts.append(amplitude * tau * np.maximum(0.0, left - np.exp(-(end - _START) / tau) * released))
    return parts


def _year_start(year: np.ndarray) -> np.ndarray:
    """1 January of each year, seconds since 1970 (UTC)."""
    return (np.asarray(year) - 1970).astype("datetime64[Y]").astype("datetime64[s]").astype(np.int64)


def _year_of(timestamp: np.ndarray) -> np.ndarray:
    """Each timestamp's year (UTC)."""
    return np.asarray(timestamp).astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970


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
