"""Top-N over the whole catalogue: what a user would have been recommended at the eval cutoff, against what they
rated and liked after it; ours and the baselines a practitioner compares with, in one pass.

History is the training split (its ratings are the ratings before the cutoff), the targets are each eval user's
liked eval movies they had not rated in training, and the candidates are every movie of either split the user had
not rated in training. User and movie features come from the feature snapshot's own code (`snapshot.user_entry`,
`snapshot.movie_entry`) over the history, so a model is scored as `recommend` would have served it then, and so is
the cold-start list: the ranker chosen by the feature snapshot's back-test (`cold_start.back_test`) over the same
history, the training split, and so is the will-rate estimate the model's probability is multiplied by
(`will_rate.back_test`). A user's very first rating has no sample, so it is not in the history.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from models import features, sample_features
from models.sample_features import Movie, Rating
from recommender import cold_start, future, snapshot, top_n_metrics, will_rate

TOP_N = top_n_metrics.TOP_N
USER_BATCH = 64  # eval users ranked together: the model scores their candidates in shared calls (model_ranker)
# The sample of eval users when there are more than the cap (evaluate's max_users): the same data gives the same
# users, and the same users are ranked by every ranker, so ratios are paired.
SAMPLE_SEED = 0
INTERVAL_LEVEL = 0.90  # the bootstrap intervals of every figure and ratio (future.bootstrap_ratio)
RECENT_DAYS = cold_start.RECENT_DAYS  # the recent-most-rated baseline counts the last RECENT_DAYS of the history
COLD = "cold_start"
WITH_HISTORY = "with_history"
ALL_USERS = "all"
ACTIVITY_GROUP_PREFIX = "userActivity"  # + the user's training-rating bucket, e.g. userActivity<10

# The sample columns Catalogue.from_samples reads
SAMPLE_COLUMNS = (features.USER_KEY, features.MOVIE_KEY, features.RATING_KEY, features.TIME_KEY, features.LABEL_KEY,
                  features.RELEASE_YEAR_KEY, *features.MOVIE_GENRE_KEYS, features.RATED_KEY)

# ranker(user entry, candidate movieIds) -> one score per candidate, higher first
Ranker = Callable[[dict, np.ndarray], np.ndarray]


@dataclasses.dataclass
class Catalogue:
    """The history and the targets, from the samples of both splits."""
    movies: Dict[int, Movie]
    history: Dict[int, List[Rating]]  # per user, in time order
    liked_later: Dict[int, set]  # per eval user: liked eval movies not rated in the history
    as_of: int  # the latest history rating time
    # The feature snapshot's back-tests over the same history, where given: what `recommend` serves, not run again
    served_cold_start: Optional[cold_start.BackTest] = None
    served_will_rate: Optional[will_rate.BackTest] = None
    _neighbour_cache: Dict[bool, will_rate.Similarities] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_samples(cls, train: Iterable[Mapping], eval_samples: Iterable[Mapping],
                     served_cold_start: Optional[cold_start.BackTest] = None,
                     served_will_rate: Optional[will_rate.BackTest] = None) -> "Catalogue":
        movies: Dict[int, Movie] = {}
        history: Dict[int, List[Rating]] = collections.defaultdict(list)

        def add_movie(sample):
            movie_id = sample[features.MOVIE_KEY]
            if movie_id not in movies:
                genres = tuple(sample[key] for key in features.MOVIE_GENRE_KEYS if sample[key])
                movies[movie_id] = Movie(movie_id, sample[features.RELEASE_YEAR_KEY], genres)

        for sample in train:
            if sample.get(features.RATED_KEY) == 0:  # a sampled negative: a movie the user did not rate
                continue
            add_movie(sample)
            history[sample[features.USER_KEY]].append(Rating(
                sample[features.USER_KEY], sample[features.MOVIE_KEY], sample[features.RATING_KEY],
                sample[features.TIME_KEY]))
        liked_later: Dict[int, set] = collections.defaultdict(set)
        for sample in eval_samples:
            add_movie(sample)
            if sample[features.LABEL_KEY]:
                liked_later[sample[features.USER_KEY]].add(sample[features.MOVIE_KEY])
        history = {user: sample_features.chronological(ratings) for user, ratings in history.items()}
        for user, liked in liked_later.items():
            liked -= {r.movie_id for r in history.get(user, ())}
        as_of = max((r[-1].timestamp for r in history.values()), default=0)
        return cls(movies, dict(history), {u: m for u, m in liked_later.items() if m}, as_of, served_cold_start,
                   served_will_rate)

    def movie_entries(self) -> Dict[int, dict]:
        """Every movie's features as of the cutoff, as the feature snapshot holds them; built once, for the model's,
        the cold-start and the trees' rankers alike."""
        return self._movie_entries

    @functools.cached_property
    def _movie_entries(self) -> Dict[int, dict]:
        by_movie: Dict[int, List[Rating]] = collections.defaultdict(list)
        for ratings in self.history.values():
            for r in ratings:
                by_movie[r.movie_id].append(r)
        return {m: snapshot.movie_entry(movie, "", by_movie.get(m, ()), now=self.as_of)
                for m, movie in self.movies.items()}

    @functools.cached_property
    def cold_start_back_test(self) -> cold_start.BackTest:
        """The feature snapshot's cold-start back-test over the same ratings, the training split."""
        if self.served_cold_start is not None:
            return self.served_cold_start
        return cold_start.back_test(r for ratings in self.history.values() for r in ratings)

    @functools.cached_property
    def will_rate_back_test(self) -> will_rate.BackTest:
        """The feature snapshot's will-rate back-test over the same ratings, the training split."""
        if self.served_will_rate is not None:
            return self.served_will_rate
        return will_rate.back_test(r for ratings in self.history.values() for r in ratings)

    def will_rate(self, estimate: Optional[str] = None) -> will_rate.Estimator:
        """The will-rate estimate over the history, as the snapshot serves it as of the cutoff (default: the
        back-test's choice)."""
        return will_rate.Estimator(estimate or self.will_rate_back_test.chosen, _rating_counts(self),
                                   self.neighbours(liked_only=False), self.neighbours(liked_only=True),
                                   snapshot.recent_popularity(self.movie_entries().values()), self.as_of)

    def neighbours(self, liked_only: bool) -> will_rate.Similarities:
        """Item-kNN neighbours over the history's ratings (liked_only: its liked ratings), built once."""
        if liked_only not in self._neighbour_cache:
            self._neighbour_cache[liked_only] = will_rate.similarities(
                {user: [r.movie_id for r in ratings if _counted(r, liked_only)]
                 for user, ratings in self.history.items()})
        return self._neighbour_cache[liked_only]

    def user_entry(self, user_id: int) -> dict:
        return snapshot.user_entry(user_id, self.history.get(user_id, ()), self.movies, now=self.as_of)


