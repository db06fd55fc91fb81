"""How likely a user is to rate a movie: the "will rate" factor of the ranking score P(like | rated) x P(rated).

The model answers "liked, given rated"; a top N over the catalogue also needs "will the user rate it at all". Three
estimates, chosen per data set by a back-test, as the cold-start list is (recommender/cold_start.py):
- rating_count: the movie's rating count + 1, the same for every user (P(rated) without the user);
- item_knn: item-kNN in two parts, each movie keeping its NEIGHBOURS most similar: the summed cosine similarity
  (binary, over every rating) of the movie to the movies the user rated ("rated with what they rate"), plus the
  summed cosine similarity over liked ratings only to the movies the user liked ("liked with what they like");
  the rating count breaks ties. The liked part keeps a movie the user's dislikes are rated with from ranking as
  high as one their likes are: on the back-tests of ml-latest-small and the generated data it predicts more of
  the next liked movies than either part alone (docs/serving.md);
- item_knn_now (the default): the same two sums with each of the user's movies weighing half as much every
  HALF_LIFE_DAYS since the user rated it (what they watch now says more than what they watched years ago), times
  the square root of what is popular now + 1: the cold-start list popular_now's score (recommender/cold_start.py),
  each rating halved per the same HALF_LIFE_DAYS of age; the root keeps popularity from drowning the user's own
  neighbours. On a time split people rate what is new; all-time counts and similarities do not know it
  (docs/experiments.md).
Which one predicts the next movies a user rates and likes depends on the data (how fast what is watched changes,
how much co-rating structure there is beyond popularity), so it is not fixed. The back-test resembles the future:
it holds out BACK_TEST_WINDOWS consecutive windows of WINDOW_DAYS at the end of a history (the pipeline's training
split), and in each ranks, for every user who rated before the window and liked in it a movie they had not rated
before, that user's unrated movies by each estimate as of the window's start, neighbours included. The challenger
is the estimate with the best figures over every user-window (recall@N, then hit@N, then NDCG@N; a tie goes to the
earlier of ESTIMATES); it replaces the default only when it also beats the default in more than half of the windows
with users: one window is one draw of a noisy future. Served, the estimate is built from every rating of the
feature snapshot, as of its latest rating.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import sparse

from models import sample_features
from recommender import cold_start, top_n_metrics

RATING_COUNT = "rating_count"
ITEM_KNN = "item_knn"
ITEM_KNN_NOW = "item_knn_now"
ESTIMATES = (RATING_COUNT, ITEM_KNN, ITEM_KNN_NOW)  # the simpler first: it wins ties
DEFAULT = ITEM_KNN_NOW
KNN_ESTIMATES = (ITEM_KNN, ITEM_KNN_NOW)  # the estimates that read the neighbours
DAY = 86_400
HALF_LIFE_DAYS = cold_start.HALF_LIFE_DAYS  # one "now" for the user's movies and the movie's popularity
DESCRIPTIONS = {RATING_COUNT: "(the movie's rating count + 1)",
                ITEM_KNN: "item-kNN over the user's rated and liked movies",
                ITEM_KNN_NOW: f"item-kNN over the user's rated and liked movies (each halved per {HALF_LIFE_DAYS} "
                              f"days since rated) x the root of the movie's recent popularity"}
NEIGHBOURS = 200
BACK_TEST_WINDOWS = 4
WINDOW_DAYS = 90
MAX_WINDOW_USERS = 2_000  # a window's users beyond this are sampled (seeded): the back-test's cost stays bounded
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
    movies alone). item_knn_now also needs `now` (the time its weights are as of) and popularity (each movie's
    popular_now score as of now), and each user's rating times."""

    def __init__(self, chosen: str, rating_counts: Mapping[int, int],
                 movie_neighbours: Union[Neighbours, Similarities],
                 liked_neighbours: Union[Neighbours, Similarities, None] = None,
                 popularity: Optional[Mapping[int, float]] = None, now: Optional[int] = None):
        if chosen not in ESTIMATES:
            raise ValueError(f"unknown will-rate estimate {chosen!r}; one of {ESTIMATES}")
        if chosen == ITEM_KNN_NOW and (popularity is None or now is None):
            raise ValueError(f"{ITEM_KNN_NOW} needs the movies' recent popularity and the time it is as of")
        self.chosen = chosen
        self.now = now
        parts = [_as_similarities(found) for found in (movie_neighbours, liked_neighbours or {})]
        self._ids = np.union1d(np.array(sorted(rating_counts), np.int64),
                               np.union1d(parts[0].movie_ids, parts[1].movie_ids))
        self._counts = np.array([rating_counts.get(m, 0) or 0 for m in self._ids.tolist()], np.float64)
        # what the kNN sums are multiplied by: the root of what is popular now (+ 1), or 1
        self._scale = (np.sqrt(np.array([(popularity.get(m) or 0.0) + 1.0 for m in self._ids.tolist()], np.float64))
                       if chosen == ITEM_KNN_NOW else np.ones(len(self._ids)))
        self._similarity, self._liked_similarity = (self._matrix(found) for found in parts)

    def _matrix(self, found: Similarities) -> sparse.csr_matrix:
        rows = positions(self._ids, np.repeat(found.movie_ids, np.diff(found.indptr)))[0]
        cols = positions(self._ids, found.movie_ids[found.positions])[0]
        return sparse.csr_matrix((found.similarities, (rows, cols)), shape=(len(self._ids), len(self._ids)))

    def arrays(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, sparse.csr_matrix, sparse.csr_matrix]:
        """What scores() sums: the movieIds it knows (sorted), their rating counts, what their kNN sums are
        multiplied by, and the similarity matrices over them (row: a movie of the user's, column: a candidate; every
        rating, then liked ratings), for the same sums in the pushed model's `recommend` signature
        (recommender/export.py)."""
        return self._ids, self._counts, self._scale, self._similarity, self._liked_similarity

    def weights(self, movies: Sequence[int], times: Optional[Sequence[int]]) -> np.ndarray:
        """What each of a user's movies (rated at times) counts for in the kNN sums: 1, or for item_knn_now half as
        much every HALF_LIFE_DAYS before now."""
        if self.chosen != ITEM_KNN_NOW:
            return np.ones(len(movies))
        if times is None and not len(movies):
            return np.ones(0)
        if times is None or len(times) != len(movies):
            raise ValueError(f"{ITEM_KNN_NOW} needs a rating time for each of the user's movies")
        age_days = np.maximum(self.now - np.asarray(times, np.float64), 0.0) / DAY
        return np.exp2(-age_days / HALF_LIFE_DAYS)

    def scores(self, user_movies: Sequence[int], candidates: Sequence[int], user_liked: Iterable[int] = (),
               user_times: Optional[Sequence[int]] = None) -> np.ndarray:
        """One score per candidate for a user who rated user_movies (at user_times: item_knn_now) and liked
        user_liked of them; higher is likelier rated."""
        return self.score_rows([user_movies], candidates, [user_liked],
                               None if user_times is None else [user_times])[0]

    def score_rows(self, users_movies: Sequence[Sequence[int]], candidates: Sequence[int],
                   users_liked: Optional[Sequence[Iterable[int]]] = None,
                   users_times: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
        """scores() for several users at once: row i for the user who rated users_movies[i] (at users_times[i],
        item_knn_now only) and liked users_liked[i]."""
        index, known = positions(self._ids, np.asarray(candidates, np.int64))
        counts = np.where(known, self._counts[index], 0.0) if len(self._ids) else np.zeros(len(index))
        if self.chosen == RATING_COUNT:
            return np.tile(counts + 1.0, (len(users_movies), 1))
        users_movies = [list(movies) for movies in users_movies]
        weights = [self.weights(movies, None if users_times is None else users_times[i])
                   for i, movies in enumerate(users_movies)]
        summed = _weighted(*self._known(users_movies, weights), len(self._ids)) @ self._similarity
        if users_liked is not None:
            users_liked = [list(liked) for liked in users_liked]
            liked_weights = [weights_of_liked(movies, movie_weights, liked)
                             for movies, movie_weights, liked in zip(users_movies, weights, users_liked)]
            summed = summed + _weighted(*self._known(users_liked, liked_weights),
                                        len(self._ids)) @ self._liked_similarity
        summed = summed.toarray()
        knn = np.where(known, summed[:, index], 0.0) if len(self._ids) else np.zeros((len(users_movies), len(index)))
        scale = np.where(known, self._scale[index], 1.0) if len(self._ids) else np.ones(len(index))
        # the same tie-break for any candidates
        return knn * scale + counts / (self._counts.max(initial=0.0) + 1.0) * _TIE_BREAK

    def _known(self, users_movies: Sequence[Sequence[int]], weights: Sequence[np.ndarray]
               ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Each user's movies as positions in the estimator's movies and their weights, the unknown ones left
        out."""
        found, kept = [], []
        for movies, movie_weights in zip(users_movies, weights):
            movie_index, movie_known = positions(self._ids, np.asarray(movies, np.int64).reshape(-1))
            found.append(movie_index[movie_known])
            kept.append(np.asarray(movie_weights, np.float64)[movie_known])
        return found, kept


def weights_of_liked(movies: Sequence[int], weights: np.ndarray, liked: Sequence[int]) -> np.ndarray:
    """The weights (Estimator.weights, one per rated movie) of the liked movies among them."""
    weight_of = dict(zip(movies, np.asarray(weights).tolist()))
    return np.array([weight_of.get(m, 1.0) for m in liked], np.float64)


def _as_similarities(found: Union[Neighbours, Similarities]) -> Similarities:
    return found if isinstance(found, Similarities) else Similarities.of(found)


def _indicator(rows: Sequence[np.ndarray], n_cols: int) -> sparse.csr_matrix:
    """A sparse matrix with a 1 at (i, j) for each j in rows[i] (repeats add up)."""
    return _weighted(rows, [np.ones(len(columns)) for columns in rows], n_cols)


def _weighted(rows: Sequence[np.ndarray], weights: Sequence[np.ndarray], n_cols: int) -> sparse.csr_matrix:
    """A sparse matrix with weights[i][k] at (i, rows[i][k]) (repeats add up)."""
    lengths = [len(columns) for columns in rows]
    return sparse.csr_matrix((np.concatenate([np.zeros(0), *weights]),
                              (np.repeat(np.arange(len(rows)), lengths),
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
    users: int  # user-windows: a user who rated before a window and liked in it a movie not rated before
    figures: Dict[str, Dict[str, float]]  # estimate -> metric@N -> mean over the user-windows
    window_start: Optional[int] = None  # the held-out windows of the history, together: [start, end)
    window_end: Optional[int] = None
    top_n: int = top_n_metrics.TOP_N
    # Each window with users, the latest first: {"start", "end", "users", "winner", "challenger_wins"}.
    windows: List[Dict[str, object]] = dataclasses.field(default_factory=list)
    challenger: Optional[str] = None  # the best over every user-window, chosen only if it won most windows

    def summary(self) -> str:
        if not self.users:
            return (f"{self.chosen}: nobody who rated before liked a new movie in the training history's last "
                    f"{BACK_TEST_WINDOWS} x {WINDOW_DAYS} days to back-test on, so the default estimate")
        figures = " vs ".join(
            f"{name} {self.figures[name][f'recall@{self.top_n}']:.4f}/{self.figures[name][f'hit@{self.top_n}']:.3f}"
            for name in (self.chosen, *(e for e in ESTIMATES if e != self.chosen)))
        winners = ", ".join(str(window["winner"]) for window in self.windows)
        found = (f"{self.chosen}, by a back-test on {len(self.windows)} windows of {WINDOW_DAYS} days at the end of "
                 f"the training history (winners, latest first: {winners}): recall@{self.top_n}/hit@{self.top_n} "
                 f"over {self.users} user-windows {figures}")
        if self.challenger and self.challenger != self.chosen:
            wins = sum(1 for window in self.windows if window["challenger_wins"])
            found += (f"; {self.challenger} was best over them but beat the default in {wins} of "
                      f"{len(self.windows)} windows only")
        return found


@dataclasses.dataclass(frozen=True)
class UserHistory:
    """Each user's movies before a time, sorted, with the latest time each was rated, and the liked ones."""
    movies: Dict[int, np.ndarray]
    times: Dict[int, np.ndarray]
    liked: Dict[int, np.ndarray]

    @classmethod
    def of(cls, users: np.ndarray, movies: np.ndarray, stars: np.ndarray, times: np.ndarray) -> "UserHistory":
        order = np.lexsort((times, movies, users))
        users, movies, stars, times = users[order], movies[order], stars[order], times[order]
        last = np.ones(len(users), bool)  # a (user, movie)'s latest rating
        last[:-1] = (users[1:] != users[:-1]) | (movies[1:] != movies[:-1])
        users, movies, stars, times = users[last], movies[last], stars[last], times[last]
        liked = sample_features.is_positive(stars)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0, np.int64)
        bounds = zip(starts.tolist(), np.r_[starts[1:], len(users)].tolist())
        found: Tuple[dict, dict, dict] = ({}, {}, {})
        for begin, stop in bounds:
            user = int(users[begin])
            found[0][user], found[1][user] = movies[begin:stop], times[begin:stop]
            found[2][user] = movies[begin:stop][liked[begin:stop]]
        return cls(*found)


def back_test(ratings: Iterable[sample_features.Rating], n: int = top_n_metrics.TOP_N,
              windows: int = BACK_TEST_WINDOWS) -> BackTest:
    """The estimate that best predicts, from the ratings before each of a history's last `windows` windows of
    WINDOW_DAYS, the new movies its users liked in it (module docstring)."""
    rows = np.array([r.astuple() for r in ratings], np.float64).reshape(-1, 4)
    if not len(rows):
        return BackTest(DEFAULT, 0, {}, top_n=n)
    users, movies, stars = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2]
    times = rows[:, 3].astype(np.int64)
    end = int(times.max()) + 1  # the history's last rating is in the latest window
    earliest = end - windows * WINDOW_DAYS * DAY
    pooled: Dict[str, list] = {name: [] for name in ESTIMATES}
    found: List[Dict[str, object]] = []
    per_window: List[Dict[str, Dict[str, float]]] = []
    for window in range(windows):
        window_end = end - window * WINDOW_DAYS * DAY
        window_start = window_end - WINDOW_DAYS * DAY
        figures = _window_figures(users, movies, stars, times, window_start, window_end, n)
        if not figures[DEFAULT]:
            continue
        means = {name: top_n_metrics.means(figures[name], n) for name in ESTIMATES}
        per_window.append(means)
        found.append({"start": window_start, "end": window_end, "users": len(figures[DEFAULT]),
                      "winner": top_n_metrics.best(ESTIMATES, means, n)})
        for name in ESTIMATES:
            pooled[name] += figures[name]
    if not found:
        return BackTest(DEFAULT, 0, {}, earliest, end, n)
    figures = {name: top_n_metrics.means(pooled[name], n) for name in ESTIMATES}
    chosen, challenger, wins = choose(figures, per_window, n)
    for window, won in zip(found, wins):
        window["challenger_wins"] = won
    return BackTest(chosen, len(pooled[DEFAULT]), figures, int(found[-1]["start"]), end, n, found, challenger)


