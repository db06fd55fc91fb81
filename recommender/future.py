"""The future as the yardstick: lists made from the ratings before a time T, scored on what users liked after it.

A `FuturePeriod` is cut from ratings at a boundary [as_of, until) (seconds since 1970): its history is every rating
before as_of; its targets are, per user, the movies the user liked (`sample_features.is_positive`, rating >=
features.POSITIVE_RATING) in [as_of, until) and had not rated before as_of. Every user with a target is scored:
"known" if they rated anything before as_of, "new" if not. A user's candidates are the movies of the catalogue (given,
e.g. the feature snapshot's movies; by default every movie rated before as_of) the user had not rated before as_of.
Targets are not limited to the catalogue: a liked movie no list could hold still counts in recall's denominator.

Baselines, each from the history alone, over the same candidates (`baselines`):
- most_rated, recent_most_rated: the cold-start rankers' own scores as of as_of (`cold_start.scores`: ratings
  before as_of, and those in the last cold_start.RECENT_DAYS before it); defined for every user.
- item_knn: binary cosine similarity over every rating (co-raters / sqrt(raters x raters), as
  `will_rate.similarities`), all neighbours; a user's score for movie j is the sum over the movies i they rated of
  sim(i, j). Computed per block of users as (X_u D^-1/2 X^T) X D^-1/2 with sparse products: no movies x movies
  matrix, dense memory block x movies (BLOCK_CELLS).
- ease: EASE (Steck 2019), B = I - P diag(1/diag(P)), P = (X^T X + lambda I)^-1, over the binary users x movies
  matrix X of the history restricted to its `items` most-rated movies (default EASE_ITEMS; candidates outside score
  -inf). lambda is chosen on the history itself (`choose_lambda`): EASE fitted on the ratings before
  as_of - holdout_days for each lambda of a grid, scored by recall@10 (then hit@10, NDCG@10; a tie goes to the
  earlier lambda) on the known users of [as_of - holdout_days, as_of). Memory: with fewer movies N than users, one
  dense N x N float64 matrix (N^2 x 8 bytes: 800 MB at N = 10,000; X^T X + lambda I is inverted and turned into B
  in place); with fewer users U than movies, the same B through the Woodbury identity
  P = (I - X^T (X X^T + lambda I)^-1 X) / lambda, from an eigendecomposition of the U x U Gram matrix shared by
  every lambda (U x N + 2 U^2 floats, below N^2).
item_knn and ease are not defined for new users (a ranker returns None for them).

Scoring (`per_user`, `score`): each ranker's top TOP_N of a user's candidates, equal scores by movieId
(`will_rate.top_movies`, as every top N of the project is cut), against the user's targets by
`top_n_metrics.user_metrics`: hit@10, recall@10 = hits / |targets| (not / min(10, |targets|)), NDCG@10 with binary
gains. Per-user figures can be pooled over periods (`pool`) and compared by a paired bootstrap over users
(`bootstrap_ratio`). Nothing here draws an unseeded random number: the same ratings give the same figures.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from models import sample_features
from recommender import cold_start, top_n_metrics, will_rate

TOP_N = top_n_metrics.TOP_N
DAY = cold_start.DAY
KNOWN = "known"  # users who rated something before as_of
NEW = "new"  # users who did not
GROUPS = (KNOWN, NEW)
MOST_RATED = cold_start.MOST_RATED
RECENT_MOST_RATED = cold_start.RECENT_MOST_RATED
ITEM_KNN = "item_knn"
EASE = "ease"
BASELINES = (MOST_RATED, RECENT_MOST_RATED, ITEM_KNN, EASE)
EASE_ITEMS = 10_000  # EASE's movies: the most-rated ones (memory N^2 x 8 bytes, module docstring)
LAMBDAS = (10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)
DEFAULT_LAMBDA = 500.0  # EASE's lambda when the holdout window has no known user with a target
HOLDOUT_DAYS = 90  # EASE's lambda is chosen on the history's last HOLDOUT_DAYS
USER_BLOCK = 256  # users ranked together by score()
BLOCK_CELLS = 4_000_000  # a personal baseline's dense scores (users x movies) at a time

# ranker(userId, candidate movieIds, sorted) -> one score per candidate, higher first; None: not defined for the
# user (item_knn and ease for a new user). A ranker with rank_users(userIds, candidate arrays) -> [scores or None]
# is given a block of users at once.
Ranker = Callable[[int, np.ndarray], Optional[np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Ratings:
    """Ratings as columns (one entry per Rating)."""
    users: np.ndarray  # int64
    movies: np.ndarray  # int64
    stars: np.ndarray  # float64
    times: np.ndarray  # int64, seconds since 1970

    @classmethod
    def of(cls, ratings: Iterable[sample_features.Rating]) -> "Ratings":
        rows = np.array([r.astuple() for r in ratings], np.float64).reshape(-1, 4)
        return cls(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2], rows[:, 3].astype(np.int64))

    def rows(self) -> Iterator[sample_features.Rating]:
        """The ratings as Ratings, in column order."""
        for user, movie, stars, time in zip(self.users.tolist(), self.movies.tolist(), self.stars.tolist(),
                                            self.times.tolist()):
            yield sample_features.Rating(user, movie, stars, time)

    def where(self, mask: np.ndarray) -> "Ratings":
        return Ratings(self.users[mask], self.movies[mask], self.stars[mask], self.times[mask])

    def __len__(self) -> int:
        return len(self.users)


@dataclasses.dataclass(frozen=True)
class HistoryMatrix:
    """The binary users x movies matrix of a history: 1 where the user rated the movie (repeats count once)."""
    user_ids: np.ndarray  # sorted; row i
    movie_ids: np.ndarray  # sorted; column j
    binary: sparse.csr_matrix

    @classmethod
    def of(cls, ratings: Ratings) -> "HistoryMatrix":
        user_ids, rows = np.unique(ratings.users, return_inverse=True)
        movie_ids, cols = np.unique(ratings.movies, return_inverse=True)
        binary = sparse.csr_matrix((np.ones(len(rows)), (rows.reshape(-1), cols.reshape(-1))),
                                   shape=(len(user_ids), len(movie_ids)))
        binary.sum_duplicates()
        binary.sort_indices()
        binary.data[:] = 1.0
        return cls(user_ids, movie_ids, binary)

    def rows(self, user_ids: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Each user's row, and whether the user has one (rated anything)."""
        return will_rate.positions(self.user_ids, np.asarray(user_ids, np.int64).reshape(-1))

    def rated(self, user_id: int) -> np.ndarray:
        """The movies the user rated, sorted."""
        [row], [known] = self.rows([user_id])
        if not known:
            return np.zeros(0, np.int64)
        return self.movie_ids[self.binary.indices[self.binary.indptr[row]:self.binary.indptr[row + 1]]]

    def rating_counts(self) -> np.ndarray:
        """Each movie's number of raters."""
        return np.asarray(self.binary.sum(axis=0)).reshape(-1)


