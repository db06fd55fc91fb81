"""Top N inside the pushed SavedModel: the `recommend` signatures, which TensorFlow Serving and KServe serve with no
project code.

At push time the AtomicPusher (components/atomic_pusher) loads the trained SavedModel and saves it again with the
version's feature snapshot and serving policy inside it as tensors, the way TFRS exports a retrieval index:
- the snapshot's movies (sorted movieIds) and, for each `serve_features` input of the movie's side, every movie's
  request value;
- the users with ratings (sorted userIds), their request values, and their rated and liked movies as CSR rows,
  each movie with what it counts for in the will-rate sums (recommender/will_rate.py: 1, or for item_knn_now its
  weight by the time the user rated it, as of the snapshot's latest rating);
- what the will-rate estimate the snapshot's back-test chose sums: the rating counts, what each movie's kNN sum is
  multiplied by (1, or for item_knn_now its recent popularity + 1) and, for the kNN estimates, the two neighbour
  matrices as CSR rows;
- each popularity list a path serves (the cold-start back-test's choice, or a serving policy's fallback).
Two signatures read them, beside the model's own (`serving_default`, `serve_features`, `transform_features`, saved
as they were):
- `recommend(user_id, k)`: the top k of every movie of the snapshot the user has not rated;
- `recommend_candidates(user_id, k, candidates)`: the top k of the given movieIds (a repeated one counts once; one
  not in the snapshot is an InvalidArgument error naming it).
`user_id` (int64) and `k` (int32) are scalars or one-element tensors. Each returns `movie_ids` (int64 [k']), `scores`
(float64 [k']) and `path` (string), k' = min(k, candidates): what `recommend` (recommender/serve.py) serves, computed
the same way. A user with ratings in the snapshot: one call of `serve_features` on every candidate, P(like | rated)
x the will-rate estimate (the sums in the order scipy adds them, so the scores are the same to the last bit), or the
rank score of a model with the "will rate" head; a user without ratings: the cold-start list's scores; a path where
the version's serving policy has a fallback: that list's. Ordered by (-score, movieId): the candidates sorted by
movieId, then `top_k`, which puts the lower index first among equal scores. `path` names the path as `recommend`
does (`model`, `cold_start_<list>`, `fallback:<list>`).

`assets.extra/recommend.json` in the version (INFO_FILE) records the export: the trained model's fingerprint, the
paths, the sizes. The AtomicPusher compares that fingerprint to tell a model already serving.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from models import features, signatures
from recommender import cold_start, serve, serving_dir, serving_policy, snapshot, will_rate

SIGNATURE = "recommend"
CANDIDATES_SIGNATURE = "recommend_candidates"
USER_ID = "user_id"
K = "k"
CANDIDATES = "candidates"
MOVIE_IDS = "movie_ids"
SCORES = "scores"
PATH = "path"
INFO_FILE = os.path.join("assets.extra", "recommend.json")
# The tables and signatures this code exports. A version exported by other code (or by none) is not "already
# serving" a model this code would export: the AtomicPusher pushes it again.
FORMAT_VERSION = 2  # 2: kNN weights per user movie and the rate scale (item_knn_now)
MODULE_ATTRIBUTE = "recommendations"  # the exported tf.Module's name on the SavedModel's root object


@dataclasses.dataclass
class CSR:
    """Rows of (column, value) pairs: row i is indices[indptr[i]:indptr[i + 1]] with data[...]."""
    indptr: np.ndarray  # int64 [rows + 1]
    indices: np.ndarray  # int64
    data: Optional[np.ndarray] = None  # float64; None: a pattern only (a user's movies)

    @classmethod
    def of_rows(cls, rows, values=None) -> "CSR":
        """rows: each row's columns; values: each row's values (None: a pattern only)."""
        return cls(np.cumsum([0] + [len(row) for row in rows]).astype(np.int64),
                   np.concatenate([np.zeros(0, np.int64), *(np.asarray(row, np.int64) for row in rows)]),
                   None if values is None else
                   np.concatenate([np.zeros(0), *(np.asarray(row, np.float64) for row in values)]))

    @classmethod
    def of_matrix(cls, matrix) -> "CSR":
        return cls(matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), matrix.data.astype(np.float64))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.indptr, self.indices, self.data) if a is not None)


@dataclasses.dataclass
class Tables:
    """What the signatures compute from, built from a version's snapshot and serving policy (`build_tables`)."""
    movie_ids: np.ndarray  # int64 [M], sorted: a movie's position here is its row in every movie table
    movie_columns: Dict[str, np.ndarray]  # serve_features input -> [M] request values (the movie's side)
    user_ids: np.ndarray  # int64 [U], sorted: the users with ratings
    user_columns: Dict[str, np.ndarray]  # serve_features input -> [U] request values (the user's side)
    rated: CSR  # per user (row), the rated movies as positions in rate_ids, ascending, with their kNN weights
    liked: CSR  # the same for the liked movies (the kNN estimates only; else empty rows)
    will_rate: str  # the estimate the snapshot's back-test chose
    rate_ids: np.ndarray  # int64 [E], sorted: the will-rate estimator's movies (the snapshot's, and any neighbour)
    movie_rate_positions: np.ndarray  # int64 [M]: each movie's position in rate_ids
    rate_base: np.ndarray  # float64 [E]: the estimate for a user without movies (count + 1, or kNN's tie-break)
    rate_scale: np.ndarray  # float64 [E]: what a kNN sum is multiplied by (1, or recent popularity + 1)
    similarity: CSR  # item-kNN: rate_ids x rate_ids over every rating (else empty), and over liked ratings
    liked_similarity: CSR
    known_path: str  # the path of a user with ratings: serve.MODEL_PATH or a fallback
    known_list: Optional[str]  # the popularity list on that path, None: the model
    cold_path: str  # the path of a user without ratings
    cold_list: str
    popularity: Dict[str, np.ndarray]  # list -> float64 [M], each list a path serves
    rank_score: bool  # the model has the "will rate" head: its rank score is the ranking score

    @property
    def nbytes(self) -> int:
        """The tables' size as tensors (a string: its bytes)."""
        arrays = [self.movie_ids, self.user_ids, self.rate_ids, self.movie_rate_positions, self.rate_base,
                  self.rate_scale,
                  *self.movie_columns.values(), *self.user_columns.values(), *self.popularity.values()]
        return sum(sum(len(str(v).encode()) for v in a) if a.dtype == object else a.nbytes for a in arrays) + \
            sum(c.nbytes for c in (self.rated, self.liked, self.similarity, self.liked_similarity))


