"""Warm start: the Trainer's model initialised from the version that serves now, before it trains.

The pipeline names the served version's directory (WARM_START_KEY in the Trainer's custom_config; "" when nothing
serves). Each embedding row of an id both vocabularies hold is copied from the served model, matched by token: the
served SavedModel carries the Transform vocabularies it was trained with as assets (`assets/<vocabulary>`), this
run's come from its TFTransformOutput, and the two order their ids differently (by frequency). An id only this run
has, and every OOV bucket, keeps the usual initialiser. The MLP and the heads take the served weights as they are.

All or nothing: when any layer differs in shape (other hidden_units or embedding sizes, a head added or dropped) or
a vocabulary cannot be read, the whole model trains cold and the result says why; half of an MLP copied beside
fresh layers would mix two networks. The optimizer starts afresh either way (its state is not served).

Deterministic: the model is built from the seed first, then the served values are copied over it, so the same
data, seed and served version make the same model.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from compat.keras import keras
from models import features

# The Trainer's custom_config key: the served version's directory to warm-start from, "" when nothing serves.
# Absent: warm start is off. The directory names the version, so a new push changes the Trainer's cache key.
WARM_START_KEY = "warm_start_from"
ASSETS_DIR = "assets"
SAVED_MODEL_FILE = "saved_model.pb"
# Every signature of a version computes the model; serve_features captures exactly its weights.
FEATURES_SIGNATURE = "serve_features"
EMBEDDING_SUFFIX = "_embedding"


@dataclasses.dataclass(frozen=True)
class Result:
    """What the Trainer started from: `source` the version directory (None: cold) and `reason` why cold; per
    vocabulary the ids both runs have (copied), the ids new to this run (fresh), the ids this run no longer has."""
    source: Optional[str]
    reason: str = ""
    vocabularies: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)

    @property
    def warm(self) -> bool:
        return self.source is not None

    def to_dict(self) -> dict:
        return {"warm": self.warm, "source": self.source, "reason": self.reason, "vocabularies": self.vocabularies}


class Mismatch(ValueError):
    """The served model cannot initialise this one; the message is the reason, logged with the cold start."""


def served_weights(version_dir: str) -> Dict[Tuple[str, str], np.ndarray]:
    """The served model's weights by (layer name, weight name), e.g. ("mlp_0", "kernel")."""
    loaded = tf.saved_model.load(version_dir)
    if FEATURES_SIGNATURE not in loaded.signatures:
        raise Mismatch(f"{version_dir} has no {FEATURES_SIGNATURE} signature")
    weights = {}
    for variable in loaded.signatures[FEATURES_SIGNATURE].variables:
        layer, _, name = variable.name.rpartition("/")
        weights[(layer, name.split(":")[0])] = variable.numpy()
    return weights


def _vocabulary_file(path: str) -> List[bytes]:
    # One token a line, as tf.Transform writes and reads them (TFTransformOutput.vocabulary_by_name).
    with tf.io.gfile.GFile(path, "rb") as f:
        return [line.rstrip(b"\n") for line in f]


def _categoricals() -> Dict[str, features.Categorical]:
    return {f"{f.name}{EMBEDDING_SUFFIX}": f for f in features.CATEGORICAL_FEATURES}


def _weight_key(layer: keras.layers.Layer, weight: tf.Variable) -> Tuple[str, str]:
    return layer.name, weight.name.rpartition("/")[2].split(":")[0]


def plan(model: keras.Model, version_dir: str, tft_output: tft.TFTransformOutput
         ) -> Tuple[List[Tuple[tf.Variable, np.ndarray]], Dict[str, Dict[str, int]]]:
    """Every weight of model with its initial value from the served version, and the vocabularies' counts;
    Mismatch when the served model cannot initialise model."""
    served = served_weights(version_dir)
    categoricals = _categoricals()
    assignments, counts, used = [], {}, set()
    old_vocabularies: Dict[str, List[bytes]] = {}
    for layer in model.layers:
        for weight in layer.weights:
            key = _weight_key(layer, weight)
            if key not in served:
                raise Mismatch(f"the served model has no {'/'.join(key)}")
            used.add(key)
            old, shape = served[key], tuple(weight.shape)
            if layer.name not in categoricals:
                if old.shape != shape:
                    raise Mismatch(f"{'/'.join(key)} is {old.shape} served and {shape} in this run")
                assignments.append((weight, old))
                continue
            feature = categoricals[layer.name]
            name = feature.vocabulary
            if name not in old_vocabularies:
                path = os.path.join(version_dir, ASSETS_DIR, name)
                if not tf.io.gfile.exists(path):
                    raise Mismatch(f"the served version has no vocabulary {name!r} ({path})")
                old_vocabularies[name] = _vocabulary_file(path)
            old_tokens, new_tokens = old_vocabularies[name], tft_output.vocabulary_by_name(name)
            if old.shape[1:] != shape[1:]:
                raise Mismatch(f"{'/'.join(key)} is {old.shape[1]} wide served and {shape[1]} in this run")
            if len(old) != len(old_tokens) + feature.oov_buckets:
                raise Mismatch(f"{'/'.join(key)} has {len(old)} rows served, for {len(old_tokens)} ids in its "
                               f"vocabulary + {feature.oov_buckets} OOV buckets")
            rows, counts[name] = _rows(old_tokens, new_tokens)
            value = weight.numpy()
            value[rows[:, 1]] = old[rows[:, 0]]
            assignments.append((weight, value))
    extra = sorted("/".join(key) for key in set(served) - used)
    if extra:
        raise Mismatch(f"this run's model has no {', '.join(extra)}")
    return assignments, counts


def _rows(old_tokens: List[bytes], new_tokens: List[bytes]) -> Tuple[np.ndarray, Dict[str, int]]:
    """(served row, new row) of each id both vocabularies hold, and the counts of shared, new and dropped ids."""
    old_index = {token: i for i, token in enumerate(old_tokens)}
    pairs = [(old_index[token], j) for j, token in enumerate(new_tokens) if token in old_index]
    shared = len(pairs)
    return np.array(pairs, np.int64).reshape(-1, 2), {
        "shared": shared, "new": len(new_tokens) - shared, "dropped": len(old_tokens) - shared}


def initialise(model: keras.Model, version_dir: str, tft_output: tft.TFTransformOutput) -> Result:
    """Copies the served version at version_dir ("": nothing serves) into model where it fits (module docstring);
    the model is left as built, and the result says why, when it does not."""
    if not version_dir:
        result = Result(None, "nothing serves yet")
    elif not tf.io.gfile.exists(os.path.join(version_dir, SAVED_MODEL_FILE)):
        result = Result(None, f"no SavedModel in {version_dir}")
    else:
        try:
            assignments, counts = plan(model, version_dir, tft_output)
        except Mismatch as mismatch:
            result = Result(None, f"the served model does not fit: {mismatch}")
        else:
            for weight, value in assignments:
                weight.assign(value)
            result = Result(version_dir, vocabularies=counts)
    if result.warm:
        logging.info("Warm start from %s: %s", version_dir, "; ".join(
            f"{name} {c['shared']} ids kept, {c['new']} new, {c['dropped']} dropped"
            for name, c in result.vocabularies.items()))
    else:
        logging.warning("Cold start: %s", result.reason)
    return result
