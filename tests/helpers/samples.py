"""The brute force SampleGen is tested against, written apart from it: every feature of a sample recomputed from
the list of all ratings, one sample at a time."""
from __future__ import annotations

import collections
import statistics
from typing import Dict, List, Optional, Sequence

import numpy as np

from components.sample_gen.config import LEAKY, SampleGenConfig
from models import features, sample_features

Rating, Movie = sample_features.Rating, sample_features.Movie


def sample_key(sample) -> tuple:
    """A sample's identity: (user, movie, rating time)."""
    return sample["userId"], sample["movieId"], sample["timestamp"]


def _mean(values: List[float]) -> Optional[float]:
    return round(statistics.fmean(values), 2) if values else None


def _stdev(values: List[float]) -> Optional[float]:
    return round(statistics.stdev(values), 2) if len(values) > 1 else None


def _numbered(prefix: str, values: list, count: int) -> dict:
    return {f"{prefix}{i + 1}": values[i] if i < len(values) else None for i in range(count)}


def brute_force_sample(r: Rating, ratings: Sequence[Rating], movies: Dict[int, Movie], leaky: bool) -> dict:
    """Rating r's sample: its user's last 100 ratings before it, its movie's ratings before it (all when leaky)."""
    earlier = sorted((x for x in ratings if x.user_id == r.user_id and x.timestamp < r.timestamp),
                     key=lambda x: (x.timestamp, x.movie_id))[-100:]
    movie_ratings = [x.rating for x in ratings if x.movie_id == r.movie_id and (leaky or x.timestamp < r.timestamp)]
    liked = [x for x in earlier if x.rating >= 3.5]
    genre_counts = collections.Counter(g for x in liked for g in movies[x.movie_id].genres)
    years = [movies[x.movie_id].release_year for x in earlier if movies[x.movie_id].release_year]
    movie = movies[r.movie_id]
    # Time features are point in time in leaky mode too: ratings strictly before r, counted by window.
    before = sorted(x.timestamp for x in ratings if x.movie_id == r.movie_id and x.timestamp < r.timestamp)
    in_days = {days: sum(1 for t in before if t >= r.timestamp - days * 86_400) for days in (7, 30, 90)}
    return {
        "movieId": r.movie_id, "userId": r.user_id, "rating": r.rating, "timestamp": r.timestamp,
        "label": 1 if r.rating >= 3.5 else 0, "releaseYear": movie.release_year,
        **_numbered("movieGenre", list(movie.genres), 3),
        "movieRatingCount": len(movie_ratings), "movieAvgRating": _mean(movie_ratings),
        "movieRatingStddev": _stdev(movie_ratings),
        **_numbered("userRatedMovie", [x.movie_id for x in reversed(liked)], 5),
        "userRatingCount": len(earlier), "userAvgReleaseYear": round(statistics.fmean(years)) if years else None,
        "userReleaseYearStddev": _stdev(years),
        "userAvgRating": _mean([x.rating for x in earlier]), "userRatingStddev": _stdev([x.rating for x in earlier]),
        **_numbered("userGenre", sorted(genre_counts, key=lambda g: (-genre_counts[g], g)), 5),
        "movieRatingCount7d": in_days[7], "movieRatingCount30d": in_days[30], "movieRatingCount90d": in_days[90],
        "movieSecondsSinceFirstRating": r.timestamp - before[0] if before else None,
        "movieTrend": round(in_days[90] / len(before), 2) if before else None,
        "userSecondsSinceLastRating": r.timestamp - earlier[-1].timestamp if earlier else None,
    }


def brute_force(ratings, movies, config: SampleGenConfig) -> Dict[tuple, dict]:
    """Expected samples by key; those a user's short history or a genre-less movie leaves out are absent."""
    expected = {}
    for r in ratings:
        sample = brute_force_sample(r, ratings, movies, config.features_mode == LEAKY)
        if sample["userRatingCount"] >= config.min_user_history and sample["movieGenre1"] is not None:
            expected[sample_key(sample)] = sample
    return expected


def assert_same_samples(actual: List[dict], expected: Dict[tuple, dict]) -> None:
    """One sample per expected key, each column equal (floats as tf.Example's float32)."""
    by_key = {sample_key(s): s for s in actual}
    assert len(by_key) == len(actual), "a rating made two samples"
    assert by_key.keys() == expected.keys()
    for key, sample in by_key.items():
        for column in features.EXAMPLE_COLUMNS:
            want, got = expected[key].get(column.name), sample[column.name]
            if column.kind == "float" and want is not None:
                want = float(np.float32(want))  # tf.Example floats are float32
            assert got == want, (key, column.name)
