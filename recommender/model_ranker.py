"""The catalogue pass's model ranker: a served model's top N over the catalogue, ranked as `recommend` ranks.

The TensorFlow part of the catalogue evaluation (recommender/catalogue.py is the rest): requests go through
`recommender.serve`'s candidate table and the model's `serve_features` signature, several users per call.
`as_served` ranks as a pushed version serves: its model with its snapshot's will-rate estimate and cold-start
list, and its serving policy's fallbacks (recommender/serving_policy.py).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from models import features, signatures
from recommender import catalogue as catalogue_lib
from recommender import cold_start as cold_start_lib
from recommender import serve, serving_policy, snapshot, will_rate

MAX_ROWS_PER_CALL = 16_384
FIRST_SCORED = 128  # each user's first round of model scores: the likeliest rated candidates


class ModelRanker:
    """What `recommend` serves, with the features as of the cutoff: `serve.ranking_scores` over the candidates with
    the back-test's will-rate estimate (or will_rate_estimate), and for a user without ratings the cold-start
    ranking (the back-test's list, or cold_start_list). cold_start=False: the model's probability for every user, as
    served before the ranking score and the cold-start path. known_list (a cold_start.RANKERS name): that popularity
    list for users with ratings instead of the model, as a version with a fallback on its model path serves them.
    P(like | rated) x will-rate is scored for the likeliest rated candidates only (`_heads_of_product`): the top
    top_n is exact, the rest score -inf. rank_users ranks several users with shared model calls."""

    def __init__(self, served_signature, catalogue: catalogue_lib.Catalogue, output_key: Optional[str] = None,
                 cold_start: bool = True, will_rate_estimate: Optional[str] = None, top_n: int = catalogue_lib.TOP_N,
                 cold_start_list: Optional[str] = None, known_list: Optional[str] = None):
        self._signature = served_signature
        self._table = serve.CandidateTable(catalogue.movie_entries(), serve.input_dtypes(served_signature))
        self._key = output_key or signatures.PROBABILITY_KEY
        self._cold = catalogue_lib.cold_start_ranker(catalogue, cold_start_list) if cold_start else None
        self._known_list = catalogue_lib.cold_start_ranker(catalogue, known_list) if known_list else None
        self._will_rate = catalogue.will_rate(will_rate_estimate) if cold_start and not known_list else None
        self._rank_head = signatures.RANK_SCORE_KEY in served_signature.structured_outputs
        self._top_n = top_n
        self._movie_ids = np.array(sorted(catalogue.movies), np.int64)  # every candidate is one of them

    def __call__(self, user: dict, candidates: np.ndarray) -> np.ndarray:
        return self.rank_users([user], [candidates])[0]

    def rank_users(self, users: Sequence[dict], candidates: Sequence[np.ndarray]) -> List[np.ndarray]:
        scores = {i: self._cold(user, candidates[i]) for i, user in enumerate(users)
                  if self._cold and not user[snapshot.RATED]}
        known = [i for i in range(len(users)) if i not in scores]
        requests = [(users[i], candidates[i]) for i in known]
        if self._known_list is not None:
            found = [self._known_list(user, movies) for user, movies in requests]
        elif self._will_rate is None:
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
                                          [user[snapshot.LIKED] for user, _ in requests],
                                          [user[snapshot.RATED_AT] for user, _ in requests])
        return [row[np.searchsorted(self._movie_ids, movies)] for row, (_, movies) in zip(rows, requests)]

    def _outputs(self, requests: Sequence[Tuple[dict, np.ndarray]]) -> List[Dict[str, np.ndarray]]:
        """The served signature's outputs for each (user, candidates), several users per call."""
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


def as_served(served_signature, catalogue: catalogue_lib.Catalogue, cold_start_back_test: cold_start_lib.BackTest,
              will_rate_back_test: will_rate.BackTest, policy: Optional[serving_policy.ServingPolicy] = None,
              top_n: int = catalogue_lib.TOP_N) -> ModelRanker:
    """How a pushed version ranks the catalogue's users, with the features as of the catalogue's cutoff: its model
    times the will-rate estimate its snapshot's back-test chose, the cold-start list that back-test chose, and
    where its serving policy has a fallback, the policy's list on that path (as `recommend` serves it)."""
    cold_list = policy.cold_start.serves if policy is not None else cold_start_back_test.chosen
    known_list = policy.with_history.serves if policy is not None and policy.with_history.is_fallback else None
    return ModelRanker(served_signature, catalogue, will_rate_estimate=will_rate_back_test.chosen, top_n=top_n,
                       cold_start_list=cold_list, known_list=known_list)


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