def _rating_counts(catalogue: Catalogue, since: int = -1) -> Dict[int, int]:
    counts: Dict[int, int] = collections.Counter()
    for ratings in catalogue.history.values():
        counts.update(r.movie_id for r in ratings if r.timestamp >= since)
    return counts


def popularity_ranker(counts: Mapping[int, int]) -> Ranker:
    ids = np.array(sorted(counts), np.int64)
    values = np.array([counts[m] for m in ids.tolist()], np.float64)

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        index, known = will_rate.positions(ids, candidates)
        return np.where(known, values[index], 0.0) if len(ids) else np.zeros(len(candidates))
    return rank


def most_rated(catalogue: Catalogue) -> Ranker:
    return popularity_ranker(_rating_counts(catalogue))


def recent_most_rated(catalogue: Catalogue, days: int = RECENT_DAYS) -> Ranker:
    return popularity_ranker(_rating_counts(catalogue, catalogue.as_of - days * 86_400))


def _counted(rating: Rating, liked_only: bool) -> bool:
    return not liked_only or sample_features.is_positive(rating.rating)


def item_knn(catalogue: Catalogue, liked_only: bool = True) -> Ranker:
    """Cosine item-item similarity over the history's liked ratings (binary, `will_rate.neighbours`); a user's
    score for a movie is the sum of its similarities to the movies the user liked, with the most-rated count
    breaking ties (cold users). liked_only=False: over every rating and every movie the user rated, which estimates
    "will rate" rather than "will rate and like" (the rated part of the will-rate estimate `will_rate.ITEM_KNN`)."""
    estimator = will_rate.Estimator(will_rate.ITEM_KNN, _rating_counts(catalogue), catalogue.neighbours(liked_only))

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        movies = [r.movie_id for r in catalogue.history.get(user[features.USER_KEY], ()) if _counted(r, liked_only)]
        return estimator.scores(movies, candidates)
    return rank