def choose(pooled: Mapping[str, Mapping[str, float]], per_window: Sequence[Mapping[str, Mapping[str, float]]],
           n: int = top_n_metrics.TOP_N) -> Tuple[str, str, List[bool]]:
    """(chosen, challenger, whether the challenger beat the default in each window): the challenger is the best
    estimate over every user-window (pooled), chosen only if it beats DEFAULT in more than half of the windows; an
    equal window goes to the default."""
    challenger = top_n_metrics.best(ESTIMATES, pooled, n)
    wins = [challenger != DEFAULT and top_n_metrics.best((DEFAULT, challenger), means, n) == challenger
            for means in per_window]
    return (challenger if 2 * sum(wins) > len(per_window) else DEFAULT), challenger, wins


def _window_figures(users: np.ndarray, movies: np.ndarray, stars: np.ndarray, times: np.ndarray, start: int,
                    end: int, n: int) -> Dict[str, List[Dict[str, float]]]:
    """Each estimate's per-user figures over the users who rated before start and liked, in [start, end), a movie
    they had not rated before start, every estimate (its neighbours too) as of start, as a snapshot then would
    serve it; at most MAX_WINDOW_USERS of them (seeded)."""
    before = times < start
    history = UserHistory.of(users[before], movies[before], stars[before], times[before])
    liked_in_window = ~before & (times < end) & sample_features.is_positive(stars)
    targets: Dict[int, set] = {}
    for user, movie in zip(users[liked_in_window].tolist(), movies[liked_in_window].tolist()):
        if user in history.movies:
            targets.setdefault(user, set()).add(movie)
    for user in list(targets):
        targets[user] -= set(history.movies[user].tolist())
        if not targets[user]:
            del targets[user]
    scored = sorted(targets)
    if len(scored) > MAX_WINDOW_USERS:
        scored = sorted(np.random.default_rng(start).choice(scored, MAX_WINDOW_USERS, replace=False).tolist())
    found: Dict[str, List[Dict[str, float]]] = {name: [] for name in ESTIMATES}
    if not scored:
        return found
    movie_ids, estimators = estimators_as_of(history, users[before], movies[before], times[before], start)
    block = max(1, _BLOCK_CELLS // len(movie_ids))
    for name, estimator in estimators.items():
        for first in range(0, len(scored), block):  # a block of users at a time: memory stays block x movies
            block_users = scored[first:first + block]
            scores = estimator.score_rows([history.movies[u] for u in block_users], movie_ids,
                                          [history.liked[u] for u in block_users],
                                          [history.times[u] for u in block_users])
            rated = _indicator([positions(movie_ids, history.movies[u])[0] for u in block_users],
                               len(movie_ids)).nonzero()
            scores[rated] = -np.inf
            for user, top in zip(block_users, _top_rows(scores, n)):  # the top n of the movies not rated
                found[name].append(top_n_metrics.user_metrics(movie_ids[top].tolist(), targets[user]))
    return found


def estimators_as_of(history: UserHistory, users: np.ndarray, movies: np.ndarray, times: np.ndarray, now: int
                     ) -> Tuple[np.ndarray, Dict[str, Estimator]]:
    """The movies rated (sorted) and every estimate as a snapshot at `now` would serve them, from the ratings
    (users, movies, times: every one before now) and history, the same ratings per user."""
    movie_ids, counts = np.unique(movies, return_counts=True)
    popularity = cold_start.scores(np.searchsorted(movie_ids, movies), times, now, len(movie_ids))[
        cold_start.POPULAR_NOW]
    neighbours = (similarities({u: m.tolist() for u, m in history.movies.items()}),
                  similarities({u: m.tolist() for u, m in history.liked.items()}))
    rating_counts = dict(zip(movie_ids.tolist(), counts.tolist()))
    recent = dict(zip(movie_ids.tolist(), popularity.tolist()))
    return movie_ids, {name: Estimator(name, rating_counts, *neighbours, popularity=recent, now=now)
                       for name in ESTIMATES}
