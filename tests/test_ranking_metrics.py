"""UserRanking, the per-user NDCG@k and recall@k metric added to TFMA (components/evaluator/ranking_metrics.py)."""
import pickle

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_specs, metric_types

from components.evaluator import eval_config, ranking_metrics
from models import features


def _ranking(queries, top_k_list, user_ids=None):
    """Runs the metric's combiner over queries given as (labels, predictions) of one user each (ids: user_ids, by
    default 0, 1, ...)."""
    metric = ranking_metrics.UserRanking(user_key="userId", top_k_list=top_k_list)
    (computation,) = metric.computations()
    combiner = computation.combiner
    halves = [combiner.create_accumulator(), combiner.create_accumulator()]
    for user, (labels, predictions) in enumerate(queries):
        for i, (label, prediction) in enumerate(zip(labels, predictions)):
            half = (user + i) % 2  # a user's examples reach both halves, as across Beam bundles
            halves[half] = combiner.add_input(halves[half], metric_types.StandardMetricInputs(
                labels=np.array([label], dtype=float), predictions=np.array([prediction], dtype=float),
                example_weights=np.array([1.0]),
                features={"userId": np.array([user_ids[user] if user_ids else user])}))
    output = combiner.extract_output(combiner.merge_accumulators(halves))
    return {(key.name, key.sub_key.top_k): value for key, value in output.items()}


QUERIES = [
    ([1, 0, 1, 0], [0.9, 0.8, 0.1, 0.2]),  # positives ranked 1st and 4th
    ([0, 1, 1], [0.5, 0.4, 0.3]),  # ranked 2nd and 3rd
    ([0, 0], [0.9, 0.1]),  # no positive: not a query that counts
    ([1], [0.1]),  # fewer items than k: all positives are in the top k
]


def test_recall_is_the_share_of_a_users_positives_in_the_top_k_averaged_over_users():
    ranking = _ranking(QUERIES, [1, 2])
    assert ranking["recall", 1] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert ranking["recall", 2] == pytest.approx((0.5 + 0.5 + 1.0) / 3)


def test_ndcg_discounts_each_positive_by_its_rank_against_the_ideal_order():
    ranking = _ranking(QUERIES, [2])
    first = 1 / (1 + 1 / np.log2(3))  # hit at rank 1 of an ideal 2
    second = (1 / np.log2(3)) / (1 + 1 / np.log2(3))  # hit at rank 2 of an ideal 2
    assert ranking["ndcg", 2] == pytest.approx((first + second + 1.0) / 3)


def test_users_named_by_text_rank_as_users_numbered():
    named = _ranking(QUERIES, [1, 2], user_ids=[b"ann", b"bob", b"cy", b"dee"])
    assert named == _ranking(QUERIES, [1, 2])


def test_accumulator_holds_24_bytes_an_example_also_pickled():
    """Each slice's accumulator holds every example (a user's list is ranked once, at the end): compact, as it
    is shuffled and held per slice."""
    (computation,) = ranking_metrics.UserRanking(user_key="userId", top_k_list=[10]).computations()
    accumulator = computation.combiner.create_accumulator()
    for i in range(10_000):
        accumulator = computation.combiner.add_input(accumulator, metric_types.StandardMetricInputs(
            labels=np.array([i % 2], dtype=float), predictions=np.array([0.5]), example_weights=np.array([1.0]),
            features={"userId": np.array([i // 7])}))
    assert len(pickle.dumps(accumulator)) < 10_000 * 25
    assert sum(len(column) * column.itemsize for column in (accumulator.users, accumulator.labels,
                                                             accumulator.scores)) == 10_000 * 24


def test_ranking_without_any_positive_is_nan():
    ranking = _ranking([([0, 0], [0.3, 0.2])], [10])
    assert np.isnan(ranking["recall", 10]) and np.isnan(ranking["ndcg", 10])


def test_eval_config_ranks_per_user_and_tfma_builds_ndcg_and_recall_at_10():
    config = eval_config.eval_config(min_auc=0.6, max_auc_regression=0.01)
    assert not any(spec.query_key for spec in config.metrics_specs)  # no per-query grouping of whole examples
    computations = metric_specs.to_computations(config.metrics_specs, eval_config=config)
    keys = {(key.name, key.sub_key.top_k if key.sub_key else None) for c in computations for key in c.keys}
    assert {("ndcg", eval_config.RANKING_K), ("recall", eval_config.RANKING_K)} <= keys
    assert features.USER_KEY in config.metrics_specs[0].metrics[-1].config


def test_gate_thresholds_read_back_from_the_eval_config():
    gate = eval_config.Gate.from_eval_config(eval_config.eval_config(min_auc=0.65, max_auc_regression=0.02))
    assert (gate.min_auc, gate.max_auc_regression) == pytest.approx((0.65, 0.02))


def _user_lists(examples_uri: str, model_uri: str):
    """Each user's (labels, scores) on the eval split, scored by the evaluated model outside TFMA."""
    import glob
    import os
    from collections import defaultdict

    import tensorflow as tf
    from tfx.utils import path_utils

    files = glob.glob(os.path.join(examples_uri, "Split-eval", "*.gz"))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    scorer = tf.saved_model.load(path_utils.serving_model_path(model_uri)).signatures["serving_default"]
    scores = scorer(examples=tf.constant(serialized))["probability"].numpy().reshape(-1)
    lists = defaultdict(lambda: ([], []))
    for raw, score in zip(serialized, scores):
        example = tf.train.Example.FromString(raw).features.feature
        labels, user_scores = lists[example[features.USER_KEY].int64_list.value[0]]
        labels.append(example[features.LABEL_KEY].int64_list.value[0])
        user_scores.append(score)
    return list(lists.values())


def _ndcg_at(k, labels, scores):
    gains = np.asarray(labels, dtype=float)
    discounts = 1.0 / np.log2(np.arange(2, min(k, len(gains)) + 2))
    ranked = gains[np.argsort(-np.asarray(scores), kind="stable")][:k]
    ideal = np.sort(gains)[::-1][:k]
    return float((ranked * discounts).sum() / (ideal * discounts).sum())


@pytest.mark.e2e
def test_tfma_ranking_metrics_equal_a_recomputation_per_user(e2e_run):
    from pipeline.report import summary

    record = e2e_run.record()
    evaluator = record.node(summary.EVALUATOR)
    overall = summary.load_slice_metrics(evaluator.output("evaluation").uri)[summary.OVERALL].candidate
    lists = [(labels, scores) for labels, scores in _user_lists(
        evaluator.inputs["examples"][0].uri, evaluator.inputs["model"][0].uri) if any(labels)]
    k = eval_config.RANKING_K
    assert len(lists) >= 10
    ndcg = np.mean([_ndcg_at(k, labels, scores) for labels, scores in lists])
    recall = np.mean([np.asarray(labels)[np.argsort(-np.asarray(scores), kind="stable")][:k].sum() / sum(labels)
                      for labels, scores in lists])
    assert overall[f"ndcg@{k}"] == pytest.approx(ndcg, abs=2e-3)
    assert overall[f"recall@{k}"] == pytest.approx(recall, abs=2e-3)