def baselines(catalogue: Catalogue, names: Iterable[str] = ("most_rated", "recent_most_rated", "item_knn")
              ) -> Dict[str, Ranker]:
    return {name: BASELINES[name](catalogue) for name in names}


def _activity(rating_count: int) -> str:
    bucket = next(b for b in features.SLICE_BUCKETS if b.source == features.USER_RATING_COUNT_KEY)
    below = [b for b in bucket.boundaries if rating_count < b]
    return f"<{below[0]:g}" if below else f">={bucket.boundaries[-1]:g}"


def eval_users(catalogue: Catalogue, min_liked: int = 1, max_users: int = 0, seed: int = SAMPLE_SEED
               ) -> Tuple[List[int], int]:
    """(the eval users a pass ranks, in userId order; how many eval users have at least `min_liked` targets).
    With more than max_users of them (max_users > 0), a sample of max_users drawn without replacement by `seed`:
    ranking is the pass's per-user cost, so the cap bounds it at any scale; at most max_users, every one."""
    users = [u for u in sorted(catalogue.liked_later) if len(catalogue.liked_later[u]) >= min_liked]
    if max_users <= 0 or len(users) <= max_users:
        return users, len(users)
    chosen = np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))
    return [users[i] for i in chosen.tolist()], len(users)


@dataclasses.dataclass
class Pass:
    """One catalogue pass: evaluate's figures, and each user's behind them."""
    figures: Dict[str, Dict[str, Dict[str, float]]]  # {ranker: {group: {metric: value}}}, as evaluate returns
    # {ranker: {group: {metric: each user's value}}}: the same users in the same order for every ranker
    per_user: Dict[str, Dict[str, Dict[str, np.ndarray]]]
    eval_users: int  # eval users with at least min_liked targets
    ranked: int  # of them, the ones ranked (all, or the seeded sample)
    top_n: int = TOP_N

    @property
    def sampled(self) -> bool:
        return self.ranked < self.eval_users

    def interval(self, ranker: str, group: str, metric: str, level: float = INTERVAL_LEVEL
                 ) -> Tuple[float, float]:
        """The bootstrap interval at `level` of a figure (a mean over the group's users), resampling users."""
        values = self.per_user[ranker][group][metric]
        return future.bootstrap_ratio(values, np.ones_like(values), level=level)[1:]

    def ratio(self, ranker: str, reference: str, group: str, metric: str, level: float = INTERVAL_LEVEL
              ) -> Tuple[float, float, float]:
        """ranker's figure / reference's over the group's users, and its paired bootstrap interval at `level`."""
        return future.bootstrap_ratio(self.per_user[ranker][group][metric], self.per_user[reference][group][metric],
                                      level=level)

    def intervals(self, reference: str, level: float = INTERVAL_LEVEL) -> dict:
        """Every figure's interval and every ranker's ratio to `reference`, with its interval: {"figures":
        {ranker: {group: {metric: [low, high]}}}, "ratios": {ranker: {group: {metric: [ratio, low, high]}}}},
        and how the users were chosen. A ratio whose reference figure is 0 is left out."""
        figures: Dict[str, dict] = {}
        ratios: Dict[str, dict] = {}
        for ranker, groups in self.per_user.items():
            for group, metrics in groups.items():
                for metric in metrics:
                    name = f"{metric}@{self.top_n}"
                    figures.setdefault(ranker, {}).setdefault(group, {})[name] = list(
                        self.interval(ranker, group, metric, level))
                    if ranker != reference and reference in self.per_user and \
                            self.per_user[reference][group][metric].sum() > 0:
                        ratios.setdefault(ranker, {}).setdefault(group, {})[name] = list(
                            self.ratio(ranker, reference, group, metric, level))
        return {"level": level, "eval_users": self.eval_users, "ranked": self.ranked, "sample_seed": SAMPLE_SEED,
                "reference": reference, "figures": figures, "ratios": ratios}


