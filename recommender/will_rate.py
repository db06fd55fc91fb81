"""How likely a user is to rate a movie: the "will rate" factor of the ranking score P(like | rated) x P(rated).

The model answers "liked, given rated"; a top N over the catalogue also needs "will the user rate it at all". Two
estimates, chosen per data set by a back-test, as the cold-start list is (recommender/cold_start.py):
- rating_count: the movie's rating count + 1, the same for every user (P(rated) without the user);
- item_knn: item-kNN in two parts, each movie keeping its NEIGHBOURS most similar: the summed cosine similarity
  (binary, over every rating) of the movie to the movies the user rated ("rated with what they rate"), plus the
  summed cosine similarity over liked ratings only to the movies the user liked ("liked with what they like");
  the rating count breaks ties. The liked part keeps a movie the user's dislikes are rated with from ranking as
  high as one their likes are: on the back-tests of ml-latest-small and the generated data it predicts more of
  the next liked movies than either part alone (docs/serving.md).
Which one predicts the next movies a user rates and likes depends on the data (how much co-rating structure there
is beyond popularity), so it is not fixed. The back-test holds out the last HOLD_OUT ratings of every user with at
least MIN_RATINGS in a history (the pipeline's training split), builds both estimates from the rest, ranks each
such user's unrated movies by each and keeps the one whose top N holds the larger share of the held-out liked
movies (recall@N, then hit@N, then NDCG@N; a tie goes to the simpler, the earlier of ESTIMATES). Served, the
estimate is built from every rating of the feature snapshot.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import sparse

from models import sample_features
from recommender import top_n_metrics

RATING_COUNT = "rating_count"
ITEM_KNN = "item_knn"
ESTIMATES = (RATING_COUNT, ITEM_KNN)  # the simpler first: it wins ties
DESCRIPTIONS = {RATING_COUNT: "(the movie's rating count + 1)",
                ITEM_KNN: "item-kNN over the user's rated and liked movies"}
NEIGHBOURS = 50
HOLD_OUT = 5
MIN_RATINGS = 10
_TIE_BREAK = 1e-6  # the rating count's share of an item-kNN score: it only orders equal similarities
_BLOCK_CELLS = 4_000_000  # similarity rows are made dense this many cells at a time
_THREADS = 4  # blocks computed at once, at most one per core

Neighbours = Dict[int, List[Tuple[int, float]]]  # movieId -> [(neighbour movieId, cosine similarity)], best first


@dataclasses.dataclass(frozen=True)
class Similarities:
    """Neighbours as arrays: row i (movie_ids[i]) holds positions[indptr[i]:indptr[i + 1]] into movie_ids, best
    first, with their similarities; what the estimator sums, without a Python object per pair."""
    movie_ids: np.ndarray  # sorted
    indptr: np.ndarray
    positions: np.ndarray
    similarities: np.ndarray

    def as_neighbours(self) -> Neighbours:
        ids, found = self.movie_ids[self.positions].tolist(), self.similarities.tolist()
        return {movie: list(zip(ids[self.indptr[i]:self.indptr[i + 1]], found[self.indptr[i]:self.indptr[i + 1]]))
                for i, movie in enumerate(self.movie_ids.tolist())}

    @classmethod
    def of(cls, movie_neighbours: Neighbours) -> "Similarities":
        movie_ids = np.array(sorted(set(movie_neighbours) | {n for row in movie_neighbours.values() for n, _ in row}),
                             np.int64)
        rows = [movie_neighbours.get(m, []) for m in movie_ids.tolist()]
        pairs = [pair for row in rows for pair in row]
        return cls(movie_ids, np.cumsum([0] + [len(row) for row in rows]),
                   positions(movie_ids, np.array([n for n, _ in pairs], np.int64))[0],
                   np.array([similarity for _, similarity in pairs], np.float64))


def neighbours(user_movies: Mapping[int, Iterable[int]], k: int = NEIGHBOURS) -> Neighbours:
    """Each rated movie's k most similar movies by binary cosine similarity over the users who rated them
    (co-raters / sqrt(raters of one x raters of the other)), similarity > 0 only; equal similarities by movieId."""
    return similarities(user_movies, k).as_neighbours()


def similarities(user_movies: Mapping[int, Iterable[int]], k: int = NEIGHBOURS) -> Similarities:
    """neighbours(), as arrays."""
    rated = {user: sorted(set(movies)) for user, movies in user_movies.items()}
    movie_ids = np.array(sorted({m for movies in rated.values() for m in movies}), np.int64)
    if not len(movie_ids):
        return Similarities(movie_ids, np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    position = {m: i for i, m in enumerate(movie_ids.tolist())}
    rows = np.repeat(np.arange(len(rated)), [len(movies) for movies in rated.values()])
    cols = np.fromiter((position[m] for movies in rated.values() for m in movies), np.int64, len(rows))
    ratings = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(rated), len(movie_ids)))
    raters = np.sqrt(np.asarray(ratings.sum(axis=0)).reshape(-1))
    by_movie = ratings.T.tocsr()
    block = max(1, _BLOCK_CELLS // len(movie_ids))

    def block_tops(start: int) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """A block of rows (memory stays block x movies): each row's top k positions and similarities."""
        similarity = (by_movie[start:start + block] @ ratings).toarray()  # co-raters, then divided in place
        similarity /= raters[start:start + block, None]
        similarity /= raters[None, :]
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = 0.0
        top_rows = _top_rows(similarity, k, positive_only=True)
        return top_rows, [similarity[row, top] for row, top in enumerate(top_rows)]

    tops: List[np.ndarray] = []
    found: List[np.ndarray] = []
    # NumPy and SciPy release the GIL in these loops: blocks in threads use every core, in block order
    with concurrent.futures.ThreadPoolExecutor(min(_THREADS, os.cpu_count() or 1)) as pool:
        for block_top, block_found in pool.map(block_tops, range(0, len(movie_ids), block)):
            tops += block_top
            found += block_found
    return Similarities(movie_ids, np.cumsum([0] + [len(top) for top in tops]), np.concatenate(tops),
                        np.concatenate(found))


