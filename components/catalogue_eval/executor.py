"""CatalogueEvaluator executor: history and targets from the examples, the candidate's serving signature and the
serving version's, one pass; the gates (gates.py) and, on a first run that loses to popularity, the serving policy."""
import dataclasses
import json
import logging
import os
import time
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.catalogue_eval import gates, spec
from components.serving_baseline import spec as baseline_spec
from dataio.examples import read_samples
from models import signatures
from recommender import catalogue, cold_start, model_ranker, serving_dir, serving_policy, snapshot, will_rate


def read_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """A CatalogueEvaluation artifact's figures: {ranker: {group: {metric: value}}}."""
    with tf.io.gfile.GFile(os.path.join(evaluation_uri, spec.METRICS_FILE)) as f:
        return json.load(f)


def served_back_tests(manifest: dict) -> Tuple[cold_start.BackTest, will_rate.BackTest]:
    """The snapshot's cold-start and will-rate back-tests over the training split, which the pass serves as they
    are."""
    return (cold_start.BackTest.from_dict(manifest[snapshot.COLD_START_BACK_TEST]),
            will_rate.BackTest.from_dict(manifest[snapshot.WILL_RATE_BACK_TEST]))


@dataclasses.dataclass
class ServingVersion:
    """The version serving now, as ServingBaseline copied it: what the serving-version gate ranks with."""
    version: str
    model_dir: str
    manifest: Optional[dict]  # its snapshot's; None when it holds none this code reads
    policy: Optional[serving_policy.ServingPolicy]
    unreadable: str = ""  # why it cannot be compared, in words

    @classmethod
    def of(cls, baseline: types.Artifact) -> Optional["ServingVersion"]:
        """The serving version ServingBaseline found; None when nothing serves (the candidate stands in)."""
        if baseline.get_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY):  # KFP gives 1.0, TFX 1
            return None
        model_dir = path_utils.serving_model_path(baseline.uri)
        version = str(baseline.get_custom_property(baseline_spec.BASELINE_VERSION_PROPERTY) or "") or \
            os.path.basename(model_dir.rstrip("/"))
        try:
            manifest = snapshot.load_manifest(os.path.join(model_dir, serving_dir.FEATURE_SNAPSHOT_DIR))
            return cls(version, model_dir, manifest, serving_policy.load(model_dir))
        except (FileNotFoundError, ValueError) as error:  # ValueError: SnapshotFormatError, PolicyFormatError
            return cls(version, model_dir, None, None, f"serving version {version} is not compared: {error}")


def _write_json(path: str, values) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
        evaluation = artifact_utils.get_single_instance(output_dict[spec.EVALUATION_KEY])
        top_n = exec_properties[spec.TOP_N_KEY]
        # Before any work: a snapshot in a format this code does not read stops it (snapshot.SnapshotFormatError).
        manifest = snapshot.load_manifest(artifact_utils.get_single_uri(input_dict[spec.FEATURE_SNAPSHOT_KEY]))
        baselines = input_dict.get(spec.BASELINE_MODEL_KEY) or []
        serving = ServingVersion.of(baselines[0]) if baselines else None
        started = time.perf_counter()
        data = catalogue.Catalogue.from_samples(*(
            read_samples(artifact_utils.get_split_uri([examples], split), catalogue.SAMPLE_COLUMNS)
            for split in (spec.TRAIN_SPLIT, spec.EVAL_SPLIT)), *served_back_tests(manifest))
        loaded = tf.saved_model.load(path_utils.serving_model_path(model.uri))
        rankers = {spec.OURS: model_ranker.ModelRanker(loaded.signatures[signatures.FEATURES_SIGNATURE], data,
                                                       top_n=top_n),
                   **catalogue.baselines(data, spec.BASELINES)}
        if serving is not None and serving.manifest is not None:
            # Its model, its snapshot's will-rate and cold-start choices and its policy, over the same users,
            # candidates and features as of the cutoff (not its snapshot's, which may hold the eval period)
            served = tf.saved_model.load(serving.model_dir)
            rankers[spec.SERVING] = model_ranker.as_served(served.signatures[signatures.FEATURES_SIGNATURE], data,
                                                           *served_back_tests(serving.manifest), serving.policy, top_n)
        ranked = catalogue.run_pass(data, rankers, top_n, exec_properties[spec.MIN_LIKED_KEY],
                                    exec_properties.get(spec.MAX_USERS_KEY) or 0)
        results = ranked.figures
        tf.io.gfile.makedirs(evaluation.uri)  # the KFP launcher, unlike TFX's local one, does not create it
        _write_json(os.path.join(evaluation.uri, spec.METRICS_FILE), results)
        if ranked.ranked:
            _write_json(os.path.join(evaluation.uri, spec.INTERVALS_FILE), ranked.intervals(spec.GATE_BASELINE))
        intervals = gates.interval_words(ranked)
        decision = gates.decide(results, top_n, exec_properties[spec.MIN_RATIO_KEY],
                                exec_properties.get(spec.MAX_REGRESSION_KEY, 1.0),
                                serving.version if serving else None, nothing_serves=serving is None,
                                cold_start_default=data.cold_start_back_test.chosen, eval_users=ranked.eval_users)
        if decision.policy is not None:
            serving_policy.write(decision.policy, evaluation.uri)
        evaluation.set_int_custom_property(spec.BLESSED_PROPERTY, int(decision.blessed))
        evaluation.set_string_custom_property(spec.GATE_PROPERTY, decision.comparison)
        evaluation.set_string_custom_property(spec.DECIDED_BY_PROPERTY, decision.decided_by)
        evaluation.set_string_custom_property(spec.POPULARITY_GATE_PROPERTY, decision.popularity[1])
        evaluation.set_string_custom_property(spec.SERVING_GATE_PROPERTY, decision.serving[1] if decision.serving
                                              else serving.unreadable if serving else "")
        evaluation.set_string_custom_property(spec.SERVING_VERSION_PROPERTY, serving.version if serving else "")
        evaluation.set_string_custom_property(spec.FALLBACK_PROPERTY,
                                              decision.policy.summary() if decision.policy else "")
        evaluation.set_string_custom_property(spec.COLD_START_PROPERTY, data.cold_start_back_test.summary())
        evaluation.set_string_custom_property(spec.WILL_RATE_PROPERTY, data.will_rate_back_test.summary())
        evaluation.set_string_custom_property(spec.INTERVALS_PROPERTY, intervals)
        for ranker, groups in results.items():
            for group in (catalogue.ALL_USERS, catalogue.WITH_HISTORY, catalogue.COLD):
                for metric, value in groups.get(group, {}).items():
                    evaluation.set_float_custom_property(spec.property_name(ranker, group, metric), float(value))
        logging.info("CatalogueEvaluator: cold start %s", data.cold_start_back_test.summary())
        logging.info("CatalogueEvaluator: will rate %s", data.will_rate_back_test.summary())
        logging.info("CatalogueEvaluator: decided by %s: %s (%s)", decision.label, decision.comparison,
                     "blessed" if decision.blessed else "not blessed")
        logging.info("CatalogueEvaluator: %s", intervals)
        if serving is not None and serving.unreadable:
            logging.warning("CatalogueEvaluator: %s", serving.unreadable)
        logging.info("CatalogueEvaluator: %d of %d eval users ranked, %d movies, %.1f s", ranked.ranked,
                     ranked.eval_users, len(data.movies), time.perf_counter() - started)
