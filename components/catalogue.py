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
from typing import Callable, Dict, Iterable, List, Mapping, Optional

import numpy as np

from components import cold_start, features, sample_features, top_n_metrics, will_rate
from components.feature_snapshot import snapshot
from components.sample_features import Movie, Rating

TOP_N = top_n_metrics.TOP_N
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
    _neighbour_cache: Dict[bool, will_rate.Neighbours] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_samples(cls, train: Iterable[Mapping], eval_samples: Iterable[Mapping]) -> "Catalogue":
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
        return cls(movies, dict(history), {u: m for u, m in liked_later.items() if m}, as_of)

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
        return cold_start.back_test(r for ratings in self.history.values() for r in ratings)

    @functools.cached_property
    def will_rate_back_test(self) -> will_rate.BackTest:
        """The feature snapshot's will-rate back-test over the same ratings, the training split."""
        return will_rate.back_test(r for ratings in self.history.values() for r in ratings)

    def will_rate(self, estimate: Optional[str] = None, liked_only: bool = False) -> will_rate.Estimator:
        """The will-rate estimate over the history, as the snapshot serves it as of the cutoff (default: the
        back-test's choice). liked_only: the neighbours of liked ratings only, an item-kNN of "will like"."""
        return will_rate.Estimator(estimate or self.will_rate_back_test.chosen, _rating_counts(self),
                                   self._neighbours(liked_only))

    def _neighbours(self, liked_only: bool) -> will_rate.Neighbours:
        if liked_only not in self._neighbour_cache:
            self._neighbour_cache[liked_only] = will_rate.neighbours(
                {user: [r.movie_id for r in ratings if _counted(r, liked_only)] for user, ratings in self.history.items()})
        return self._neighbour_cache[liked_only]

    def user_entry(self, user_id: int) -> dict:
        return snapshot.user_entry(user_id, self.history.get(user_id, ()), self.movies)


def _rating_counts(catalogue: Catalogue, since: int = -1) -> Dict[int, int]:
    counts: Dict[int, int] = collections.Counter()
    for ratings in catalogue.history.values():
        counts.update(r.movie_id for r in ratings if r.timestamp >= since)
    return counts


def popularity_ranker(counts: Mapping[int, int]) -> Ranker:
    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        return np.fromiter((counts.get(m, 0) for m in candidates), np.float64, len(candidates))
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
    "will rate" rather than "will rate and like" (the will-rate estimate `will_rate.ITEM_KNN`)."""
    estimator = catalogue.will_rate(will_rate.ITEM_KNN, liked_only)

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        movies = [r.movie_id for r in catalogue.history.get(user[features.USER_KEY], ()) if _counted(r, liked_only)]
        return estimator.scores(movies, candidates)
    return rank


BASELINES = {"most_rated": most_rated, "recent_most_rated": recent_most_rated, "item_knn": item_knn}


def baselines(catalogue: Catalogue, names: Iterable[str] = tuple(BASELINES)) -> Dict[str, Ranker]:
    return {name: BASELINES[name](catalogue) for name in names}


def _activity(rating_count: int) -> str:
    bucket = next((b for b in features.SLICE_BUCKETS if b.source == features.USER_RATING_COUNT_KEY))
    below = [b for b in bucket.boundaries if rating_count < b]
    return f"<{below[0]:g}" if below else f">={bucket.boundaries[-1]:g}"


def evaluate(catalogue: Catalogue, rankers: Mapping[str, Ranker], top_n: int = TOP_N, min_liked: int = 1
             ) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{ranker: {group: {metric: value}}} over the eval users with at least `min_liked` targets. Groups: all,
    with_history, cold_start and the user-activity buckets of features.SLICE_BUCKETS; metrics hit@N, recall@N,
    NDCG@N (means over the group's users), users, and over all users coverage (distinct movies of all top-N lists)
    and mean_popularity (mean history rating count of what is recommended)."""
    counts = _rating_counts(catalogue)
    all_movies = np.array(sorted(catalogue.movies), np.int64)
    per_ranker: Dict[str, Dict[str, list]] = {name: collections.defaultdict(list) for name in rankers}
    shown: Dict[str, List[int]] = {name: [] for name in rankers}
    for user_id in sorted(catalogue.liked_later):
        targets = catalogue.liked_later[user_id]
        if len(targets) < min_liked:
            continue
        user = catalogue.user_entry(user_id)
        rated = set(user[snapshot.RATED])
        candidates = all_movies[~np.isin(all_movies, user[snapshot.RATED])]
        groups = (ALL_USERS, WITH_HISTORY if rated else COLD, ACTIVITY_GROUP_PREFIX + _activity(len(rated)))
        for name, ranker in rankers.items():
            top = will_rate.top_movies(ranker(user, candidates), candidates, top_n)  # ties by movieId
            shown[name] += top
            for group in groups:
                per_ranker[name][group].append(top_n_metrics.user_metrics(top, targets))
    results = {}
    for name, groups in per_ranker.items():
        results[name] = {group: top_n_metrics.means(users, top_n) | {"users": len(users)}
                         for group, users in sorted(groups.items())}
        results[name].setdefault(ALL_USERS, {"users": 0})
        results[name][ALL_USERS]["coverage"] = len(set(shown[name]))
        results[name][ALL_USERS]["mean_popularity"] = float(np.mean([counts.get(m, 0) for m in shown[name]])) \
            if shown[name] else 0.0
    return results


