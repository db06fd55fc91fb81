"""NDCG@k and recall@k per user for TFMA, in one pass over the examples.

Each user's eval examples are one ranked list (ordered by the model's score, the label as gain); a metric is the
mean over users with at least one liked movie. TFMA's own route to this, a MetricsSpec `query_key`, groups and
merges every feature of every example per user and took 45 of the Evaluator's 100 s on the sparrow split; this
combiner keeps only (user, label, score) per example and ranks the lists once, in `extract_output`.
TFMA's `Recall` with `top_k` would also fail on users with fewer than k items (most have a handful).
"""
from __future__ import annotations

import hashlib
from array import array
from typing import Dict, Iterable, List, Mapping, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

NDCG_NAME = "ndcg"
RECALL_NAME = "recall"


class UserRanking(metric_types.Metric):
    """`ndcg` and `recall` at each k of top_k_list (sub key `top_k`), ranking each `user_key` value's examples."""

    def __init__(self, user_key: str, top_k_list: List[int]):
        super().__init__(_user_ranking, user_key=user_key, top_k_list=top_k_list)


def _user_ranking(
    user_key: str,
    top_k_list: List[int],
    eval_config: Optional[config_pb2.EvalConfig] = None,
    model_names: Optional[List[str]] = None,
    output_names: Optional[List[str]] = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    if not top_k_list:
        raise ValueError("UserRanking needs a non-empty top_k_list")
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = {(name, k): metric_types.MetricKey(
                name, model_name=model_name, output_name=output_name, sub_key=metric_types.SubKey(top_k=k),
                example_weighted=example_weighted)
                for name in (NDCG_NAME, RECALL_NAME) for k in top_k_list}
            computations.append(metric_types.MetricComputation(
                keys=list(keys.values()),
                preprocessors=[metric_types.FeaturePreprocessor(feature_keys=[user_key])],
                combiner=_UserRankingCombiner(keys, user_key, eval_config, model_name, output_name)))
    return computations


def ranking_metrics(users: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int) -> Dict[str, float]:
    """Mean NDCG@k and recall@k over the users (equal ids in `users`) that have a positive label."""
    ndcg, recall = [], []
    order = np.lexsort((-scores, users))  # by user, then best score first
    users, labels = users[order], labels[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    for ranked in np.split(labels, starts[1:]):
        positives = ranked.sum()
        if positives <= 0:
            continue
        top = ranked[:k]
        discounts = 1.0 / np.log2(np.arange(2, len(top) + 2))
        ideal = np.sort(ranked)[::-1][:k]
        ndcg.append((top * discounts).sum() / (ideal * discounts).sum())
        recall.append(top.sum() / positives)
    nan = float("nan")
    return {NDCG_NAME: float(np.mean(ndcg)) if ndcg else nan, RECALL_NAME: float(np.mean(recall)) if recall else nan}


def user_number(user) -> int:
    """A user id as an int64: integer ids as they are, others by a stable 64-bit hash."""
    if isinstance(user, (int, np.integer)):
        return int(user)
    text = user if isinstance(user, bytes) else str(user).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little", signed=True)


def _first_value(value) -> float:
    """A one-example label or prediction as a float; a signature's single output may come as a one-key dict."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ValueError(f"UserRanking needs one label and one prediction per example, got {sorted(value)}")
        value = next(iter(value.values()))
    return float(np.reshape(value, -1)[0])


class _Accumulator:
    """(user, label, score) of every example so far, in typed arrays: each slice holds one per example, so as
    Python objects (~130 bytes each) they were what grew the Evaluator's memory with the data; now 24 bytes."""
    __slots__ = ["users", "labels", "scores"]

    def __init__(self):
        self.users = array("q")
        self.labels = array("d")
        self.scores = array("d")


class _UserRankingCombiner(beam.CombineFn):

    def __init__(self, keys: Dict[tuple, metric_types.MetricKey], user_key: str,
                 eval_config: Optional[config_pb2.EvalConfig], model_name: str, output_name: str):
        self._keys = keys
        self._user_key = user_key
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator()

    def add_input(self, accumulator: _Accumulator, element: metric_types.StandardMetricInputs) -> _Accumulator:
        # The label and score as they are: to_label_prediction_example_weight's checks and conversions, once per
        # example and slice, were most of this combiner's cost.
        model_name, output_name = self._model_name or None, self._output_name or None
        label = _first_value(element.get_labels(model_name, output_name))
        prediction = _first_value(element.get_predictions(model_name, output_name))
        user = metric_util.to_scalar(element.features[self._user_key], tensor_name=self._user_key)
        accumulator.users.append(user_number(user))
        accumulator.labels.append(label)
        accumulator.scores.append(prediction)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.users += accumulator.users
            result.labels += accumulator.labels
            result.scores += accumulator.scores
        return result

    def extract_output(self, accumulator: _Accumulator) -> Dict[metric_types.MetricKey, float]:
        arrays = (np.frombuffer(accumulator.users, np.int64), np.frombuffer(accumulator.labels),
                  np.frombuffer(accumulator.scores))
        output = {}
        for k in sorted({k for _, k in self._keys}):
            for name, value in ranking_metrics(*arrays, k).items():
                output[self._keys[(name, k)]] = value
        return output