@dataclasses.dataclass(frozen=True, eq=False)
class FuturePeriod:
    """The history before as_of and what each user liked in [as_of, until) (module docstring)."""
    as_of: int
    until: int
    history: Ratings  # every rating before as_of
    matrix: HistoryMatrix  # the history's users x movies
    catalogue: np.ndarray  # the movies candidates are drawn from, sorted
    targets: Mapping[int, np.ndarray]  # scored user -> liked movies in [as_of, until) not rated before, sorted
    known_users: np.ndarray  # scored users who rated before as_of, sorted
    new_users: np.ndarray  # scored users who did not, sorted

    @classmethod
    def of(cls, ratings: Union[Ratings, Iterable[sample_features.Rating]], as_of: int, until: int,
           catalogue: Optional[Iterable[int]] = None) -> "FuturePeriod":
        """The period [as_of, until) of ratings (any order; ratings from until on are ignored)."""
        as_of, until = int(as_of), int(until)
        if until <= as_of:
            raise ValueError(f"a period ends after it starts: until {until} <= as_of {as_of}")
        columns = ratings if isinstance(ratings, Ratings) else Ratings.of(ratings)
        before = columns.times < as_of
        history = columns.where(before)
        matrix = HistoryMatrix.of(history)
        liked = ~before & (columns.times < until) & sample_features.is_positive(columns.stars)
        liked_by: Dict[int, set] = {}
        for user, movie in zip(columns.users[liked].tolist(), columns.movies[liked].tolist()):
            liked_by.setdefault(user, set()).add(movie)
        targets = {}
        for user in sorted(liked_by):
            fresh = np.setdiff1d(np.array(sorted(liked_by[user]), np.int64), matrix.rated(user), assume_unique=True)
            if len(fresh):
                targets[user] = fresh
        scored = np.array(sorted(targets), np.int64)
        known = matrix.rows(scored)[1]
        movies = matrix.movie_ids if catalogue is None else np.unique(np.fromiter(catalogue, np.int64))
        return cls(as_of, until, history, matrix, movies, targets, scored[known], scored[~known])

    def users(self, group: str) -> np.ndarray:
        return {KNOWN: self.known_users, NEW: self.new_users}[group]

    def rated(self, user_id: int) -> np.ndarray:
        """The movies the user rated before as_of, sorted."""
        return self.matrix.rated(user_id)

    def candidates(self, user_id: int) -> np.ndarray:
        """The catalogue's movies the user had not rated before as_of, sorted."""
        return np.setdiff1d(self.catalogue, self.rated(user_id), assume_unique=True)

    def holdout(self, days: float = HOLDOUT_DAYS) -> "FuturePeriod":
        """The history's own last `days` as a period: [as_of - days, as_of), over its own earlier ratings."""
        return FuturePeriod.of(self.history, self.as_of - int(days * DAY), self.as_of)


