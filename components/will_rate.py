"""How likely a user is to rate a movie: the "will rate" factor of the ranking score P(like | rated) x P(rated).

The model answers "liked, given rated"; a top N over the catalogue also needs "will the user rate it at all". Two
estimates, chosen per data set by a back-test, as the cold-start list is (components/cold_start.py):
- rating_count: the movie's rating count + 1, the same for every user (P(rated) without the user);
- item_knn: co-rating item-kNN, the summed cosine similarity (binary, over every rating) of the movie to the
  movies the user rated, each movie keeping its NEIGHBOURS most similar; the rating count breaks ties.
Which one predicts the next movies a user rates and likes depends on the data (how much co-rating structure there
is beyond popularity), so it is not fixed. The back-test holds out the last HOLD_OUT ratings of every user with at
least MIN_RATINGS in a history (the pipeline's training split), builds both estimates from the rest, ranks each
such user's unrated movies by each and keeps the one whose top N holds the larger share of the held-out liked
movies (recall@N, then hit@N, then NDCG@N; a tie goes to the simpler, the earlier of ESTIMATES). Served, the
estimate is built from every rating of the feature snapshot.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
from scipy import sparse

from components import sample_features, top_n_metrics

RATING_COUNT = "rating_count"
ITEM_KNN = "item_knn"
ESTIMATES = (RATING_COUNT, ITEM_KNN)  # the simpler first: it wins ties
DESCRIPTIONS = {RATING_COUNT: "(the movie's rating count + 1)",
                ITEM_KNN: "co-rating item-kNN over the user's rated movies"}
NEIGHBOURS = 50
HOLD_OUT = 5
MIN_RATINGS = 10
_TIE_BREAK = 1e-6  # the rating count's share of an item-kNN score: it only orders equal similarities
_BLOCK_CELLS = 4_000_000  # similarity rows are made dense this many cells at a time

Neighbours = Dict[int, List[Tuple[int, float]]]  # movieId -> [(neighbour movieId, cosine similarity)], best first


def neighbours(user_movies: Mapping[int, Iterable[int]], k: int = NEIGHBOURS) -> Neighbours:
    """Each rated movie's k most similar movies by binary cosine similarity over the users who rated them
    (co-raters / sqrt(raters of one x raters of the other)), similarity > 0 only; equal similarities by movieId."""
    rated = {user: sorted(set(movies)) for user, movies in user_movies.items()}
    movie_ids = np.array(sorted({m for movies in rated.values() for m in movies}), np.int64)
    if not len(movie_ids):
        return {}
    position = {m: i for i, m in enumerate(movie_ids.tolist())}
    rows = np.repeat(np.arange(len(rated)), [len(movies) for movies in rated.values()])
    cols = np.fromiter((position[m] for movies in rated.values() for m in movies), np.int64, len(rows))
    ratings = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(rated), len(movie_ids)))
    raters = np.sqrt(np.asarray(ratings.sum(axis=0)).reshape(-1))
    by_movie = ratings.T.tocsr()
    result: Neighbours = {}
    block = max(1, _BLOCK_CELLS // len(movie_ids))
    for start in range(0, len(movie_ids), block):  # a block of rows at a time: memory stays block x movies
        co_rated = (by_movie[start:start + block] @ ratings).toarray()
        similarity = co_rated / raters[start:start + block, None] / raters[None, :]
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = 0.0
        for row, values in enumerate(similarity):
            top = _top(values, k)
            result[int(movie_ids[start + row])] = [(int(movie_ids[j]), float(values[j])) for j in top
                                                   if values[j] > 0]
    return result


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest values, equal values by position (positions follow movieIds)."""
    if k >= len(values):
        return np.lexsort((np.arange(len(values)), -values))
    threshold = np.partition(values, len(values) - k)[len(values) - k]
    candidates = np.flatnonzero(values >= threshold)
    return candidates[np.lexsort((candidates, -values[candidates]))][:k]


def top_movies(scores: np.ndarray, movie_ids: np.ndarray, n: int) -> List[int]:
    """The n best-scored movieIds, equal scores by movieId (movie_ids sorted), as every top N here is cut."""
    return movie_ids[_top(scores, n)].tolist()


class Estimator:
    """Scores "will rate" for any user and candidates by the chosen estimate, from rating counts and neighbours."""

    def __init__(self, chosen: str, rating_counts: Mapping[int, int], movie_neighbours: Neighbours):
        if chosen not in ESTIMATES:
            raise ValueError(f"unknown will-rate estimate {chosen!r}; one of {ESTIMATES}")
        self.chosen = chosen
        self._ids = np.array(sorted(set(rating_counts) | set(movie_neighbours)
                                    | {n for pairs in movie_neighbours.values() for n, _ in pairs}), np.int64)
        self._counts = np.array([rating_counts.get(m, 0) or 0 for m in self._ids.tolist()], np.float64)
        pairs = [(movie, neighbour, similarity) for movie, row in movie_neighbours.items()
                 for neighbour, similarity in row]
        rows, cols = (self._positions(np.array([p[i] for p in pairs], np.int64))[0] for i in (0, 1))
        self._similarity = sparse.csr_matrix(([p[2] for p in pairs], (rows, cols)),
                                             shape=(len(self._ids), len(self._ids)))

    def _positions(self, movie_ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Each movie's position in the estimator's movies, and whether it is one of them."""
        index = np.minimum(np.searchsorted(self._ids, movie_ids), max(len(self._ids) - 1, 0))
        return index, (self._ids[index] == movie_ids) if len(self._ids) else np.zeros(len(movie_ids), bool)

    def scores(self, user_movies: Iterable[int], candidates: Sequence[int]) -> np.ndarray:
        """One score per candidate for a user who rated user_movies; higher is likelier rated."""
        index, known = self._positions(np.asarray(candidates, np.int64))
        counts = np.where(known, self._counts[index], 0.0) if len(self._ids) else np.zeros(len(index))
        if self.chosen == RATING_COUNT:
            return counts + 1.0
        rated, rated_known = self._positions(np.fromiter(user_movies, np.int64))
        summed = np.asarray(self._similarity[rated[rated_known]].sum(axis=0)).reshape(-1)
        knn = np.where(known, summed[index], 0.0) if len(self._ids) else np.zeros(len(index))
        return knn + counts / (counts.max(initial=0.0) + 1.0) * _TIE_BREAK


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
    targets: Dict[int, set] = {}
    for user, user_ratings in by_user.items():
        ordered = sample_features.chronological(user_ratings)
        split = len(ordered) - HOLD_OUT if len(ordered) >= MIN_RATINGS else len(ordered)
        kept[user] = [r.movie_id for r in ordered[:split]]
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
    movie_neighbours = neighbours(kept)
    figures = {}
    for name in ESTIMATES:
        estimator = Estimator(name, counts, movie_neighbours)
        per_user = []
        for user in sorted(targets):
            candidates = movie_ids[~np.isin(movie_ids, kept[user])]
            top = top_movies(estimator.scores(kept[user], candidates.tolist()), candidates, n)
            per_user.append(top_n_metrics.user_metrics(top, targets[user]))
        figures[name] = top_n_metrics.means(per_user, n)
    chosen = top_n_metrics.best(ESTIMATES, figures, n)
    return BackTest(chosen, len(targets), figures, HOLD_OUT, n)
