"""CatalogueEvaluator executor: history and targets from the examples, the candidate's serving signature, one pass."""
import json
import logging
import os
import time
from typing import Any, Dict, List, Tuple

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.catalogue_eval import spec
from dataio.examples import read_samples
from models import signatures
from recommender import catalogue, cold_start, model_ranker, snapshot, will_rate


def read_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """A CatalogueEvaluation artifact's figures: {ranker: {group: {metric: value}}}."""
    with tf.io.gfile.GFile(os.path.join(evaluation_uri, spec.METRICS_FILE)) as f:
        return json.load(f)


def gate(results: Dict[str, Dict[str, Dict[str, float]]], top_n: int, min_ratio: float) -> Tuple[bool, str]:
    """Whether ours passes the catalogue gate, and the comparison in words."""
    metric = f"{spec.GATE_METRIC}@{top_n}"
    ours = results[spec.OURS][catalogue.ALL_USERS].get(metric, 0.0)
    baseline = results[spec.GATE_BASELINE][catalogue.ALL_USERS].get(metric, 0.0)
    users = int(results[spec.OURS][catalogue.ALL_USERS]["users"])
    if min_ratio <= 0:
        return True, f"off (--min-catalogue-ratio 0); {metric} ours {ours:.4f}, {spec.GATE_BASELINE} {baseline:.4f}"
    passed = ours >= min_ratio * baseline
    return passed, (f"{metric} over {users} eval users: ours {ours:.4f} {'>=' if passed else '<'} {min_ratio:.2f} x "
                    f"{spec.GATE_BASELINE} {baseline:.4f}" + ("" if passed else " (change with --min-catalogue-ratio)"))


def served_back_tests(manifest: dict) -> Tuple[cold_start.BackTest, will_rate.BackTest]:
    """The snapshot's cold-start and will-rate back-tests over the training split, which the pass serves as they
    are."""
    return (cold_start.BackTest.from_dict(manifest[snapshot.COLD_START_BACK_TEST]),
            will_rate.BackTest.from_dict(manifest[snapshot.WILL_RATE_BACK_TEST]))


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
        evaluation = artifact_utils.get_single_instance(output_dict[spec.EVALUATION_KEY])
        # Before any work: a snapshot in a format this code does not read stops it (snapshot.SnapshotFormatError).
        manifest = snapshot.load_manifest(artifact_utils.get_single_uri(input_dict[spec.FEATURE_SNAPSHOT_KEY]))
        started = time.perf_counter()
        data = catalogue.Catalogue.from_samples(*(
            read_samples(artifact_utils.get_split_uri([examples], split), catalogue.SAMPLE_COLUMNS)
            for split in (spec.TRAIN_SPLIT, spec.EVAL_SPLIT)), *served_back_tests(manifest))
        loaded = tf.saved_model.load(path_utils.serving_model_path(model.uri))
        rankers = {spec.OURS: model_ranker.ModelRanker(loaded.signatures[signatures.FEATURES_SIGNATURE], data,
                                                       top_n=exec_properties[spec.TOP_N_KEY]),
                   **catalogue.baselines(data, spec.BASELINES)}
        results = catalogue.evaluate(data, rankers, exec_properties[spec.TOP_N_KEY],
                                     exec_properties[spec.MIN_LIKED_KEY])
        tf.io.gfile.makedirs(evaluation.uri)  # the KFP launcher, unlike TFX's local one, does not create it
        with tf.io.gfile.GFile(os.path.join(evaluation.uri, spec.METRICS_FILE), "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
        passed, comparison = gate(results, exec_properties[spec.TOP_N_KEY], exec_properties[spec.MIN_RATIO_KEY])
        evaluation.set_int_custom_property(spec.BLESSED_PROPERTY, int(passed))
        evaluation.set_string_custom_property(spec.GATE_PROPERTY, comparison)
        evaluation.set_string_custom_property(spec.COLD_START_PROPERTY, data.cold_start_back_test.summary())
        evaluation.set_string_custom_property(spec.WILL_RATE_PROPERTY, data.will_rate_back_test.summary())
        for ranker, groups in results.items():
            for group in (catalogue.ALL_USERS, catalogue.WITH_HISTORY, catalogue.COLD):
                for metric, value in groups.get(group, {}).items():
                    evaluation.set_float_custom_property(spec.property_name(ranker, group, metric), float(value))
        logging.info("CatalogueEvaluator: cold start %s", data.cold_start_back_test.summary())
        logging.info("CatalogueEvaluator: will rate %s", data.will_rate_back_test.summary())
        logging.info("CatalogueEvaluator: %d eval users, %d movies, %.1f s", results[spec.OURS][
            catalogue.ALL_USERS]["users"], len(data.movies), time.perf_counter() - started)
