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
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from models import features, sample_features
from models.sample_features import Movie, Rating
from recommender import cold_start, snapshot, top_n_metrics, will_rate

TOP_N = top_n_metrics.TOP_N
USER_BATCH = 64  # eval users ranked together: the model scores their candidates in shared calls
MAX_ROWS_PER_CALL = 16_384
FIRST_SCORED = 128  # each user's first round of model scores: the likeliest rated candidates
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
                                   self.neighbours(liked_only=False), self.neighbours(liked_only=True))

    def neighbours(self, liked_only: bool) -> will_rate.Similarities:
        """Item-kNN neighbours over the history's ratings (liked_only: its liked ratings), built once."""
        if liked_only not in self._neighbour_cache:
            self._neighbour_cache[liked_only] = will_rate.similarities(
                {user: [r.movie_id for r in ratings if _counted(r, liked_only)]
                 for user, ratings in self.history.items()})
        return self._neighbour_cache[liked_only]

    def user_entry(self, user_id: int) -> dict:
        return snapshot.user_entry(user_id, self.history.get(user_id, ()), self.movies)


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


BASELINES = {"most_rated": most_rated, "recent_most_rated": recent_most_rated, "item_knn": item_knn}


def baselines(catalogue: Catalogue, names: Iterable[str] = tuple(BASELINES)) -> Dict[str, Ranker]:
    return {name: BASELINES[name](catalogue) for name in names}


def _activity(rating_count: int) -> str:
    bucket = next(b for b in features.SLICE_BUCKETS if b.source == features.USER_RATING_COUNT_KEY)
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
    eval_users = [u for u in sorted(catalogue.liked_later) if len(catalogue.liked_later[u]) >= min_liked]
    for start in range(0, len(eval_users), USER_BATCH):
        user_ids = eval_users[start:start + USER_BATCH]
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
    return results


