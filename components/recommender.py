"""Recommendations from the newest pushed model: a user's candidates, their features as of now, one batched score.

The features come from the feature snapshot published inside the model's version directory (see
components/feature_snapshot), so a model is always served with the features it was pushed with. Requests go
to the `serve_features` signature (one dense tensor per raw feature), all candidates in one call.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from components import features, serving, serving_dir
from components.feature_snapshot import snapshot


@dataclasses.dataclass
class ServedVersion:
    """One pushed version: the loaded model and its snapshot's movies."""
    version_dir: str
    model: object  # holds the variables the signature uses
    movies: Dict[int, dict]
    manifest: dict

    @property
    def signature(self):
        return self.model.signatures[serving.FEATURES_SIGNATURE]

    @property
    def version(self) -> str:
        return os.path.basename(self.version_dir.rstrip("/"))

    @property
    def snapshot_dir(self) -> str:
        return os.path.join(self.version_dir, serving_dir.FEATURE_SNAPSHOT_DIR)

    @classmethod
    def load(cls, version_dir: str) -> "ServedVersion":
        snapshot_dir = os.path.join(version_dir, serving_dir.FEATURE_SNAPSHOT_DIR)
        manifest = snapshot.load_manifest(snapshot_dir)
        return cls(version_dir, tf.saved_model.load(version_dir), snapshot.load_movies(snapshot_dir), manifest)


def load_newest(base_dir: str) -> ServedVersion:
    version_dir = serving_dir.latest_version_dir(base_dir)
    if version_dir is None:
        raise FileNotFoundError(f"no pushed model version under {base_dir} (run the pipeline first)")
    return ServedVersion.load(version_dir)


def request_rows(user_id: int, user_features: Mapping[str, object], movie_entries: Sequence[dict]) -> List[dict]:
    """One sample-like row per candidate movie: the user's features and the movie's, None where missing."""
    return [{features.USER_KEY: user_id, features.MOVIE_KEY: entry[features.MOVIE_KEY], **user_features,
             **entry[snapshot.FEATURES]} for entry in movie_entries]


def feature_request(rows: Sequence[Mapping[str, object]], signature) -> Dict[str, tf.Tensor]:
    """serve_features' inputs for the rows: one tensor per feature; missing is "" (strings) or NaN (numbers)."""
    request = {}
    for name, spec in signature.structured_input_signature[1].items():
        values = [row.get(name) for row in rows]
        if spec.dtype == tf.string:
            request[name] = tf.constant(["" if v is None else str(v) for v in values], tf.string)
        elif spec.dtype.is_floating:
            request[name] = tf.constant([math.nan if v is None else float(v) for v in values], spec.dtype)
        else:
            missing = [row.get(features.MOVIE_KEY) for row, v in zip(rows, values) if v is None]
            if missing:
                raise ValueError(f"feature {name} is required by the model but missing for movieIds {missing[:5]}")
            request[name] = tf.constant([int(v) for v in values], spec.dtype)
    return request


def score(served: ServedVersion, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
    """Probabilities for the rows, in one batched call of serve_features."""
    signature = served.signature
    outputs = signature(**feature_request(rows, signature))
    return outputs[serving.PROBABILITY_KEY].numpy().reshape(-1)


@dataclasses.dataclass
class Recommendation:
    movie_id: int
    title: str
    genres: List[str]
    score: float


@dataclasses.dataclass
class Recommendations:
    user_id: int
    known_user: bool  # False: no ratings in the snapshot, scored with an empty history and an OOV userId
    user_features: Dict[str, object]
    rated: int  # movies the user has rated, left out of the candidates
    candidates: int
    items: List[Recommendation]
    seconds_first_call: float  # request building and the batched call, as a cold client sees it
    seconds_warm_call: float  # the same again, as a running server sees it

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def recommend(served: ServedVersion, user_id: int, top: int = 10,
              candidates: Optional[Sequence[int]] = None) -> Recommendations:
    """The top movies for user_id among candidates (default: every movie of the snapshot the user has not rated)."""
    user = snapshot.find_user(served.snapshot_dir, user_id)
    known = user is not None
    user = user or snapshot.user_entry(user_id, [], {})
    rated = set(user[snapshot.RATED])
    if candidates is None:
        movie_ids = sorted(set(served.movies) - rated)
    else:
        unknown = [m for m in candidates if m not in served.movies]
        if unknown:
            raise ValueError(f"candidate movieIds not in the feature snapshot of version {served.version}: "
                             f"{unknown[:10]}")
        movie_ids = list(dict.fromkeys(candidates))
    if not movie_ids:
        raise ValueError(f"user {user_id} has no candidate movies left (rated {len(rated)} of {len(served.movies)})")
    entries = [served.movies[m] for m in movie_ids]
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        scores = score(served, request_rows(user_id, user[snapshot.FEATURES], entries))
        timings.append(time.perf_counter() - started)
    order = sorted(range(len(entries)), key=lambda i: (-scores[i], movie_ids[i]))[:top]
    items = [Recommendation(movie_ids[i], entries[i][snapshot.TITLE], entries[i][snapshot.GENRES],
                            float(scores[i])) for i in order]
    return Recommendations(user_id, known, user[snapshot.FEATURES], len(rated), len(movie_ids), items, *timings)