def _top_rows(values: np.ndarray, k: int, positive_only: bool = False) -> List[np.ndarray]:
    """Each row's positions of its k largest values (of its values > 0 only, if positive_only), equal values by
    position (positions follow movieIds); every row at once."""
    n_rows, n_cols = values.shape
    lowest = np.partition(values, n_cols - k, axis=1)[:, n_cols - k] if k < n_cols else np.full(n_rows, -np.inf)
    if positive_only:
        lowest = np.maximum(lowest, np.nextafter(0.0, 1.0))  # the smallest value > 0
    rows, cols = np.nonzero(values >= lowest[:, None])
    order = np.lexsort((cols, -values[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n_rows + 1))
    return [cols[starts[r]:min(starts[r] + k, starts[r + 1])] for r in range(n_rows)]


def top_movies(scores: np.ndarray, movie_ids: np.ndarray, n: int) -> List[int]:
    """The n best-scored movieIds, equal scores by movieId (movie_ids sorted), as every top N here is cut."""
    return movie_ids[_top_rows(scores[None, :], n)[0]].tolist()


class Estimator:
    """Scores "will rate" for any user and candidates by the chosen estimate, from rating counts and neighbours:
    movie_neighbours over every rating, liked_neighbours over liked ratings only (none: item-kNN over the rated
    movies alone)."""

    def __init__(self, chosen: str, rating_counts: Mapping[int, int],
                 movie_neighbours: Union[Neighbours, Similarities],
                 liked_neighbours: Union[Neighbours, Similarities, None] = None):
        if chosen not in ESTIMATES:
            raise ValueError(f"unknown will-rate estimate {chosen!r}; one of {ESTIMATES}")
        self.chosen = chosen
        parts = [_as_similarities(found) for found in (movie_neighbours, liked_neighbours or {})]
        self._ids = np.union1d(np.array(sorted(rating_counts), np.int64),
                               np.union1d(parts[0].movie_ids, parts[1].movie_ids))
        self._counts = np.array([rating_counts.get(m, 0) or 0 for m in self._ids.tolist()], np.float64)
        self._similarity, self._liked_similarity = (self._matrix(found) for found in parts)

    def _matrix(self, found: Similarities) -> sparse.csr_matrix:
        rows = positions(self._ids, np.repeat(found.movie_ids, np.diff(found.indptr)))[0]
        cols = positions(self._ids, found.movie_ids[found.positions])[0]
        return sparse.csr_matrix((found.similarities, (rows, cols)), shape=(len(self._ids), len(self._ids)))

    def arrays(self) -> Tuple[np.ndarray, np.ndarray, sparse.csr_matrix, sparse.csr_matrix]:
        """What scores() sums: the movieIds it knows (sorted), their rating counts, and the similarity matrices over
        them (row: a movie of the user's, column: a candidate; every rating, then liked ratings), for the same sums
        in the pushed model's `recommend` signature (recommender/export.py)."""
        return self._ids, self._counts, self._similarity, self._liked_similarity

    def scores(self, user_movies: Iterable[int], candidates: Sequence[int], user_liked: Iterable[int] = ()
               ) -> np.ndarray:
        """One score per candidate for a user who rated user_movies and liked user_liked of them; higher is
        likelier rated."""
        return self.score_rows([user_movies], candidates, [user_liked])[0]

    def score_rows(self, users_movies: Sequence[Iterable[int]], candidates: Sequence[int],
                   users_liked: Optional[Sequence[Iterable[int]]] = None) -> np.ndarray:
        """scores() for several users at once: row i for the user who rated users_movies[i] (and liked
        users_liked[i])."""
        index, known = positions(self._ids, np.asarray(candidates, np.int64))
        counts = np.where(known, self._counts[index], 0.0) if len(self._ids) else np.zeros(len(index))
        if self.chosen == RATING_COUNT:
            return np.tile(counts + 1.0, (len(users_movies), 1))
        summed = _indicator(self._known(users_movies), len(self._ids)) @ self._similarity  # a repeat counts twice
        if users_liked is not None:
            summed = summed + _indicator(self._known(users_liked), len(self._ids)) @ self._liked_similarity
        summed = summed.toarray()
        knn = np.where(known, summed[:, index], 0.0) if len(self._ids) else np.zeros((len(users_movies), len(index)))
        return knn + counts / (self._counts.max(initial=0.0) + 1.0) * _TIE_BREAK  # the same for any candidates

    def _known(self, users_movies: Sequence[Iterable[int]]) -> List[np.ndarray]:
        """Each user's movies as positions in the estimator's movies, the unknown ones left out."""
        found = []
        for movies in users_movies:
            movie_index, movie_known = positions(self._ids, np.fromiter(movies, np.int64))
            found.append(movie_index[movie_known])
        return found


def _as_similarities(found: Union[Neighbours, Similarities]) -> Similarities:
    return found if isinstance(found, Similarities) else Similarities.of(found)


def _indicator(rows: Sequence[np.ndarray], n_cols: int) -> sparse.csr_matrix:
    """A sparse matrix with a 1 at (i, j) for each j in rows[i] (repeats add up)."""
    lengths = [len(columns) for columns in rows]
    return sparse.csr_matrix((np.ones(sum(lengths)), (np.repeat(np.arange(len(rows)), lengths),
                                                      np.concatenate([np.zeros(0, np.int64), *rows]))),
                             shape=(len(rows), n_cols))


def positions(sorted_ids: np.ndarray, movie_ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Each movie's position in sorted_ids, and whether it is there (its position is then meaningless)."""
    if not len(sorted_ids):
        return np.zeros(len(movie_ids), np.int64), np.zeros(len(movie_ids), bool)
    index = np.minimum(np.searchsorted(sorted_ids, movie_ids), len(sorted_ids) - 1)
    return index, sorted_ids[index] == movie_ids


@dataclasses.dataclass
class BackTest(top_n_metrics.BackTestRecord):
    chosen: str
    users: int  # users with >= MIN_RATINGS ratings who liked one of their last HOLD_OUT
    figures: Dict[str, Dict[str, float]]  # estimate -> metric@N -> mean over the users
    hold_out: int = HOLD_OUT
    top_n: int = top_n_metrics.TOP_N

    def summary(self) -> str:
        if not self.users:
            return (f"{self.chosen}: no user with {MIN_RATINGS} ratings liked one of their last {self.hold_out} to "
                    "back-test on, so the simplest estimate")
        figures = " vs ".join(
            f"{name} {self.figures[name][f'recall@{self.top_n}']:.4f}/{self.figures[name][f'hit@{self.top_n}']:.3f}"
            for name in (self.chosen, *(e for e in ESTIMATES if e != self.chosen)))
        return (f"{self.chosen}, by a back-test on each user's last {self.hold_out} training ratings: "
                f"recall@{self.top_n}/hit@{self.top_n} over {self.users} users {figures}")


def back_test(ratings: Iterable[sample_features.Rating], n: int = top_n_metrics.TOP_N) -> BackTest:
    """The estimate that best predicts each user's last HOLD_OUT liked movies from the rest (module docstring)."""
    by_user: Dict[int, List[sample_features.Rating]] = {}
    for rating in ratings:
        by_user.setdefault(rating.user_id, []).append(rating)
    kept: Dict[int, List[int]] = {}
    kept_liked: Dict[int, List[int]] = {}
    targets: Dict[int, set] = {}
    for user, user_ratings in by_user.items():
        ordered = sample_features.chronological(user_ratings)
        split = len(ordered) - HOLD_OUT if len(ordered) >= MIN_RATINGS else len(ordered)
        kept[user] = [r.movie_id for r in ordered[:split]]
        kept_liked[user] = [r.movie_id for r in ordered[:split] if sample_features.is_positive(r.rating)]
        seen = set(kept[user])
        liked = {r.movie_id for r in ordered[split:] if sample_features.is_positive(r.rating)} - seen
        if liked:
            targets[user] = liked
    if not targets:
        return BackTest(RATING_COUNT, 0, {}, HOLD_OUT, n)
    counts: Dict[int, int] = {}
    for movies in kept.values():
        for m in movies:
            counts[m] = counts.get(m, 0) + 1
    movie_ids = np.array(sorted({r.movie_id for rs in by_user.values() for r in rs}), np.int64)
    movie_neighbours, liked_neighbours = similarities(kept), similarities(kept_liked)
    users = sorted(targets)
    block = max(1, _BLOCK_CELLS // len(movie_ids))
    figures = {}
    for name in ESTIMATES:
        estimator = Estimator(name, counts, movie_neighbours, liked_neighbours)
        per_user = []
        for start in range(0, len(users), block):  # a block of users at a time: memory stays block x movies
            block_users = users[start:start + block]
            scores = estimator.score_rows([kept[user] for user in block_users], movie_ids,
                                          [kept_liked[user] for user in block_users])
            rated = _indicator([positions(movie_ids, np.array(kept[user], np.int64))[0] for user in block_users],
                               len(movie_ids)).nonzero()
            scores[rated] = -np.inf
            for user, top in zip(block_users, _top_rows(scores, n)):  # the top n of the movies not rated
                per_user.append(top_n_metrics.user_metrics(movie_ids[top].tolist(), targets[user]))
        figures[name] = top_n_metrics.means(per_user, n)
    chosen = top_n_metrics.best(ESTIMATES, figures, n)
    return BackTest(chosen, len(targets), figures, HOLD_OUT, n)