def _rank_users(ranker: Ranker, users: Sequence[dict], candidates: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Each user's scores; a ranker with rank_users (ModelRanker) ranks them together."""
    together = getattr(ranker, "rank_users", None)
    return together(users, candidates) if together else [ranker(u, c) for u, c in zip(users, candidates)]


def cold_start_ranker(catalogue: Catalogue) -> Ranker:
    """What `recommend` serves a user without ratings, as of the cutoff: the back-test's ranker."""
    from recommender import serve  # TensorFlow only where a model is scored

    entries = catalogue.movie_entries()
    chosen = catalogue.cold_start_back_test.chosen

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        return serve.cold_start_scores([entries[m] for m in candidates.tolist()], chosen)
    return rank


class ModelRanker:
    """What `recommend` serves, with the features as of the cutoff: `recommender.ranking_scores` over the
    candidates with the back-test's will-rate estimate (or will_rate_estimate), and for a user without ratings the
    cold-start ranking. cold_start=False: the model's probability for every user, as served before the ranking
    score and the cold-start path. P(like | rated) x will-rate is scored for the likeliest rated candidates only
    (`_heads_of_product`): the top top_n is exact, the rest score -inf. rank_users ranks several users with shared
    model calls."""

    def __init__(self, served_signature, catalogue: Catalogue, output_key: Optional[str] = None,
                 cold_start: bool = True, will_rate_estimate: Optional[str] = None, top_n: int = TOP_N):
        from models import signatures  # TensorFlow only where a model is scored
        from recommender import serve

        self._signature = served_signature
        self._table = serve.CandidateTable(catalogue.movie_entries(), serve.input_dtypes(served_signature))
        self._key = output_key or signatures.PROBABILITY_KEY
        self._cold = cold_start_ranker(catalogue) if cold_start else None
        self._will_rate = catalogue.will_rate(will_rate_estimate) if cold_start else None
        self._rank_head = signatures.RANK_SCORE_KEY in served_signature.structured_outputs
        self._top_n = top_n
        self._movie_ids = np.array(sorted(catalogue.movies), np.int64)  # every candidate is one of them

    def __call__(self, user: dict, candidates: np.ndarray) -> np.ndarray:
        return self.rank_users([user], [candidates])[0]

    def rank_users(self, users: Sequence[dict], candidates: Sequence[np.ndarray]) -> List[np.ndarray]:
        from models import signatures
        from recommender import serve

        scores = {i: self._cold(user, candidates[i]) for i, user in enumerate(users)
                  if self._cold and not user[snapshot.RATED]}
        known = [i for i in range(len(users)) if i not in scores]
        requests = [(users[i], candidates[i]) for i in known]
        if self._will_rate is None:
            found = [outputs[self._key] for outputs in self._outputs(requests)]
        else:
            weights = self._will_rate_weights(requests)
            if self._rank_head:
                found = [serve.ranking_scores(outputs, w) for outputs, w in zip(self._outputs(requests), weights)]
            else:
                found = _heads_of_product(lambda pending: [
                    outputs[signatures.PROBABILITY_KEY] for outputs in self._outputs(
                        [(requests[i][0], requests[i][1][batch]) for i, batch in pending])],
                    weights, [movies for _, movies in requests], self._top_n)
        scores.update(zip(known, found))
        return [scores[i] for i in range(len(users))]

    def _will_rate_weights(self, requests: Sequence[Tuple[dict, np.ndarray]]) -> List[np.ndarray]:
        """The will-rate estimate's scores of each (user, candidates): every user's row over the catalogue at once."""
        rows = self._will_rate.score_rows([user[snapshot.RATED] for user, _ in requests], self._movie_ids,
                                          [user[snapshot.LIKED] for user, _ in requests])
        return [row[np.searchsorted(self._movie_ids, movies)] for row, (_, movies) in zip(rows, requests)]

    def _outputs(self, requests: Sequence[Tuple[dict, np.ndarray]]) -> List[Dict[str, np.ndarray]]:
        """The served signature's outputs for each (user, candidates), several users per call."""
        from recommender import serve

        results: List[Dict[str, np.ndarray]] = []
        for chunk in _chunks_of_rows(requests, MAX_ROWS_PER_CALL):
            columns = [self._table.request(user[features.USER_KEY], user[snapshot.FEATURES], movies.tolist())
                       for user, movies in chunk]
            merged = {name: np.concatenate([c[name] for c in columns]) for name in columns[0]}
            outputs = {name: values.numpy().reshape(-1)
                       for name, values in self._signature(**serve.as_tensors(merged)).items()}
            ends = np.cumsum([len(movies) for _, movies in chunk])[:-1]
            split = {name: np.split(values, ends) for name, values in outputs.items()}
            results += [{name: parts[i] for name, parts in split.items()} for i in range(len(chunk))]
        return results


def _chunks_of_rows(requests: Sequence[Tuple[dict, np.ndarray]], max_rows: int) -> Iterator[list]:
    """Consecutive requests of at most max_rows candidates in all (a larger request alone)."""
    chunk: list = []
    rows = 0
    for request in requests:
        if chunk and rows + len(request[1]) > max_rows:
            yield chunk
            chunk, rows = [], 0
        chunk.append(request)
        rows += len(request[1])
    if chunk:
        yield chunk


def _heads_of_product(probabilities: Callable[[List[Tuple[int, np.ndarray]]], List[np.ndarray]],
                      weights: Sequence[np.ndarray], candidates: Sequence[np.ndarray], top_n: int,
                      first: int = FIRST_SCORED) -> List[np.ndarray]:
    """For each user i, probability x weight for the candidates of the largest weights[i], -inf for the others,
    such that the top_n by the product is the same as over every candidate: a probability is at most 1, so a
    candidate whose weight is below the top_n-th product scored so far cannot enter the top. Each user's first
    round scores `first` candidates, each later one as many as scored so far, while the top is not yet exact;
    probabilities([(i, candidate positions), ...]) scores a round of every user's in one call."""
    orders = [np.lexsort((movies, -w)) for w, movies in zip(weights, candidates)]
    scores = [np.full(len(movies), -np.inf) for movies in candidates]
    done = [0] * len(orders)
    active = list(range(len(orders)))
    while active:
        pending = [(i, orders[i][done[i]:max(first, 2 * done[i])]) for i in active]
        for (i, batch), found in zip(pending, probabilities(pending)):
            scores[i][batch] = found * weights[i][batch]
            done[i] += len(batch)
        active = [i for i in active if not _top_is_exact(scores[i], weights[i][orders[i]], done[i], top_n)]
    return scores


def _top_is_exact(scores: np.ndarray, ordered_weights: np.ndarray, done: int, top_n: int) -> bool:
    """Whether no candidate after the first `done` by weight can enter the top_n of the products."""
    if done >= len(ordered_weights):
        return True
    scored = np.sort(scores[np.isfinite(scores)])
    return len(scored) >= top_n and ordered_weights[done] < scored[-top_n]