def cold_start_ranker(catalogue: Catalogue) -> Ranker:
    """What `recommend` serves a user without ratings, as of the cutoff: the back-test's ranker."""
    from components import recommender  # TensorFlow only where a model is scored

    entries = catalogue.movie_entries()
    chosen = catalogue.cold_start_back_test.chosen

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        return recommender.cold_start_scores([entries[m] for m in candidates.tolist()], chosen)
    return rank


def model_ranker(served_signature, catalogue: Catalogue, output_key: Optional[str] = None,
                 cold_start: bool = True, will_rate_estimate: Optional[str] = None, top_n: int = TOP_N) -> Ranker:
    """What `recommend` serves, with the features as of the cutoff: `recommender.ranking_scores` over the
    candidates with the back-test's will-rate estimate (or will_rate_estimate), and for a user without ratings the
    cold-start ranking. cold_start=False: the model's probability for every user, as served before the ranking
    score and the cold-start path. P(like | rated) x will-rate is scored for the likeliest rated candidates only
    (`_head_of_product`): the top top_n is exact, the rest score -inf."""
    from components import recommender, serving  # TensorFlow only where a model is scored

    entries = catalogue.movie_entries()
    table = recommender.CandidateTable(entries, recommender.input_dtypes(served_signature))
    key = output_key or serving.PROBABILITY_KEY
    cold = cold_start_ranker(catalogue)
    rated = catalogue.will_rate(will_rate_estimate) if cold_start else None
    rank_head = serving.RANK_SCORE_KEY in served_signature.structured_outputs

    def outputs(user: dict, candidates: np.ndarray) -> Dict[str, np.ndarray]:
        request = table.request(user[features.USER_KEY], user[snapshot.FEATURES], candidates.tolist())
        return {name: values.numpy().reshape(-1)
                for name, values in served_signature(**recommender.as_tensors(request)).items()}

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        if cold_start and not user[snapshot.RATED]:
            return cold(user, candidates)
        if not cold_start:
            return outputs(user, candidates)[key]
        weights = rated.scores(user[snapshot.RATED], candidates)
        if rank_head:
            return recommender.ranking_scores(outputs(user, candidates), weights)
        return _head_of_product(lambda index: outputs(user, candidates[index])[serving.PROBABILITY_KEY], weights,
                                candidates, top_n)
    return rank


def _head_of_product(probabilities: Callable[[np.ndarray], np.ndarray], weights: np.ndarray,
                     candidates: np.ndarray, top_n: int, first: int = 1_000) -> np.ndarray:
    """probability x weight for the candidates of the largest weights, -inf for the others, such that the top_n by
    the product is the same as over every candidate: a probability is at most 1, so a candidate whose weight is
    below the top_n-th product scored so far cannot enter the top. Scores `first` candidates, more if needed."""
    order = np.lexsort((candidates, -weights))
    scores = np.full(len(candidates), -np.inf)
    done = 0
    while done < len(order):
        batch = order[done:max(first, 2 * done)]
        scores[batch] = probabilities(batch) * weights[batch]
        done += len(batch)
        scored = scores[order[:done]]
        bar = np.partition(scored, len(scored) - top_n)[len(scored) - top_n] if len(scored) >= top_n else -np.inf
        if done < len(order) and weights[order[done]] < bar:
            break
    return scores
