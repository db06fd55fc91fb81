"""Recommendations from the newest pushed model: a user's candidates, their features as of now, one batched score.

The features come from the feature snapshot published inside the model's version directory (see
components/feature_snapshot), so a model is always served with the features it was pushed with; a version whose
snapshot is in a format this code does not read is refused at load (snapshot.SnapshotFormatError). Requests go
to the `serve_features` signature (one dense tensor per raw feature), all candidates in one call. A version pushed
with a serving policy (`serving_policy.json`, a first-run fallback: recommender/serving_policy.py) serves that
policy's popularity list on a path where it has one (path `fallback:<list>`); a version without one serves as
below.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from models import features, signatures
from recommender import cold_start, serving_dir, serving_policy, snapshot, will_rate


@dataclasses.dataclass
class ServedVersion:
    """One pushed version: the loaded model, its snapshot's movies and its serving policy (None: none)."""
    version_dir: str
    model: object  # holds the variables the signature uses
    movies: Dict[int, dict]
    manifest: dict
    policy: Optional[serving_policy.ServingPolicy] = None
    # every user entry by userId once index_users() ran (a server, per request); else a lookup scans the snapshot
    users: Optional[Dict[int, dict]] = None
    _cold_start_scores: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def signature(self):
        return self.model.signatures[signatures.FEATURES_SIGNATURE]

    @functools.cached_property
    def candidates(self) -> "CandidateTable":
        return CandidateTable(self.movies, input_dtypes(self.signature))

    @property
    def version(self) -> str:
        return os.path.basename(self.version_dir.rstrip("/"))

    @property
    def cold_start(self) -> cold_start.BackTest:
        """The back-test that chose the cold-start ranker."""
        return cold_start.BackTest.from_dict(self.manifest[snapshot.COLD_START_BACK_TEST])

    @property
    def will_rate_back_test(self) -> will_rate.BackTest:
        """The back-test that chose the will-rate estimate."""
        return will_rate.BackTest.from_dict(self.manifest[snapshot.WILL_RATE_BACK_TEST])

    @functools.cached_property
    def will_rate_estimator(self) -> will_rate.Estimator:
        """The chosen estimate over the snapshot's ratings, built once per loaded version."""
        chosen = self.will_rate_back_test.chosen
        counts = rating_counts(self.movies.values())
        if chosen not in will_rate.KNN_ESTIMATES:
            return will_rate.Estimator(chosen, counts, {})
        return will_rate.Estimator(chosen, counts, *(snapshot.load_neighbours(self.snapshot_dir, prefix)
                                                     for prefix in snapshot.NEIGHBOUR_FILES),
                                   popularity=snapshot.recent_popularity(self.movies.values()),
                                   now=self.manifest[snapshot.AS_OF])

    @property
    def snapshot_dir(self) -> str:
        return os.path.join(self.version_dir, serving_dir.FEATURE_SNAPSHOT_DIR)

    def index_users(self) -> "ServedVersion":
        """Reads every user entry once, so that a lookup is a dict access, not a scan of the snapshot's files."""
        self.users = {entry[features.USER_KEY]: entry for entry in snapshot.users(self.snapshot_dir)}
        return self

    def user(self, user_id: int) -> Optional[dict]:
        """The user's snapshot entry, None for a user without ratings."""
        if self.users is not None:
            return self.users.get(user_id)
        return snapshot.find_user(self.snapshot_dir, user_id)

    def cold_start_scores(self, ranker: str) -> np.ndarray:
        """Every movie's score by a cold-start ranker, in the order of candidates.ids; built once per ranker."""
        found = self._cold_start_scores.get(ranker)
        if found is None:
            found = snapshot.cold_start_scores([self.movies[m] for m in self.candidates.ids.tolist()], ranker)
            self._cold_start_scores[ranker] = found
        return found

    @classmethod
    def load(cls, version_dir: str) -> "ServedVersion":
        """The version's model, snapshot and serving policy; the snapshot's and the policy's formats are checked
        first (snapshot.SnapshotFormatError, serving_policy.PolicyFormatError: both ValueErrors)."""
        snapshot_dir = os.path.join(version_dir, serving_dir.FEATURE_SNAPSHOT_DIR)
        manifest = snapshot.load_manifest(snapshot_dir)
        policy = serving_policy.load(version_dir)
        return cls(version_dir, tf.saved_model.load(version_dir), snapshot.load_movies(snapshot_dir), manifest,
                   policy)


def load_newest(base_dir: str) -> ServedVersion:
    version_dir = serving_dir.latest_version_dir(base_dir)
    if version_dir is None:
        raise FileNotFoundError(f"no pushed model version under {base_dir} (run the pipeline first)")
    return ServedVersion.load(version_dir)


