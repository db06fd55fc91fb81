"""The feature snapshot: every user's and every movie's features as of one moment, for serving.

Entries are built by the functions that build training samples (models/sample_features.py): a user's
features as of `before` are exactly the user features of a sample at that time, and with `before=None` they
are the features "as of now", after every rating. The snapshot is a directory:
- `users-*.jsonl`: {"userId", "features" (sample_features.user_aggregates, the recency included), "rated"
  (movieIds, ascending), "ratedAt" (the latest time the user rated each of them), "liked" (the rated movieIds of a
  liked rating), "ratings", "lastRated"} per user;
- `movies-*.jsonl`: {"movieId", "title", "genres", "features" (static features, movie_aggregates, time features),
  "coldStart" (each cold-start ranker's score as of the latest rating, recommender/cold_start.py)} per movie;
- `neighbours-*.jsonl`: {"movieId", "neighbours" ([movieId, cosine similarity] pairs, best first)} per rated
  movie, over every rating, and `likedNeighbours-*.jsonl` the same over liked ratings: the item-kNN will-rate
  estimate's two parts (recommender/will_rate.py);
- `manifest.json`: the format version (FORMAT_VERSION), counts, the latest rating time, where the ratings came
  from, the cold-start back-test (which ranker a user without ratings is served, and why), the will-rate back-test
  (what the model's P(like | rated) is multiplied by for a top N, and why) and a digest of the contents.

Every reader of a written snapshot starts with `load_manifest`, which refuses one in a format this code does not
read (SnapshotFormatError); a snapshot it accepts has every file and field above.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from models import features, sample_features
from models.sample_features import Movie, Rating
from recommender import cold_start, will_rate

USERS_PREFIX = "users"
MOVIES_PREFIX = "movies"
NEIGHBOURS_PREFIX = "neighbours"
LIKED_NEIGHBOURS_PREFIX = "likedNeighbours"
ENTRY_SUFFIX = ".jsonl"
MANIFEST_FILE = "manifest.json"
# The format write_manifest writes, and the formats load_manifest reads. Change FORMAT_VERSION with any change to
# the files or fields above that a reader relies on; FeatureSnapshot's cache key holds it, so a pipeline run after
# the change writes the snapshot again.
# 2: the entries' features hold the features that know time (sample_features.movie_time_features and
# user_time_features).
# 3: user entries hold "ratedAt" (the item_knn_now will-rate estimate).
FORMAT_VERSION = 3
READABLE_VERSIONS: Tuple[int, ...] = (FORMAT_VERSION,)
# Entry fields besides the feature columns.
FEATURES = "features"
RATED = "rated"
RATED_AT = "ratedAt"
LIKED = "liked"
RATINGS = "ratings"
LAST_RATED = "lastRated"
TITLE = "title"
GENRES = "genres"
COLD_START = "coldStart"
NEIGHBOURS = "neighbours"
# Each neighbours file's prefix -> the user-entry field whose movies it is built over, in the order
# will_rate.Estimator takes them (every rating, then liked ratings).
NEIGHBOUR_FILES = {NEIGHBOURS_PREFIX: RATED, LIKED_NEIGHBOURS_PREFIX: LIKED}
# Manifest fields besides the counts of USERS_PREFIX, MOVIES_PREFIX, RATINGS and each of NEIGHBOUR_FILES.
FORMAT_VERSION_KEY = "format_version"
AS_OF = "as_of"  # the latest rating time the snapshot includes
DIGEST = "digest"
COLD_START_BACK_TEST = "cold_start"  # cold_start.BackTest.to_dict(): the ranker served to users without ratings
WILL_RATE_BACK_TEST = "will_rate"  # will_rate.BackTest.to_dict(): the "will rate" estimate served


def _before(ratings: Iterable[Rating], before: Optional[int]) -> List[Rating]:
    """The ratings a sample at time `before` sees (strictly earlier), all of them when before is None."""
    return sample_features.chronological(r for r in ratings if before is None or r.timestamp < before)


def sample_time(before: Optional[int], now: Optional[int]) -> Optional[int]:
    """The time of the sample whose features an entry holds: `before`, or with `now` (the latest rating time) one
    second after it, a sample that sees every rating; None when neither is given (no features that know time)."""
    if before is not None:
        return before
    return None if now is None else now + 1


def user_entry(user_id: int, ratings: Iterable[Rating], movies: Mapping[int, Movie],
               before: Optional[int] = None, now: Optional[int] = None) -> dict:
    """One user's features as of `before` (or after `now`, see `sample_time`); a user without ratings gets the
    features of an empty history."""
    seen = _before(ratings, before)
    rated_at = {r.movie_id: r.timestamp for r in seen}  # in time order: the latest time wins
    return {
        features.USER_KEY: user_id,
        FEATURES: sample_features.user_aggregates(seen, movies, sample_time(before, now)),
        RATED: sorted(rated_at),
        RATED_AT: [rated_at[m] for m in sorted(rated_at)],
        LIKED: sorted({r.movie_id for r in seen if sample_features.is_positive(r.rating)}),
        RATINGS: len(seen),
        LAST_RATED: seen[-1].timestamp if seen else None,
    }


def movie_entry(movie: Movie, title: str, ratings: Iterable[Rating], before: Optional[int] = None,
                now: Optional[int] = None) -> dict:
    """One movie's static features, its rating aggregates and time features as of `before` (or after `now`, see
    `sample_time`); with `now` (the latest rating time of every movie's ratings), its cold-start scores as of
    then."""
    seen = _before(ratings, before)
    entry = {
        features.MOVIE_KEY: movie.movie_id,
        TITLE: title,
        GENRES: list(movie.genres),
        FEATURES: {**sample_features.movie_static_features(movie),
                   **sample_features.movie_aggregates([r.rating for r in seen]),
                   **sample_features.movie_time_features([r.timestamp for r in seen], sample_time(before, now))},
    }
    if now is not None:
        entry[COLD_START] = cold_start.movie_scores([r.timestamp for r in seen], now)
    return entry


def cold_start_scores(movie_entries: Sequence[dict], ranker: str) -> np.ndarray:
    """Each movie entry's score by a cold-start ranker (cold_start.RANKERS), as of the entry's time: the list a user
    without ratings is served, and a fallback path's list (recommender/serving_policy.py)."""
    return np.array([entry[COLD_START][ranker] for entry in movie_entries], np.float64)


def recent_popularity(movie_entries: Iterable[dict]) -> Dict[int, float]:
    """Each movie entry's popular_now score, by movieId: what the item_knn_now will-rate estimate multiplies by."""
    return {entry[features.MOVIE_KEY]: entry[COLD_START][cold_start.POPULAR_NOW] for entry in movie_entries}


def to_line(entry: dict) -> str:
    return json.dumps(entry, sort_keys=True)


def _files(snapshot_dir: str, prefix: str) -> List[str]:
    return sorted(tf.io.gfile.glob(os.path.join(snapshot_dir, f"{prefix}-*{ENTRY_SUFFIX}")))


def _lines(snapshot_dir: str, prefix: str) -> Iterator[str]:
    for path in _files(snapshot_dir, prefix):
        with tf.io.gfile.GFile(path) as f:
            for line in f:
                if line.strip():
                    yield line


def users(snapshot_dir: str) -> Iterator[dict]:
    return (json.loads(line) for line in _lines(snapshot_dir, USERS_PREFIX))


def find_user(snapshot_dir: str, user_id: int) -> Optional[dict]:
    return next((entry for entry in users(snapshot_dir) if entry[features.USER_KEY] == user_id), None)


def load_movies(snapshot_dir: str) -> Dict[int, dict]:
    movies = (json.loads(line) for line in _lines(snapshot_dir, MOVIES_PREFIX))
    return {entry[features.MOVIE_KEY]: entry for entry in movies}


def write_neighbours(snapshot_dir: str, movie_neighbours: will_rate.Neighbours, prefix: str = NEIGHBOURS_PREFIX
                     ) -> str:
    path = os.path.join(snapshot_dir, f"{prefix}-00000-of-00001{ENTRY_SUFFIX}")
    with tf.io.gfile.GFile(path, "w") as f:
        for movie_id in sorted(movie_neighbours):
            f.write(to_line({features.MOVIE_KEY: movie_id,
                             NEIGHBOURS: [list(pair) for pair in movie_neighbours[movie_id]]}) + "\n")
    return path


def load_neighbours(snapshot_dir: str, prefix: str = NEIGHBOURS_PREFIX) -> will_rate.Neighbours:
    """Each movie's item-kNN neighbours (prefix LIKED_NEIGHBOURS_PREFIX: over liked ratings)."""
    entries = (json.loads(line) for line in _lines(snapshot_dir, prefix))
    return {entry[features.MOVIE_KEY]: [(int(m), float(s)) for m, s in entry[NEIGHBOURS]] for entry in entries}


def write_manifest(snapshot_dir: str, **details) -> dict:
    """Counts the written entries (and neighbour lists) and digests them (order-free: Beam shards in any order);
    returns the manifest, which names the format written (FORMAT_VERSION)."""
    digest = hashlib.sha256()
    counts = {USERS_PREFIX: 0, MOVIES_PREFIX: 0, RATINGS: 0}
    as_of = None
    for prefix in (USERS_PREFIX, MOVIES_PREFIX, *NEIGHBOUR_FILES):
        lines = sorted(_lines(snapshot_dir, prefix))
        counts[prefix] = len(lines)
        digest.update(f"{prefix}:{len(lines)}\n".encode())
        for line in lines:
            digest.update(line.encode())
            if prefix == USERS_PREFIX:
                entry = json.loads(line)
                counts[RATINGS] += entry[RATINGS]
                if entry[LAST_RATED] is not None:
                    as_of = max(as_of or 0, entry[LAST_RATED])
    if not counts[MOVIES_PREFIX]:
        raise ValueError(f"feature snapshot {snapshot_dir}: no movies were written")
    manifest = {**details, **counts, AS_OF: as_of, DIGEST: digest.hexdigest(), FORMAT_VERSION_KEY: FORMAT_VERSION}
    with tf.io.gfile.GFile(os.path.join(snapshot_dir, MANIFEST_FILE), "w") as f:
        f.write(json.dumps(manifest, sort_keys=True, indent=1))
    return manifest


class SnapshotFormatError(ValueError):
    """A feature snapshot in a format this code does not read: one written before snapshots had a format version,
    or by other code."""


def load_manifest(snapshot_dir: str) -> dict:
    """The snapshot's manifest, after checking its format version: every reader of a snapshot starts here.

    Raises FileNotFoundError when there is no snapshot at snapshot_dir and SnapshotFormatError when its format is
    not one of READABLE_VERSIONS."""
    path = os.path.join(snapshot_dir, MANIFEST_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no feature snapshot at {snapshot_dir} ({MANIFEST_FILE} is missing)")
    with tf.io.gfile.GFile(path) as f:
        manifest = json.load(f)
    found = manifest.get(FORMAT_VERSION_KEY) if isinstance(manifest, dict) else None
    if type(found) is not int or found not in READABLE_VERSIONS:  # type(), not isinstance(): True is no version
        has = (f"no {FORMAT_VERSION_KEY} (it was written before snapshots had one)" if found is None else
               f"{FORMAT_VERSION_KEY} {found!r}")
        raise SnapshotFormatError(
            f"feature snapshot {snapshot_dir} has {has}; this code reads {FORMAT_VERSION_KEY} "
            f"{' or '.join(map(str, READABLE_VERSIONS))}. Re-run the pipeline so that FeatureSnapshot writes the "
            "current format and the model is pushed with it: `sparrow-tfx run` with the same data (on Kubeflow, "
            "run the pipeline again).")
    return manifest
