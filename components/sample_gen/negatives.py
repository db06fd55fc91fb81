"""Sampled negatives, point in time: for a rating (user u, time t), movies u had not rated up to t.

A draw travels through SampleGen's two shuffles as a Rating with no rating (NaN): by movie, where it gets the
movie's aggregates over the ratings strictly before t, then by user, where it is dropped if u rated the movie at or
before t (or it falls in eval), and gets u's features as of t. Nothing rated after t is read. The movies drawn for
a rating depend only on (seed, u, the rated movie, t) and the movie table, so sharding and runners do not change
them.
"""
from __future__ import annotations

import bisect
import datetime
import hashlib
import math
import random
import struct
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from models import features, sample_features

_SEED = struct.Struct("<qqqq")
_KEEP_PERSON = b"keep"  # the keep draw's hash is not the movie draws' one


def draw_rating(user_id: int, movie_id: int, timestamp: int) -> sample_features.Rating:
    return sample_features.Rating(user_id, movie_id, math.nan, timestamp)


def is_draw(rating: sample_features.Rating) -> bool:
    return math.isnan(rating.rating)


def _year(timestamp: int) -> int:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).year


class Catalogue:
    """The movie table in release order: the movies out by a time are a prefix (an unknown year counts as out)."""

    def __init__(self, movies: Mapping[int, sample_features.Movie]):
        ordered = sorted((m.release_year or 0, m.movie_id) for m in movies.values())
        self._years = [year for year, _ in ordered]
        self._ids = [movie_id for _, movie_id in ordered]

    def draws(self, rating: sample_features.Rating, count: int, seed: int) -> List[int]:
        """`count` movies drawn uniformly, with replacement, among those released by the rating's year."""
        released = bisect.bisect_right(self._years, _year(rating.timestamp))
        if not released:
            return []
        digest = hashlib.blake2b(_SEED.pack(seed, rating.user_id, rating.movie_id, rating.timestamp),
                                 digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "little"))
        return [self._ids[rng.randrange(released)] for _ in range(count)]


class AsOf:
    """Features as of any time from a history's snapshots: `snapshots` are (time, features over what came strictly
    before that time) in time order, `after_all` the features over the whole history."""

    def __init__(self, snapshots: Iterable[Tuple[int, dict]], after_all: dict):
        pairs = sorted(snapshots, key=lambda pair: pair[0])
        self._times = [t for t, _ in pairs]
        self._features = [f for _, f in pairs]
        self._after_all = after_all

    def __call__(self, timestamp: int) -> dict:
        """The features over what came strictly before `timestamp`: those of the first snapshot at or after it."""
        i = bisect.bisect_left(self._times, timestamp)
        return self._features[i] if i < len(self._features) else self._after_all


def kept_by_popularity(draw: sample_features.Rating, rating_count: int, cap: int, seed: int) -> bool:
    """Whether a draw of a movie rated `rating_count` times before it stays: with probability
    min(cap, rating_count + 1) / cap, by a hash of (seed, the draw), so reruns and shards keep the same ones."""
    digest = hashlib.blake2b(_SEED.pack(seed, draw.user_id, draw.movie_id, draw.timestamp), digest_size=8,
                             person=_KEEP_PERSON).digest()
    return int.from_bytes(digest, "little") * cap < min(cap, rating_count + 1) * 2 ** 64


def movie_parts(ratings: Sequence[sample_features.Rating], snapshots: Mapping[Tuple[int, int, int], dict],
                all_time: dict, draws: Iterable[sample_features.Rating], leaky: bool, popularity_cap: int = 0,
                seed: int = 0) -> Iterable[Tuple[sample_features.Rating, dict]]:
    """Each draw of one movie with the movie's aggregates as of the draw's time (all-time ones in leaky mode) and
    its time features at the draw's time; with a popularity cap, only the draws `kept_by_popularity` by the movie's
    rating count as of then."""
    as_of = AsOf(((r.timestamp, snapshots[r.key]) for r in ratings), all_time)
    times = sorted(r.timestamp for r in ratings)
    for draw in draws:
        # A snapshot is of the movie's next rating, at or after the draw: its time features are of that time.
        movie_part = {**(all_time if leaky else as_of(draw.timestamp)),
                      **sample_features.movie_time_features(times, draw.timestamp)}
        if not popularity_cap or kept_by_popularity(draw, movie_part[features.MOVIE_RATING_COUNT_KEY],
                                                    popularity_cap, seed):
            yield draw, movie_part


def user_samples(ratings: Sequence[sample_features.Rating], user_parts: Mapping[Tuple[int, int, int], dict],
                 draws: Iterable[Tuple[sample_features.Rating, dict]], movies: Mapping[int, sample_features.Movie],
                 train_before: Optional[int]) -> List[dict]:
    """One user's negative samples, by key: the draws at a time before `train_before` (None: no train time left)
    of a movie the user had not rated at or before that time, once each, with the user's features as of then."""
    first_rated: Dict[int, int] = {}
    for r in ratings:
        first_rated[r.movie_id] = min(r.timestamp, first_rated.get(r.movie_id, r.timestamp))
    window = sample_features.chronological(ratings)[-sample_features.USER_WINDOW:]
    as_of = AsOf(((r.timestamp, user_parts[r.key]) for r in ratings),
                 sample_features.user_aggregates(window, movies))
    times = sorted(r.timestamp for r in ratings)
    samples = {}
    for draw, movie_part in draws:
        if train_before is None or draw.timestamp >= train_before or draw.key in samples:
            continue
        if first_rated.get(draw.movie_id, draw.timestamp + 1) <= draw.timestamp:
            continue
        earlier = bisect.bisect_left(times, draw.timestamp)
        user_part = {**as_of(draw.timestamp), **sample_features.user_time_features(
            times[earlier - 1] if earlier else None, draw.timestamp)}
        sample = sample_features.assemble_sample(draw, movies[draw.movie_id], user_part, movie_part)
        sample.update({features.RATING_KEY: None, features.LABEL_KEY: 0, features.RATED_KEY: 0})
        samples[draw.key] = sample
    return [samples[key] for key in sorted(samples)]