def request_rows(user_id: int, user_features: Mapping[str, object], movie_entries: Sequence[dict]) -> List[dict]:
    """One sample-like row per candidate movie: the user's features and the movie's, None where missing."""
    return [{features.USER_KEY: user_id, features.MOVIE_KEY: entry[features.MOVIE_KEY], **user_features,
             **entry[snapshot.FEATURES]} for entry in movie_entries]


def _column(name: str, values: Sequence, dtype: tf.DType, movie_ids: Sequence[int],
            missing_number: float = math.nan) -> np.ndarray:
    """One input's values as an array of its dtype; missing is "" (strings) or missing_number (numbers)."""
    if dtype == tf.string:
        return np.array(["" if v is None else str(v) for v in values], object)
    if dtype.is_floating:
        return np.array([missing_number if v is None else float(v) for v in values], dtype.as_numpy_dtype)
    missing = [m for m, v in zip(movie_ids, values) if v is None]
    if missing:
        raise ValueError(f"feature {name} is required by the model but missing for movieIds {missing[:5]}")
    return np.array(values, dtype.as_numpy_dtype)


def input_dtypes(signature) -> Dict[str, tf.DType]:
    return {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()}


def row_columns(rows: Sequence[Mapping[str, object]], dtypes: Mapping[str, tf.DType],
                missing_number: float = math.nan) -> Dict[str, np.ndarray]:
    """One array per input name in dtypes, with the rows' values."""
    movie_ids = [row.get(features.MOVIE_KEY) for row in rows]
    return {name: _column(name, [row.get(name) for row in rows], dtype, movie_ids, missing_number)
            for name, dtype in dtypes.items()}


def as_tensors(request: Mapping[str, np.ndarray]) -> Dict[str, tf.Tensor]:
    """Made before the call: a loaded signature converting numpy arrays itself took 4-5 ms more per 1,000 rows."""
    return {name: tf.constant(values) for name, values in request.items()}


def feature_request(rows: Sequence[Mapping[str, object]], signature) -> Dict[str, tf.Tensor]:
    """serve_features' inputs for the rows: one tensor per feature; missing is "" (strings) or NaN (numbers)."""
    return as_tensors(row_columns(rows, input_dtypes(signature)))


