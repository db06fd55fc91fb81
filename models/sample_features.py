"""Point-in-time sample features from raw MovieLens ratings, as pure functions.

The same code builds training samples (the synthetic generator, SampleGen's Beam executor) and the serving
feature snapshot, so training and serving cannot drift apart. Every feature of a sample uses only ratings
strictly earlier than the sample's own timestamp (ratings with equal timestamps do not see each other).
The definitions follow SparrowRecSys' FeatureEngForRecModel: user features over the user's last 100 ratings,
user genres from positively rated movies, counts/averages/stddevs with two decimals. The features that know time
(recent rating counts, the movie's age and trend, the user's recency) are relative to the sample's time `at`; the
feature snapshot's are those of a sample one second after its latest rating.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import itertools
import math
import re
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from models import features

USER_WINDOW = 100  # the original's window: rowsBetween(-100, -1)
RATED_MOVIES_KEPT = 5
USER_GENRES_KEPT = 5
MOVIE_GENRES_KEPT = 3
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


@dataclasses.dataclass(frozen=True)
class Rating:
    user_id: int
    movie_id: int
    rating: float
    timestamp: int

    @property
    def key(self) -> Tuple[int, int, int]:
        return (self.user_id, self.movie_id, self.timestamp)

    def astuple(self) -> Tuple[int, int, float, int]:
        """The fields in order; dataclasses.astuple deep-copies them, too slow for once per rating."""
        return (self.user_id, self.movie_id, self.rating, self.timestamp)


@dataclasses.dataclass(frozen=True)
class Movie:
    movie_id: int
    release_year: Optional[int]
    genres: Tuple[str, ...]


def parse_movie(movie_id: int, title: str, genres: str) -> Movie:
    """movies.csv row -> Movie; the release year is the "(YYYY)" at the end of the title."""
    match = _YEAR_IN_TITLE.search(title.strip())
    genre_list = tuple(g for g in genres.split("|") if g and g != "(no genres listed)")
    return Movie(movie_id, int(match.group(1)) if match else None, genre_list)


def is_positive(rating: float) -> bool:
    return rating >= features.POSITIVE_RATING


def _round2(value: float) -> float:
    return float(f"{value:.2f}")


_EXACT = 2 ** 53  # a rating (>= 0.5) or a year times this is an integer, so sums of them are exact


class _Moments:
    """Count, sum and sum of squares of numbers held as exact integers: values can be added and taken out again
    (a sliding window) without rounding drift, and mean and stddev equal those computed over the list."""
    __slots__ = ("count", "total", "squares")

    def __init__(self, values: Iterable[float] = ()):
        self.count = self.total = self.squares = 0
        for value in values:
            self.add(value)

    def add(self, value: float, sign: int = 1) -> None:
        scaled = int(value * _EXACT)
        self.count += sign
        self.total += sign * scaled
        self.squares += sign * scaled * scaled

    def mean(self) -> Optional[float]:
        """math.fsum(values) / n, unrounded."""
        return self.total / _EXACT / self.count if self.count else None

    def mean_std(self) -> Tuple[Optional[float], Optional[float]]:
        """Mean and sample standard deviation (Spark's `stddev`), two decimals; None where undefined."""
        n = self.count
        if n == 0:
            return None, None
        if n == 1:
            return _round2(self.mean()), None
        variance = (n * self.squares - self.total * self.total) / (n * (n - 1) * _EXACT * _EXACT)
        return _round2(self.mean()), _round2(math.sqrt(variance))


def chronological(ratings: Iterable[Rating]) -> List[Rating]:
    """Ratings in time order; equal timestamps by movie, then user, so every consumer agrees on "last"."""
    return sorted(ratings, key=lambda r: (r.timestamp, r.movie_id, r.user_id))


def _same_time_groups(ratings: Iterable[Rating]) -> Iterator[List[Rating]]:
    for _, group in itertools.groupby(chronological(ratings), key=lambda r: r.timestamp):
        yield list(group)


_DAY = 86_400
MOVIE_TIME_KEYS = (*features.MOVIE_RECENT_COUNT_KEYS.values(), features.MOVIE_AGE_KEY, features.MOVIE_TREND_KEY)


def movie_time_features(times: Sequence[int], at: Optional[int]) -> dict:
    """A movie's features that know time for a sample at `at`, from all its rating times in ascending order (later
    ones may be there: only those strictly before `at` count, found by bisection): its ratings in the last 7, 30
    and 90 days, the seconds since its first rating and its trend, the share of its ratings in the last TREND_DAYS.
    Without a time (`at` None) every one is missing."""
    if at is None:
        return dict.fromkeys(MOVIE_TIME_KEYS)
    seen = bisect.bisect_left(times, at)
    out = {key: seen - bisect.bisect_left(times, at - days * _DAY, 0, seen)
           for days, key in features.MOVIE_RECENT_COUNT_KEYS.items()}
    recent = seen - bisect.bisect_left(times, at - features.TREND_DAYS * _DAY, 0, seen)
    out[features.MOVIE_AGE_KEY] = at - times[0] if seen else None
    out[features.MOVIE_TREND_KEY] = _round2(recent / seen) if seen else None
    return out


def user_time_features(last_rated: Optional[int], at: Optional[int]) -> dict:
    """The user's recency for a sample at `at`: seconds since their latest rating before it (None: none, or no
    time)."""
    return {features.USER_RECENCY_KEY: None if last_rated is None or at is None else at - last_rated}


def movie_history_features(ratings: Iterable[Rating]) -> Iterator[Tuple[Tuple[int, int, int], dict]]:
    """For one movie's ratings: (rating key, movie aggregates and time features over strictly earlier ratings)."""
    history = _Moments()
    groups = list(_same_time_groups(ratings))
    times = [r.timestamp for group in groups for r in group]
    for group in groups:
        snapshot = {**_movie_aggregates(history), **movie_time_features(times, group[0].timestamp)}
        for r in group:
            yield r.key, snapshot
        for r in group:
            history.add(r.rating)


def movie_all_time_features(ratings: Iterable[Rating]) -> Iterator[Tuple[Tuple[int, int, int], dict]]:
    """Leaky, for measuring the leak only: every rating gets its movie's aggregates over all its ratings, its own
    and later ones included, as SparrowRecSys' Spark job computes them (the time features stay point in time)."""
    ratings = chronological(ratings)
    times = [r.timestamp for r in ratings]
    aggregates = movie_aggregates([r.rating for r in ratings])
    for r in ratings:
        yield r.key, {**aggregates, **movie_time_features(times, r.timestamp)}


MOVIE_AGGREGATE_KEYS = (features.MOVIE_RATING_COUNT_KEY, features.MOVIE_AVG_RATING_KEY,
                        features.MOVIE_RATING_STDDEV_KEY)


def movie_aggregates(history: Iterable[float]) -> dict:
    return _movie_aggregates(_Moments(history))


def _movie_aggregates(history: _Moments) -> dict:
    return dict(zip(MOVIE_AGGREGATE_KEYS, (history.count, *history.mean_std())))


def user_history_features(ratings: Iterable[Rating], movies: Mapping[int, Movie]
                          ) -> Iterator[Tuple[Tuple[int, int, int], dict]]:
    """For one user's ratings: (rating key, user features over the user's strictly earlier ratings)."""
    window = _UserWindow(movies)
    for group in _same_time_groups(ratings):
        snapshot = window.features(group[0].timestamp)
        for r in group:
            yield r.key, snapshot
        for r in group:
            window.add(r)


def user_aggregates(window: Sequence[Rating], movies: Mapping[int, Movie], at: Optional[int] = None) -> dict:
    """User features from the user's most recent ratings (oldest first, at most USER_WINDOW, all before `at`), for
    a sample at `at` (None: no time, so no recency)."""
    user_window = _UserWindow(movies)
    for r in window:
        user_window.add(r)
    return user_window.features(at)


class _UserWindow:
    """A user's last USER_WINDOW ratings with their running aggregates: each rating is added once and taken out
    once, so a user's features cost the same at every point of a long history."""

    def __init__(self, movies: Mapping[int, Movie]):
        self._movies = movies
        self._ratings: collections.deque = collections.deque()  # (rating, release year or None, liked genres)
        self._stars, self._years = _Moments(), _Moments()
        self._liked_genres: Dict[str, int] = collections.defaultdict(int)

    def add(self, rating: Rating) -> None:
        if len(self._ratings) == USER_WINDOW:
            self._update(*self._ratings.popleft(), sign=-1)
        movie = self._movies.get(rating.movie_id)
        entry = (rating, movie.release_year if movie else None,
                 movie.genres if movie and is_positive(rating.rating) else ())
        self._ratings.append(entry)
        self._update(*entry, sign=1)

    def _update(self, rating: Rating, year: Optional[int], liked_genres: Tuple[str, ...], sign: int) -> None:
        self._stars.add(rating.rating, sign)
        if year is not None:
            self._years.add(year, sign)
        for genre in liked_genres:
            self._liked_genres[genre] += sign

    def features(self, at: Optional[int]) -> dict:
        recent_positive = []
        for rating, _, _ in reversed(self._ratings):
            if is_positive(rating.rating):
                recent_positive.append(rating.movie_id)
                if len(recent_positive) == RATED_MOVIES_KEPT:
                    break
        # Most frequent first; ties broken by name so the order is deterministic.
        top_genres = [g for _, g in sorted((-n, g) for g, n in self._liked_genres.items() if n)][:USER_GENRES_KEPT]
        avg_year = self._years.mean()
        avg_rating, std_rating = self._stars.mean_std()
        out = {
            features.USER_RATING_COUNT_KEY: len(self._ratings),
            features.USER_AVG_RELEASE_YEAR_KEY: None if avg_year is None else round(avg_year),
            features.USER_RELEASE_YEAR_STDDEV_KEY: self._years.mean_std()[1],
            features.USER_AVG_RATING_KEY: avg_rating,
            features.USER_RATING_STDDEV_KEY: std_rating,
        }
        out.update(_numbered(features.USER_RATED_MOVIE_PREFIX, recent_positive, RATED_MOVIES_KEPT))
        out.update(_numbered(features.USER_GENRE_PREFIX, top_genres, USER_GENRES_KEPT))
        out.update(user_time_features(self._ratings[-1][0].timestamp if self._ratings else None, at))
        return out


def movie_static_features(movie: Optional[Movie]) -> dict:
    genres = movie.genres if movie else ()
    out = {features.RELEASE_YEAR_KEY: movie.release_year if movie else None}
    out.update(_numbered(features.MOVIE_GENRE_PREFIX, genres[:MOVIE_GENRES_KEPT], MOVIE_GENRES_KEPT))
    return out


def _numbered(prefix: str, values: Sequence, count: int) -> Dict[str, object]:
    return {f"{prefix}{i + 1}": (values[i] if i < len(values) else None) for i in range(count)}


def assemble_sample(rating: Rating, movie: Optional[Movie], user_part: dict, movie_part: dict) -> dict:
    """One sample row (every column of features.COLUMNS and TIME_COLUMNS; None where missing)."""
    row = {
        features.MOVIE_KEY: rating.movie_id,
        features.USER_KEY: rating.user_id,
        features.RATING_KEY: rating.rating,
        features.TIME_KEY: rating.timestamp,
        features.LABEL_KEY: int(is_positive(rating.rating)),
    }
    row.update(movie_static_features(movie))
    row.update(movie_part)
    row.update(user_part)
    return {name: row.get(name) for name in _SAMPLE_COLUMN_NAMES}


_SAMPLE_COLUMN_NAMES = features.COLUMN_NAMES + features.TIME_COLUMN_NAMES
COLD_START = "cold_start"
_REQUIRED_COLUMNS = tuple(c.name for c in features.COLUMNS if c.required)


def skip_reason(sample: dict, min_user_history: int) -> Optional[str]:
    """Why a sample is not written, or None: its user has fewer than `min_user_history` earlier ratings (cold
    start), or a column the schema requires is missing (a movie without genres has no movieGenre1)."""
    if sample[features.USER_RATING_COUNT_KEY] < min_user_history:
        return COLD_START
    missing = [name for name in _REQUIRED_COLUMNS if sample[name] is None]
    return f"missing_{missing[0]}" if missing else None


def build_samples(ratings: Sequence[Rating], movies: Mapping[int, Movie], min_user_history: int = 1
                  ) -> Iterator[dict]:
    """Point-in-time samples for all ratings, in memory (small data; SampleGen does the same with Beam).

    Samples with a `skip_reason` are left out.
    """
    by_user: Dict[int, List[Rating]] = collections.defaultdict(list)
    by_movie: Dict[int, List[Rating]] = collections.defaultdict(list)
    for r in ratings:
        by_user[r.user_id].append(r)
        by_movie[r.movie_id].append(r)
    movie_parts = {}
    for movie_ratings in by_movie.values():
        movie_parts.update(movie_history_features(movie_ratings))
    for user_ratings in by_user.values():
        by_key = {r.key: r for r in user_ratings}
        for key, user_part in user_history_features(user_ratings, movies):
            rating = by_key[key]
            sample = assemble_sample(rating, movies.get(rating.movie_id), user_part, movie_parts[key])
            if skip_reason(sample, min_user_history) is None:
                yield sample


def format_cell(column: features.Column, value) -> str:
    """CSV cell: empty when missing; floats keep a decimal point so type inference sees FLOAT."""
    if value is None:
        return ""
    if column.kind == "float":
        return repr(round(float(value), 2))
    if column.kind == "int":
        return str(int(value))
    return str(value)