def build_tables(snapshot_dir: str, policy: Optional[serving_policy.ServingPolicy], signature) -> Tables:
    """The tables for a model's `serve_features` signature from a snapshot (its back-tests' choices) and a serving
    policy (None: none), as serve.ServedVersion reads them."""
    manifest = snapshot.load_manifest(snapshot_dir)
    dtypes = serve.input_dtypes(signature)
    movies = snapshot.load_movies(snapshot_dir)
    ids = sorted(movies)
    # The split of the request into the movie's and the user's side, as serve.CandidateTable splits it.
    movie_keys = {features.MOVIE_KEY, *movies[ids[0]][snapshot.FEATURES]}
    movie_columns = serve.row_columns(serve.request_rows(0, {}, [movies[m] for m in ids]),
                                      {k: v for k, v in dtypes.items() if k in movie_keys})
    # A user with no rated movie is served as one not in the snapshot (the cold-start path, every movie).
    users = sorted((user for user in snapshot.users(snapshot_dir) if user[snapshot.RATED]),
                   key=lambda user: user[features.USER_KEY])
    user_columns = serve.row_columns([{features.USER_KEY: user[features.USER_KEY], **user[snapshot.FEATURES]}
                                      for user in users], {k: v for k, v in dtypes.items() if k not in movie_keys})

    chosen = will_rate.BackTest.from_dict(manifest[snapshot.WILL_RATE_BACK_TEST]).chosen
    counts = serve.rating_counts(movies.values())
    knn = chosen in will_rate.KNN_ESTIMATES
    neighbours = ([snapshot.load_neighbours(snapshot_dir, prefix) for prefix in snapshot.NEIGHBOUR_FILES]
                  if knn else [{}])
    estimator = will_rate.Estimator(chosen, counts, *neighbours, popularity=snapshot.recent_popularity(
        movies.values()), now=manifest[snapshot.AS_OF])
    rate_ids, _, rate_scale, similarity, liked_similarity = estimator.arrays()

    def rate_rows(users_movies, users_weights) -> CSR:
        """Each user's movies as positions in rate_ids, ascending, with their weights; ones the estimator does not
        know left out (as it does)."""
        rows, values = [], []
        for movie_ids, weights in zip(users_movies, users_weights):
            index, known = will_rate.positions(rate_ids, np.asarray(movie_ids, np.int64))
            order = np.argsort(index[known], kind="stable")
            rows.append(index[known][order])
            values.append(np.asarray(weights, np.float64)[known][order])
        return CSR.of_rows(rows, values)

    rated_weights = [estimator.weights(user[snapshot.RATED], user[snapshot.RATED_AT]) for user in users]
    liked_weights = [will_rate.weights_of_liked(user[snapshot.RATED], weights, user[snapshot.LIKED])
                     for user, weights in zip(users, rated_weights)]

    empty = CSR.of_rows([[] for _ in users])
    cold_back_test = cold_start.BackTest.from_dict(manifest[snapshot.COLD_START_BACK_TEST])
    known_fallback = policy.fallback_path(True) if policy is not None else None
    cold_fallback = policy.fallback_path(False) if policy is not None else None
    known_list = policy.path(True).serves if known_fallback else None
    cold_list = policy.path(False).serves if cold_fallback else cold_back_test.chosen
    return Tables(
        movie_ids=np.array(ids, np.int64), movie_columns=movie_columns,
        user_ids=np.array([user[features.USER_KEY] for user in users], np.int64), user_columns=user_columns,
        rated=rate_rows([user[snapshot.RATED] for user in users], rated_weights),
        liked=rate_rows([user[snapshot.LIKED] for user in users], liked_weights) if knn else empty,
        will_rate=chosen, rate_ids=rate_ids,
        movie_rate_positions=will_rate.positions(rate_ids, np.array(ids, np.int64))[0].astype(np.int64),
        # The estimate for no movies: count + 1, or 0 + the count's tie-break share; kNN sums are added to it.
        rate_base=estimator.scores([], rate_ids, []).astype(np.float64), rate_scale=rate_scale,
        similarity=CSR.of_matrix(similarity) if knn else CSR(np.zeros(1, np.int64), np.zeros(0, np.int64),
                                                               np.zeros(0)),
        liked_similarity=CSR.of_matrix(liked_similarity) if knn else CSR(np.zeros(1, np.int64),
                                                                         np.zeros(0, np.int64), np.zeros(0)),
        known_path=known_fallback or serve.MODEL_PATH, known_list=known_list,
        cold_path=cold_fallback or serve.cold_start_path(cold_list), cold_list=cold_list,
        popularity={name: snapshot.cold_start_scores([movies[m] for m in ids], name)
                    for name in dict.fromkeys(n for n in (known_list, cold_list) if n is not None)},
        rank_score=signatures.RANK_SCORE_KEY in signature.structured_outputs)