def score(served: ServedVersion, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
    """Probabilities for the rows, in one batched call of serve_features."""
    signature = served.signature
    outputs = signature(**feature_request(rows, signature))
    return outputs[signatures.PROBABILITY_KEY].numpy().reshape(-1)


class CandidateTable:
    """Every snapshot movie's request values, converted once per loaded version: a request for any candidates is
    then one gather per input. Building a row per candidate in Python took longer than the model call."""

    def __init__(self, movies: Mapping[int, dict], dtypes: Mapping[str, tf.DType], missing_number=math.nan):
        ids = sorted(movies)
        self.ids = np.array(ids, np.int64)  # every movie, by position
        self._position = {movie_id: i for i, movie_id in enumerate(ids)}
        movie_keys = {features.MOVIE_KEY, *(movies[ids[0]][snapshot.FEATURES] if ids else ())}
        self._movie_columns = row_columns(request_rows(0, {}, [movies[m] for m in ids]),
                                          {k: v for k, v in dtypes.items() if k in movie_keys}, missing_number)
        self._user_dtypes = {k: v for k, v in dtypes.items() if k not in movie_keys}
        self._names, self._missing_number = list(dtypes), missing_number

    def positions(self, movie_ids: Sequence[int]) -> np.ndarray:
        """Each movie's position in ids (a KeyError for one not in the table)."""
        return np.fromiter((self._position[m] for m in movie_ids), np.int64, len(movie_ids))

    def unrated_positions(self, rated: Iterable[int]) -> np.ndarray:
        """The positions of every movie not in rated, ascending: by movieId."""
        keep = np.ones(len(self.ids), bool)
        keep[[self._position[m] for m in rated if m in self._position]] = False
        return np.flatnonzero(keep)

    def request(self, user_id: int, user_features: Mapping[str, object],
                movie_ids: Sequence[int]) -> Dict[str, np.ndarray]:
        """One array per input: the movies' values gathered, the user's repeated."""
        index = self.positions(movie_ids)
        user = row_columns([{features.USER_KEY: user_id, **user_features}], self._user_dtypes, self._missing_number)
        return {name: self._movie_columns[name][index] if name in self._movie_columns else
                np.repeat(user[name], len(index)) for name in self._names}

    @functools.cached_property
    def _movie_tensors(self) -> Dict[str, tf.Tensor]:
        return {name: tf.constant(values) for name, values in self._movie_columns.items()}

    def tensors(self, user_id: int, user_features: Mapping[str, object],
                positions: np.ndarray) -> Dict[str, tf.Tensor]:
        """request()'s values as tensors, the movies' gathered by position from tensors made once: converting the
        gathered arrays (strings among them) took 6 ms a request over 8,500 candidates, the gathers take well under
        1 ms, out of the GIL."""
        index = tf.constant(positions, tf.int64)
        user = row_columns([{features.USER_KEY: user_id, **user_features}], self._user_dtypes, self._missing_number)
        size = tf.constant([len(positions)], tf.int32)
        # tf.fill is one op; tf.repeat is about ten in eager mode, once per user column
        return {name: tf.gather(self._movie_tensors[name], index) if name in self._movie_columns else
                tf.fill(size, tf.constant(user[name][0], self._user_dtypes[name])) for name in self._names}


def candidate_outputs(served: ServedVersion, user_id: int, user_features: Mapping[str, object],
                      movie_ids: Optional[Sequence[int]] = None,
                      positions: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """serve_features' outputs (PROBABILITY_KEY, and RATE_PROBABILITY_KEY from a model with the "will rate"
    head) for user_id and each candidate (movie_ids, or their positions in served.candidates), in one batched
    call."""
    table = served.candidates
    positions = table.positions(movie_ids) if positions is None else positions
    outputs = served.signature(**table.tensors(user_id, user_features, positions))
    return {name: values.numpy().reshape(-1) for name, values in outputs.items()}


def score_candidates(served: ServedVersion, user_id: int, user_features: Mapping[str, object],
                     movie_ids: Sequence[int]) -> np.ndarray:
    """Probabilities for user_id and each candidate, in one batched call of serve_features."""
    return candidate_outputs(served, user_id, user_features, movie_ids)[signatures.PROBABILITY_KEY]


MODEL_PATH = "model"
FALLBACK_PREFIX = serving_policy.FALLBACK_PREFIX
# Measured over the catalogue (bench/bench_catalogue.py): for a user without ratings the model's list is worse than
# a popularity list, so such a user gets the cold-start ranker the snapshot's back-test chose (recommender/cold_start).
COLD_START_PATH_PREFIX = "cold_start_"


def cold_start_path(ranker: str) -> str:
    """The path a user without ratings takes, e.g. cold_start_recent_most_rated."""
    return COLD_START_PATH_PREFIX + ranker


def rating_counts(movie_entries: Iterable[dict]) -> Dict[int, int]:
    """Each movie's rating count in the feature snapshot."""
    return {entry[features.MOVIE_KEY]: entry[snapshot.FEATURES][features.MOVIE_RATING_COUNT_KEY] or 0
            for entry in movie_entries}


def ranking_scores(outputs: Mapping[str, np.ndarray], will_rate_scores: np.ndarray) -> np.ndarray:
    """What a user's top N is ranked by, P(rated and liked): the model's rank score where it has the "will rate"
    head (trained with sampled negatives, `serving.rank_scores`), else P(like | rated), the model's probability,
    times the will-rate estimate the snapshot's back-test chose (recommender/will_rate.py). The probability alone
    answers "liked, given rated" and sends rarely rated movies with high averages to everyone."""
    if signatures.RANK_SCORE_KEY in outputs:
        return outputs[signatures.RANK_SCORE_KEY]
    return outputs[signatures.PROBABILITY_KEY] * will_rate_scores


@dataclasses.dataclass
class Recommendation:
    movie_id: int
    title: str
    genres: List[str]
    score: float  # the ranking score (`ranking_scores`), or the cold-start (or fallback) list's score
    probability: Optional[float]  # the model's P(like | rated); None on the cold-start and fallback paths
    rate_probability: Optional[float] = None  # the model's P(rated), from a model with the "will rate" head


@dataclasses.dataclass
class Recommendations:
    user_id: int
    known_user: bool  # False: no ratings in the snapshot
    # MODEL_PATH, or cold_start_path(the back-test's ranker) for a user without ratings, or on a path where the
    # version's serving policy has a fallback, FALLBACK_PREFIX + its list (e.g. fallback:most_rated)
    path: str
    user_features: Dict[str, object]
    rated: int  # movies the user has rated, left out of the candidates
    candidates: int
    items: List[Recommendation]
    seconds_first_call: float  # request building and the batched call, as a cold client sees it
    seconds_warm_call: Optional[float]  # the same again, as a running server sees it (None: not repeated)
    cold_start: Optional[dict] = None  # on the cold-start path: the back-test that chose it (BackTest.to_dict())
    will_rate: Optional[dict] = None  # on the model path: the will-rate back-test (will_rate.BackTest.to_dict())
    fallback: Optional[dict] = None  # on a fallback path: the list, what it replaces and why (fallback_details)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def recommend(served: ServedVersion, user_id: int, top: int = 10,
              candidates: Optional[Sequence[int]] = None, repeat: bool = True) -> Recommendations:
    """The top movies for user_id among candidates (default: every movie of the snapshot the user has not rated).
    repeat: score a second time to time a warm call (`recommend`); a server scores once (seconds_warm_call None)."""
    user = served.user(user_id)
    known = user is not None
    user = user or snapshot.user_entry(user_id, [], {})
    rated = set(user[snapshot.RATED])
    table = served.candidates  # built once per loaded version, as a server would at load
    if candidates is None:
        positions = table.unrated_positions(rated)
    else:
        unknown = [m for m in candidates if m not in served.movies]
        if unknown:
            raise ValueError(f"candidate movieIds not in the feature snapshot of version {served.version}: "
                             f"{unknown[:10]}")
        positions = table.positions(list(dict.fromkeys(candidates)))
    movie_ids = table.ids[positions]
    if not len(movie_ids):
        raise ValueError(f"user {user_id} has no candidate movies left (rated {len(rated)} of {len(served.movies)})")
    back_test = None if rated else served.cold_start
    fallback = served.policy.fallback_path(bool(rated)) if served.policy is not None else None
    # the popularity list served instead of the model or of the cold-start back-test's choice, if any
    fallback_list = served.policy.path(bool(rated)).serves if fallback else None
    path = fallback or (MODEL_PATH if back_test is None else cold_start_path(back_test.chosen))
    # built once per loaded version, as a server would at load
    _ = served.will_rate_estimator
    timings = []
    for _ in range(2 if repeat else 1):
        started = time.perf_counter()
        if fallback_list is not None:
            outputs, scores = {}, served.cold_start_scores(fallback_list)[positions]
        elif back_test is None:
            outputs = candidate_outputs(served, user_id, user[snapshot.FEATURES], positions=positions)
            scores = ranking_scores(outputs, served.will_rate_estimator.scores(
                user[snapshot.RATED], movie_ids, user[snapshot.LIKED], user[snapshot.RATED_AT]))
        else:
            outputs, scores = {}, served.cold_start_scores(back_test.chosen)[positions]
        timings.append(time.perf_counter() - started)
    # best score first, equal scores by movieId
    order = np.lexsort((movie_ids, -np.asarray(scores, np.float64)))[:top].tolist()
    entries = {i: served.movies[int(movie_ids[i])] for i in order}

    def output(name: str, i: int) -> Optional[float]:
        return float(outputs[name][i]) if name in outputs else None

    items = [Recommendation(int(movie_ids[i]), entries[i][snapshot.TITLE], entries[i][snapshot.GENRES],
                            float(scores[i]), output(signatures.PROBABILITY_KEY, i),
                            output(signatures.RATE_PROBABILITY_KEY, i))
             for i in order]
    return Recommendations(user_id, known, path, user[snapshot.FEATURES], len(rated), len(movie_ids), items,
                           timings[0], timings[1] if repeat else None,
                           None if back_test is None else back_test.to_dict(),
                           served.will_rate_back_test.to_dict() if back_test is None and not fallback else None,
                           fallback_details(served.policy, bool(rated)) if fallback else None)


def fallback_details(policy: serving_policy.ServingPolicy, known_user: bool) -> dict:
    """A fallback path's list, what it replaces and why, with the numbers of the evaluation that chose it."""
    choice = policy.path(known_user)
    return {"list": choice.serves, "instead_of": choice.default, "metric": policy.metric, "users": choice.users,
            "figures": choice.figures, "reason": policy.reason}


def as_json(served: ServedVersion, result: Recommendations) -> dict:
    """`recommend --json`'s output, and `sparrow-tfx serve`'s /recommend response: the version, the path and why,
    the user's features and the ranked movies; latency_ms has the first and warm calls (warm_call None when the
    call was not repeated)."""
    return {
        "version": served.version,
        "version_dir": served.version_dir,
        "features_as_of": served.manifest[snapshot.AS_OF],
        "serving_policy": served.policy.to_dict() if served.policy is not None else None,
        "user_id": result.user_id,
        "known_user": result.known_user,
        "path": result.path,
        "cold_start": result.cold_start,
        "will_rate": result.will_rate,
        "fallback": result.fallback,
        "user_features": result.user_features,
        "rated": result.rated,
        "candidates": result.candidates,
        "recommendations": [{"rank": rank, features.MOVIE_KEY: item.movie_id, "title": item.title,
                             "genres": item.genres,
                             "score": item.score, "probability": item.probability,
                             "rate_probability": item.rate_probability}
                            for rank, item in enumerate(result.items, start=1)],
        "latency_ms": {"first_call": result.seconds_first_call * 1000,
                       "warm_call": None if result.seconds_warm_call is None else result.seconds_warm_call * 1000},
    }