def evaluate(catalogue: Catalogue, rankers: Mapping[str, Ranker], top_n: int = TOP_N, min_liked: int = 1,
             max_users: int = 0) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{ranker: {group: {metric: value}}} over the eval users with at least `min_liked` targets (`run_pass`)."""
    return run_pass(catalogue, rankers, top_n, min_liked, max_users).figures


def run_pass(catalogue: Catalogue, rankers: Mapping[str, Ranker], top_n: int = TOP_N, min_liked: int = 1,
             max_users: int = 0) -> Pass:
    """The figures over the eval users with at least `min_liked` targets (with more than max_users > 0 of them, a
    seeded sample of max_users, `eval_users`), and each user's. Figures {ranker: {group: {metric: value}}}: groups
    all, with_history, cold_start and the user-activity buckets of features.SLICE_BUCKETS; metrics hit@N, recall@N,
    NDCG@N (means over the group's users), users, and over all users coverage (distinct movies of all top-N lists)
    and mean_popularity (mean history rating count of what is recommended)."""
    counts = _rating_counts(catalogue)
    all_movies = np.array(sorted(catalogue.movies), np.int64)
    per_ranker: Dict[str, Dict[str, list]] = {name: collections.defaultdict(list) for name in rankers}
    shown: Dict[str, List[int]] = {name: [] for name in rankers}
    ranked_users, eligible = eval_users(catalogue, min_liked, max_users)
    for start in range(0, len(ranked_users), USER_BATCH):
        user_ids = ranked_users[start:start + USER_BATCH]
        users = [catalogue.user_entry(user_id) for user_id in user_ids]
        candidates = [all_movies[~np.isin(all_movies, user[snapshot.RATED])] for user in users]
        for name, ranker in rankers.items():
            ranked = _rank_users(ranker, users, candidates)
            for user_id, user, movies, scores in zip(user_ids, users, candidates, ranked):
                top = will_rate.top_movies(scores, movies, top_n)  # ties by movieId
                shown[name] += top
                rated = len(set(user[snapshot.RATED]))
                for group in (ALL_USERS, WITH_HISTORY if rated else COLD, ACTIVITY_GROUP_PREFIX + _activity(rated)):
                    per_ranker[name][group].append(top_n_metrics.user_metrics(top, catalogue.liked_later[user_id]))
    results = {}
    for name, groups in per_ranker.items():
        results[name] = {group: top_n_metrics.means(users, top_n) | {"users": len(users)}
                         for group, users in sorted(groups.items())}
        results[name].setdefault(ALL_USERS, {"users": 0})
        results[name][ALL_USERS]["coverage"] = len(set(shown[name]))
        results[name][ALL_USERS]["mean_popularity"] = float(np.mean([counts.get(m, 0) for m in shown[name]])) \
            if shown[name] else 0.0
    per_user = {name: {group: {metric: np.array([u[metric] for u in users], np.float64)
                               for metric in top_n_metrics.METRICS}
                       for group, users in groups.items()} for name, groups in per_ranker.items()}
    return Pass(results, per_user, eligible, len(ranked_users), top_n)


def _rank_users(ranker: Ranker, users: Sequence[dict], candidates: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Each user's scores; a ranker with rank_users (ModelRanker) ranks them together."""
    together = getattr(ranker, "rank_users", None)
    return together(users, candidates) if together else [ranker(u, c) for u, c in zip(users, candidates)]


def cold_start_ranker(catalogue: Catalogue, chosen: Optional[str] = None) -> Ranker:
    """What `recommend` serves a user without ratings, as of the cutoff: the back-test's ranker (or `chosen`, a
    cold_start.RANKERS name), by the movie entries' cold-start scores."""
    entries = catalogue.movie_entries()
    chosen = chosen or catalogue.cold_start_back_test.chosen
    # Every movie's score read out of its entry once: per user, reading it out of each candidate's entry was most
    # of the pass on a large catalogue.
    ids = sorted(entries)
    return popularity_ranker(dict(zip(ids, snapshot.cold_start_scores([entries[m] for m in ids], chosen).tolist())))


def popular_now(catalogue: Catalogue) -> Ranker:
    return cold_start_ranker(catalogue, cold_start.POPULAR_NOW)


BASELINES = {"most_rated": most_rated, "recent_most_rated": recent_most_rated, "popular_now": popular_now,
             "item_knn": item_knn}