def _variable(values: np.ndarray, name: str, dtype: Optional[tf.DType] = None) -> tf.Variable:
    """A table as a variable (saved in the checkpoint, not in the graph: the graph stays small at any size)."""
    return tf.Variable(tf.constant(values, dtype=dtype), trainable=False, name=name)


class _CSRVariables(tf.Module):
    def __init__(self, csr: CSR, name: str):
        super().__init__(name=name)
        self.indptr = _variable(csr.indptr, f"{name}_indptr", tf.int64)
        self.indices = _variable(csr.indices, f"{name}_indices", tf.int64)
        self.data = _variable(csr.data, f"{name}_data", tf.float64) if csr.data is not None else None

    def row_entries(self, rows: tf.Tensor) -> tf.Tensor:
        """Positions in indices/data of every entry of rows, row after row, each row's in its order."""
        return tf.ragged.range(tf.gather(self.indptr, rows), tf.gather(self.indptr, rows + 1)).flat_values

    def row(self, row: tf.Tensor, found: tf.Tensor) -> tf.Tensor:
        """One row's indices; empty when not found (row is then any valid row or the one past the last)."""
        start, end = self._bounds(row, found)
        return self.indices[start:end]

    def row_values(self, row: tf.Tensor, found: tf.Tensor) -> tf.Tensor:
        """One row's values, as row() its indices."""
        start, end = self._bounds(row, found)
        return self.data[start:end]

    def _bounds(self, row: tf.Tensor, found: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        return (tf.where(found, self.indptr[row], tf.constant(0, tf.int64)),
                tf.where(found, self.indptr[row + 1], tf.constant(0, tf.int64)))


class _Static:
    """What the functions read at trace time, held where tf.Module does not track it: the numpy tables (their sizes
    and static choices) and the model's signature (saved with the model's root object)."""

    def __init__(self, tables: Tables, score_features: Callable[..., Mapping[str, tf.Tensor]]):
        self.tables = tables
        self.score_features = score_features


class Recommender(tf.Module):
    """The tables as variables and the two signatures over them and the model's `serve_features`."""

    def __init__(self, tables: Tables, score_features: Callable[..., Mapping[str, tf.Tensor]],
                 dtypes: Mapping[str, tf.DType]):
        super().__init__(name=MODULE_ATTRIBUTE)
        self._static = _Static(tables, score_features)
        tables = self._static.tables
        self.movie_ids = _variable(tables.movie_ids, "movie_ids", tf.int64)
        self.movie_columns = {name: _variable(values, f"movie_{name}", dtypes[name])
                              for name, values in tables.movie_columns.items()}
        self.user_ids = _variable(tables.user_ids, "user_ids", tf.int64)
        self.user_columns = {name: _variable(values, f"user_{name}", dtypes[name])
                             for name, values in tables.user_columns.items()}
        # one row more than users: the row past the last, empty, is what an unknown user's lookup lands on
        self.rated = _CSRVariables(dataclasses.replace(tables.rated, indptr=np.append(
            tables.rated.indptr, tables.rated.indptr[-1])), "rated")
        self.liked = _CSRVariables(dataclasses.replace(tables.liked, indptr=np.append(
            tables.liked.indptr, tables.liked.indptr[-1])), "liked")
        self.movie_rate_positions = _variable(tables.movie_rate_positions, "movie_rate_positions", tf.int64)
        self.rate_base = _variable(tables.rate_base, "rate_base", tf.float64)
        self.rate_scale = _variable(tables.rate_scale, "rate_scale", tf.float64)
        self.similarity = _CSRVariables(tables.similarity, "similarity")
        self.liked_similarity = _CSRVariables(tables.liked_similarity, "liked_similarity")
        self.popularity = {name: _variable(values, f"popularity_{name}", tf.float64)
                           for name, values in tables.popularity.items()}
        scalar_user, scalar_k = tf.TensorSpec(None, tf.int64, name=USER_ID), tf.TensorSpec(None, tf.int32, name=K)
        self.recommend = tf.function(lambda user_id, k: self._top(user_id, k, None),
                                     input_signature=[scalar_user, scalar_k], autograph=False)
        self.recommend_candidates = tf.function(
            lambda user_id, k, candidates: self._top(user_id, k, candidates),
            input_signature=[scalar_user, scalar_k, tf.TensorSpec([None], tf.int64, name=CANDIDATES)],
            autograph=False)

    def signatures(self) -> dict:
        return {SIGNATURE: self.recommend.get_concrete_function(),
                CANDIDATES_SIGNATURE: self.recommend_candidates.get_concrete_function()}

    @staticmethod
    def _one(value: tf.Tensor, name: str) -> tf.Tensor:
        flat = tf.reshape(value, [-1])
        check = tf.debugging.assert_equal(tf.size(flat), 1, message=f"{name} must be one value")
        with tf.control_dependencies([check]):
            return tf.identity(flat[0])

    def _top(self, user_id: tf.Tensor, k: tf.Tensor, candidates: Optional[tf.Tensor]) -> Dict[str, tf.Tensor]:
        tables = self._static.tables
        user_id, k = self._one(user_id, USER_ID), self._one(k, K)
        k_check = tf.debugging.assert_non_negative(k, message=f"{K} must be >= 0")
        # the user's row; not found: the row past the last (the sentinel makes the lookup safe with no users)
        row = tf.searchsorted(self.user_ids, tf.reshape(user_id, [1]), out_type=tf.int64)[0]
        padded = tf.concat([self.user_ids, tf.reshape(user_id + 1, [1])], 0)
        found = tf.equal(tf.gather(padded, row), user_id)
        row = tf.where(found, row, tf.constant(len(tables.user_ids), tf.int64))
        rated = self.rated.row(row, found)
        if candidates is None:  # every movie the user has not rated, by movieId
            rated_mask = tf.scatter_nd(tf.expand_dims(rated, 1), tf.ones_like(rated, tf.int32),
                                       tf.constant([len(tables.rate_ids)], tf.int64)) > 0
            positions = tf.where(tf.logical_not(tf.gather(rated_mask, self.movie_rate_positions)))[:, 0]
        else:  # as given, a repeated one once (the order of the first of each), each in the snapshot
            given, _ = tf.unique(candidates)
            positions = tf.minimum(tf.searchsorted(self.movie_ids, given, out_type=tf.int64),
                                   len(tables.movie_ids) - 1)
            known = tf.equal(tf.gather(self.movie_ids, positions), given)
            unknown_check = tf.debugging.Assert(tf.reduce_all(known), [
                "candidate movieIds not in the feature snapshot of this version:",
                tf.boolean_mask(given, tf.logical_not(known))], summarize=10)
            with tf.control_dependencies([unknown_check]):
                positions = tf.identity(positions)
        count = tf.size(positions)
        with tf.control_dependencies([k_check, tf.debugging.Assert(
                count > 0, ["user", user_id, "has no candidate movies left"])]):
            count = tf.identity(count)

        def popularity(name: str) -> Callable[[], tf.Tensor]:
            return lambda: tf.gather(self.popularity[name], positions)

        known_scores = (popularity(tables.known_list) if tables.known_list is not None else
                        lambda: self._model_scores(positions, count, row, found))
        scores = tf.cond(found, known_scores, popularity(tables.cold_list))
        # by movieId first: top_k puts the lower index first among equal scores, so ties go to the lower movieId
        by_id = tf.argsort(positions, stable=True)
        positions, scores = tf.gather(positions, by_id), tf.gather(scores, by_id)
        top = tf.math.top_k(scores, k=tf.minimum(k, count), sorted=True)
        return {MOVIE_IDS: tf.gather(self.movie_ids, tf.gather(positions, top.indices)), SCORES: top.values,
                PATH: tf.where(found, tables.known_path, tables.cold_path)}

    def _model_scores(self, positions: tf.Tensor, count: tf.Tensor, row: tf.Tensor, found: tf.Tensor) -> tf.Tensor:
        """serve_features on every candidate in one call; the rank score, or P(like | rated) x the will-rate
        estimate (serve.ranking_scores), in float64 as numpy multiplies a float32 by a float64."""
        request = {name: tf.gather(values, positions) for name, values in self.movie_columns.items()}
        request.update({name: tf.fill(tf.reshape(count, [1]), values[row])
                        for name, values in self.user_columns.items()})
        outputs = self._static.score_features(**request)
        if self._static.tables.rank_score:
            return tf.cast(tf.reshape(outputs[signatures.RANK_SCORE_KEY], [-1]), tf.float64)
        probability = tf.cast(tf.reshape(outputs[signatures.PROBABILITY_KEY], [-1]), tf.float64)
        return probability * self._will_rate(positions, row, found)

    def _will_rate(self, positions: tf.Tensor, row: tf.Tensor, found: tf.Tensor) -> tf.Tensor:
        """will_rate.Estimator.scores for the user's movies and the candidates: the kNN estimates sum each of the
        user's movies' neighbour row times the movie's weight, movie after movie in ascending order, as scipy's sparse
        product adds them, then multiply by the candidate's scale."""
        movies = tf.gather(self.movie_rate_positions, positions)
        base = tf.gather(self.rate_base, movies)
        if self._static.tables.will_rate not in will_rate.KNN_ESTIMATES:
            return base
        size = len(self._static.tables.rate_ids)

        def summed(matrix: _CSRVariables, user_movies: _CSRVariables) -> tf.Tensor:
            rows = user_movies.row(row, found)
            entries = matrix.row_entries(rows)
            weights = tf.repeat(user_movies.row_values(row, found),
                                tf.gather(matrix.indptr, rows + 1) - tf.gather(matrix.indptr, rows))
            return tf.math.unsorted_segment_sum(tf.gather(matrix.data, entries) * weights,
                                                tf.gather(matrix.indices, entries), size)
        knn = summed(self.similarity, self.rated) + summed(self.liked_similarity, self.liked)
        return tf.gather(knn, movies) * tf.gather(self.rate_scale, movies) + base


def has_features_signature(model_dir: str) -> bool:
    """Whether the SavedModel at model_dir has `serve_features` (what the export calls), read from its graph file
    without loading it."""
    path = os.path.join(model_dir, serving_dir.SAVED_MODEL_FILE)
    if not tf.io.gfile.exists(path):
        return False
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        proto.ParseFromString(f.read())
    return any(signatures.FEATURES_SIGNATURE in graph.signature_def for graph in proto.meta_graphs)


def export(model_dir: str, snapshot_dir: str, policy: Optional[serving_policy.ServingPolicy], export_dir: str
           ) -> dict:
    """Saves the SavedModel at model_dir to export_dir with the `recommend` signatures over the snapshot and the
    policy (None: none) added, its own signatures as they were; returns what INFO_FILE records."""
    started = time.perf_counter()
    root = tf.saved_model.load(model_dir)
    if hasattr(root, MODULE_ATTRIBUTE):
        raise ValueError(f"{model_dir} already has a {MODULE_ATTRIBUTE!r} object: exported twice?")
    features_signature = root.signatures[signatures.FEATURES_SIGNATURE]
    tables = build_tables(snapshot_dir, policy, features_signature)
    module = Recommender(tables, features_signature, serve.input_dtypes(features_signature))
    setattr(root, MODULE_ATTRIBUTE, module)
    own = dict(root.signatures)
    tf.saved_model.save(root, export_dir, signatures={**own, **module.signatures()})
    manifest = snapshot.load_manifest(snapshot_dir)
    info = {
        "format_version": FORMAT_VERSION,
        "model_fingerprint": serving_dir.model_fingerprint(model_dir).hex(),
        "signatures": [*own, SIGNATURE, CANDIDATES_SIGNATURE],
        "snapshot_digest": manifest[snapshot.DIGEST],
        "paths": {serving_policy.WITH_HISTORY: tables.known_path, serving_policy.COLD_START: tables.cold_path},
        "will_rate": tables.will_rate,
        "movies": len(tables.movie_ids), "users_with_ratings": len(tables.user_ids),
        "rated": len(tables.rated.indices), "similarities": len(tables.similarity.indices) + len(
            tables.liked_similarity.indices),
        "table_bytes": tables.nbytes,
        "seconds": round(time.perf_counter() - started, 3),
    }
    tf.io.gfile.makedirs(os.path.dirname(os.path.join(export_dir, INFO_FILE)))
    with tf.io.gfile.GFile(os.path.join(export_dir, INFO_FILE), "w") as f:
        f.write(json.dumps(info, indent=1, sort_keys=True))
    return info


def summary(info: Mapping) -> str:
    """An export's signatures and paths in a line, e.g. "recommend, recommend_candidates: with_history model,
    cold_start cold_start_most_rated"."""
    return f"{SIGNATURE}, {CANDIDATES_SIGNATURE}: " + ", ".join(f"{key} {path}" for key, path in info["paths"].items())


def read_info(version_dir: str) -> Optional[dict]:
    """What a version's export recorded (INFO_FILE); None for a version without one."""
    path = os.path.join(version_dir, INFO_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def exported_by_this_code(version_dir: str) -> bool:
    info = read_info(version_dir)
    return info is not None and info.get("format_version") == FORMAT_VERSION


def source_fingerprint(version_dir: str) -> Optional[bytes]:
    """The fingerprint of the trained model a version serves: the one its export recorded, or (a version pushed as
    trained) its own."""
    info = read_info(version_dir)
    if info is None:
        return serving_dir.model_fingerprint(version_dir)
    return bytes.fromhex(info["model_fingerprint"]) if info.get("model_fingerprint") else None