# The baselines


def _lookup(movie_ids: np.ndarray, values: np.ndarray, missing: float = 0.0) -> Ranker:
    """A non-personalised ranker: each candidate's value (missing for a movie not in movie_ids)."""
    def rank(user_id: int, candidates: np.ndarray) -> np.ndarray:
        index, known = will_rate.positions(movie_ids, np.asarray(candidates, np.int64))
        return np.where(known, values[index], missing) if len(movie_ids) else np.full(len(index), missing)
    return rank


def cold_start_lists(period: FuturePeriod) -> Dict[str, Ranker]:
    """Every cold-start ranker as of as_of, by its own scores (`cold_start.scores`), as the snapshot serves it."""
    movie_ids, positions = np.unique(period.history.movies, return_inverse=True)
    counts = cold_start.scores(positions.reshape(-1), period.history.times, period.as_of, len(movie_ids))
    return {name: _lookup(movie_ids, counts[name]) for name in cold_start.RANKERS}


def popularity(period: FuturePeriod) -> Dict[str, Ranker]:
    """most_rated and recent_most_rated as of as_of (`cold_start_lists`)."""
    lists = cold_start_lists(period)
    return {name: lists[name] for name in (MOST_RATED, RECENT_MOST_RATED)}


class _PersonalRanker:
    """A ranker from a user's row of the history: scores over `movie_ids` for a block of users at a time (at most
    block_cells dense scores); None for a user without a row (a new user)."""
    missing = 0.0  # a candidate outside movie_ids

    def __init__(self, matrix: HistoryMatrix, movie_ids: np.ndarray, block_cells: int):
        self._matrix = matrix
        self._ids = movie_ids
        self._block = max(1, block_cells // max(1, len(movie_ids)))

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores, one row per matrix row given, one column per movie_ids."""
        raise NotImplementedError

    def __call__(self, user_id: int, candidates: np.ndarray) -> Optional[np.ndarray]:
        return self.rank_users([user_id], [candidates])[0]

    def rank_users(self, user_ids: Sequence[int], candidates: Sequence[np.ndarray]) -> List[Optional[np.ndarray]]:
        rows, known = self._matrix.rows(user_ids)
        found: List[Optional[np.ndarray]] = [None] * len(rows)
        present = np.flatnonzero(known)
        for start in range(0, len(present), self._block):
            part = present[start:start + self._block]
            scores = self._scores(rows[part])
            for k, i in enumerate(part.tolist()):
                index, inside = will_rate.positions(self._ids, np.asarray(candidates[i], np.int64))
                found[i] = np.where(inside, scores[k, index], self.missing)
        return found


class ItemKnn(_PersonalRanker):
    """Item-kNN over every rating, all neighbours (module docstring): the sum of the binary cosine similarities of a
    movie to the movies the user rated, a movie's similarity to itself left out."""

    def __init__(self, period: FuturePeriod, block_cells: int = BLOCK_CELLS):
        super().__init__(period.matrix, period.matrix.movie_ids, block_cells)
        self._binary = period.matrix.binary
        self._norm = 1.0 / np.sqrt(period.matrix.rating_counts())  # every history movie has a rater
        self._scaled_transposed = (sparse.diags(self._norm) @ self._binary.T).tocsr()  # D^-1/2 X^T: movies x users

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        rated = self._binary[rows]
        user_users = rated @ self._scaled_transposed  # X_u D^-1/2 X^T: block x users, no movies x movies product
        summed = (user_users @ self._binary).toarray()
        summed *= self._norm[None, :]
        summed -= rated.toarray()  # sim(j, j) = co-raters / raters = 1 for each rated movie j
        return summed


class EaseGram:
    """What EASE needs whatever its lambda: the history's `items` most-rated movies (equal counts by movieId) and,
    with fewer users than those movies, the eigendecomposition of the users x users Gram matrix X X^T."""

    def __init__(self, matrix: HistoryMatrix, items: int = EASE_ITEMS, block_cells: int = BLOCK_CELLS):
        if items < 1:
            raise ValueError(f"EASE needs at least one movie, not items={items}")
        kept = np.sort(np.lexsort((matrix.movie_ids, -matrix.rating_counts()))[:items])
        self.movie_ids = matrix.movie_ids[kept]
        self.binary = matrix.binary[:, kept].tocsr()  # the matrix's rows, the kept movies' columns
        self.dual = self.binary.shape[0] < self.binary.shape[1]  # fewer users than movies: the Woodbury form
        self._block_cells = block_cells
        if self.dual:
            values, self._vectors = np.linalg.eigh((self.binary @ self.binary.T).toarray())
            self._values = np.maximum(values, 0.0)  # X X^T is positive semi-definite: rounding only
            self._projected = np.ascontiguousarray(np.asarray(self.binary.T @ self._vectors).T)  # Q^T X: users x N

    def weights(self, lam: float) -> Callable[[sparse.csr_matrix], np.ndarray]:
        """rows (the binary rows of users, over movie_ids) -> their EASE scores X_u B for this lambda, dense."""
        if not lam > 0:
            raise ValueError(f"EASE's lambda must be positive, not {lam}")
        if not self.dual:
            weights = ease_weights(self.binary, lam, self._block_cells)
            return lambda rows: np.asarray(rows @ weights)
        # P = (I - X^T Q diag(1/(s + lambda)) Q^T X) / lambda, so lambda diag(P) = 1 - sum_k Z_kj^2 / (s_k + lambda)
        # and X_u B = X_u - X_u P / diag(P) = X_u - (X_u - M) / (lambda diag(P)), M = (X_u X^T Q) diag(...) Z
        inverse = 1.0 / (self._values + lam)
        scaled_diagonal = 1.0 - np.einsum("k,kj,kj->j", inverse, self._projected, self._projected)

        def scores(rows: sparse.csr_matrix) -> np.ndarray:
            dense = rows.toarray()
            through_users = (np.asarray((rows @ self.binary.T).toarray()) @ self._vectors) * inverse[None, :]
            return dense - (dense - through_users @ self._projected) / scaled_diagonal[None, :]
        return scores


def ease_weights(binary: sparse.spmatrix, lam: float, block_cells: int = BLOCK_CELLS) -> np.ndarray:
    """EASE's B = I - P diag(1/diag(P)), P = (X^T X + lam I)^-1, for the binary users x N matrix X: one dense
    N x N array (N^2 x 8 bytes), the Gram matrix built into it a block of columns at a time, then inverted and
    scaled in place. B's diagonal is zero."""
    n = binary.shape[1]
    by_movie = sparse.csc_matrix(binary)
    transposed = by_movie.T.tocsr()
    gram = np.empty((n, n))
    step = max(1, block_cells // max(1, n))
    for start in range(0, n, step):
        gram[:, start:start + step] = (transposed @ by_movie[:, start:start + step]).toarray()
    gram[np.diag_indices(n)] += lam
    weights = _inverse_positive_definite(gram, block_cells)
    weights /= -np.diag(weights).copy()[None, :]
    weights[np.diag_indices(n)] = 0.0
    return weights


def _inverse_positive_definite(a: np.ndarray, block_cells: int = BLOCK_CELLS) -> np.ndarray:
    """The inverse of the symmetric positive definite a, computed in a's memory (a is overwritten): Cholesky
    (LAPACK potrf, potri) on a's transpose, which is a in Fortran order, then the upper triangle mirrored."""
    factor, info = lapack.dpotrf(a.T, lower=False, clean=False, overwrite_a=True)
    if info:
        raise np.linalg.LinAlgError(f"not positive definite (potrf info {info})")
    inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info:
        raise np.linalg.LinAlgError(f"singular (potri info {info})")
    n = len(inverse)
    step = max(1, block_cells // max(1, n))
    for start in range(0, n, step):  # the lower triangle from the upper, a block of rows at a time
        stop = min(n, start + step)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        block = inverse[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        block[lower] = block.T[lower]
    return inverse


class EaseRanker(_PersonalRanker):
    """EASE's scores for a user's row of the history, -inf for a candidate outside its movies."""
    missing = -np.inf

    def __init__(self, matrix: HistoryMatrix, gram: EaseGram, lam: float, block_cells: int = BLOCK_CELLS,
                 choice: Optional["LambdaChoice"] = None):
        super().__init__(matrix, gram.movie_ids, block_cells)
        self.lam = float(lam)
        self.choice = choice  # how lam was chosen, if it was
        self._gram = gram
        self._weights = gram.weights(self.lam)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return self._weights(self._gram.binary[rows])


@dataclasses.dataclass
class LambdaChoice(top_n_metrics.BackTestRecord):
    """EASE's lambda, chosen on the history's last holdout days."""
    chosen: float
    users: int  # known users of the holdout window with a target (0: DEFAULT_LAMBDA, nothing to choose on)
    holdout_start: int
    holdout_end: int
    figures: Dict[str, Dict[str, float]]  # f"{lambda:g}" -> metric@N over the users
    top_n: int = TOP_N


def choose_lambda(period: FuturePeriod, items: int = EASE_ITEMS, lambdas: Sequence[float] = LAMBDAS,
                  holdout_days: float = HOLDOUT_DAYS, block_cells: int = BLOCK_CELLS, top_n: int = TOP_N
                  ) -> LambdaChoice:
    """The lambda whose EASE, fitted on the ratings before as_of - holdout_days, best predicts what the known users
    liked in [as_of - holdout_days, as_of) (recall@N, then hit@N, then NDCG@N; a tie goes to the earlier lambda)."""
    if not len(lambdas):
        raise ValueError("no lambda to choose from")
    holdout = period.holdout(holdout_days)
    if not len(holdout.known_users):
        return LambdaChoice(DEFAULT_LAMBDA, 0, holdout.as_of, holdout.until, {}, top_n)
    gram = EaseGram(holdout.matrix, items, block_cells)
    by_name = {f"{float(lam):g}": float(lam) for lam in lambdas}
    figures = {}
    for name, lam in by_name.items():  # one lambda's weights at a time
        figures[name] = score(holdout, {name: EaseRanker(holdout.matrix, gram, lam, block_cells)}, top_n,
                              groups=(KNOWN,))[KNOWN][name]
    chosen = top_n_metrics.best(list(by_name), figures, top_n)
    return LambdaChoice(by_name[chosen], len(holdout.known_users), holdout.as_of, holdout.until, figures, top_n)


def ease(period: FuturePeriod, lam: Optional[float] = None, items: int = EASE_ITEMS,
         lambdas: Sequence[float] = LAMBDAS, holdout_days: float = HOLDOUT_DAYS, block_cells: int = BLOCK_CELLS
         ) -> EaseRanker:
    """EASE over the period's history; lam None: chosen by `choose_lambda` (the ranker's .choice)."""
    choice = None
    if lam is None:
        choice = choose_lambda(period, items, lambdas, holdout_days, block_cells)
        lam = choice.chosen
    return EaseRanker(period.matrix, EaseGram(period.matrix, items, block_cells), lam, block_cells, choice)


def baselines(period: FuturePeriod, lam: Optional[float] = None, items: int = EASE_ITEMS,
              lambdas: Sequence[float] = LAMBDAS, holdout_days: float = HOLDOUT_DAYS,
              block_cells: int = BLOCK_CELLS) -> Dict[str, Ranker]:
    """The four baselines of BASELINES over the period's history, in that order."""
    rankers = popularity(period)
    rankers[ITEM_KNN] = ItemKnn(period, block_cells)
    rankers[EASE] = ease(period, lam, items, lambdas, holdout_days, block_cells)
    return rankers


# Scoring


@dataclasses.dataclass(frozen=True)
class GroupFigures:
    """A group's users and each ranker's figures per user, in the same order (pooled: user-periods)."""
    users: np.ndarray
    figures: Dict[str, Optional[Dict[str, np.ndarray]]]  # ranker -> metric@N -> values; None: not defined here

    def summary(self) -> dict:
        """{"users": n, ranker: {metric@N: mean} (None: not defined for the group, or no users)}."""
        found: dict = {"users": len(self.users)}
        for name, values in self.figures.items():
            found[name] = None if values is None or not len(self.users) else {
                metric: float(np.mean(column)) for metric, column in values.items()}
        return found


def per_user(period: FuturePeriod, rankers: Mapping[str, Ranker], top_n: int = TOP_N,
             groups: Sequence[str] = GROUPS) -> Dict[str, GroupFigures]:
    """Each group's users (sorted) and each ranker's hit@N, recall@N and NDCG@N per user. A ranker is defined for
    all of a group's users (None for none of them: item_knn and ease for new users)."""
    result = {}
    for group in groups:
        users = period.users(group)
        found: Dict[str, List[Optional[Dict[str, float]]]] = {name: [] for name in rankers}
        for start in range(0, len(users), USER_BLOCK):
            block = users[start:start + USER_BLOCK].tolist()
            candidates = [period.candidates(user) for user in block]
            for name, ranker in rankers.items():
                for user, movies, scores in zip(block, candidates, _rank(ranker, block, candidates)):
                    found[name].append(None if scores is None else
                                       _metrics(_top(name, scores, movies, top_n), period.targets[user]))
        result[group] = GroupFigures(users.copy(), {name: _columns(name, group, values, top_n)
                                                    for name, values in found.items()})
    return result


def score(period: FuturePeriod, rankers: Mapping[str, Ranker], top_n: int = TOP_N, groups: Sequence[str] = GROUPS
          ) -> Dict[str, dict]:
    """{"known": {"users": n, ranker: {"hit@10": ..., "recall@10": ..., "ndcg@10": ...}}, "new": {...}}: means
    over each group's users (`per_user`); a ranker not defined for a group, or a group without users, has None."""
    return {group: figures.summary() for group, figures in per_user(period, rankers, top_n, groups).items()}


def _rank(ranker: Ranker, user_ids: List[int], candidates: List[np.ndarray]) -> List[Optional[np.ndarray]]:
    together = getattr(ranker, "rank_users", None)
    return together(user_ids, candidates) if together else [ranker(u, c) for u, c in zip(user_ids, candidates)]


def _top(name: str, scores: np.ndarray, movies: np.ndarray, top_n: int) -> List[int]:
    """The top_n candidates by score, equal scores by movieId (the candidates are sorted)."""
    scores = np.asarray(scores, np.float64)
    if scores.shape != movies.shape or np.isnan(scores).any():
        raise ValueError(f"ranker {name!r} gave {scores.shape} scores (NaN: {np.isnan(scores).any()}) for "
                         f"{len(movies)} candidates")
    return will_rate.top_movies(scores, movies, top_n) if len(movies) else []


def _metrics(top: List[int], targets: np.ndarray) -> Dict[str, float]:
    if not top:  # no candidate left: nothing recommended, nothing found
        return dict.fromkeys(top_n_metrics.METRICS, 0.0)
    return top_n_metrics.user_metrics(top, set(targets.tolist()))


def _columns(name: str, group: str, found: List[Optional[Dict[str, float]]], top_n: int
             ) -> Optional[Dict[str, np.ndarray]]:
    if found and all(values is None for values in found):
        return None
    if any(values is None for values in found):
        raise ValueError(f"ranker {name!r} scored some {group} users and not others: its figures would not be over "
                         "the group's users")
    return {f"{metric}@{top_n}": np.array([values[metric] for values in found], np.float64)
            for metric in top_n_metrics.METRICS}


def pool(parts: Iterable[Mapping[str, GroupFigures]]) -> Dict[str, GroupFigures]:
    """Per-user figures of several periods as one set of user-periods per group (groups without users add
    nothing). Every period must have the same rankers, each defined (or not) alike."""
    parts = list(parts)
    result = {}
    for group in [g for g in GROUPS if any(g in part for part in parts)]:
        pieces = [part[group] for part in parts if group in part and len(part[group].users)]
        names = list(dict.fromkeys(name for part in parts if group in part for name in part[group].figures))
        figures: Dict[str, Optional[Dict[str, np.ndarray]]] = {}
        for name in names:
            if any(name not in piece.figures for piece in pieces):
                raise ValueError(f"ranker {name!r} is missing from some periods' {group} users")
            values = [piece.figures[name] for piece in pieces]
            if all(v is None for v in values):
                figures[name] = None
            elif any(v is None for v in values):
                raise ValueError(f"ranker {name!r} is defined for {group} users in some periods only")
            else:
                figures[name] = {metric: np.concatenate([v[metric] for v in values]) for metric in values[0]}
        users = np.concatenate([piece.users for piece in pieces]) if pieces else np.zeros(0, np.int64)
        result[group] = GroupFigures(users, figures)
    return result


def bootstrap_ratio(ours: np.ndarray, reference: np.ndarray, seed: int = 0, rounds: int = 1000,
                    level: float = 0.90) -> Tuple[float, float, float]:
    """mean(ours) / mean(reference) over the same users, and its bootstrap interval at `level` (default 90%: the
    5th and 95th percentiles of the ratio over `rounds` resamples of the users, with replacement, paired: a user's
    two figures are drawn together). A resample whose reference mean is 0 has ratio inf (nan, left out, if ours is
    0 too)."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    if ours.ndim != 1 or ours.shape != reference.shape or not len(ours):
        raise ValueError(f"paired figures of the same users needed: {ours.shape} and {reference.shape}")
    rng = np.random.default_rng(seed)
    ratios = np.empty(rounds)
    step = max(1, BLOCK_CELLS // len(ours))
    for start in range(0, rounds, step):
        drawn = rng.integers(0, len(ours), (min(step, rounds - start), len(ours)))
        ratios[start:start + len(drawn)] = _ratio(ours[drawn].sum(axis=1), reference[drawn].sum(axis=1))
    tail = (1.0 - level) / 2.0
    low = np.nanquantile(ratios, tail, method="lower")
    high = np.nanquantile(ratios, 1.0 - tail, method="higher")
    return float(_ratio(ours.sum(), reference.sum())), float(low), float(high)


def _ratio(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(numerator, denominator)
