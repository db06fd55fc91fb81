"""The Keras this project builds models with: tf-keras (Keras 2), chosen here and nowhere else. Written for
TensorFlow 2.16.2 and tf-keras 2.16.0.

Why: tensorflow-transform 1.16 supports only Keras 2 and switches `tf.keras` to tf-keras when it is imported,
so every Trainer and Evaluator process runs tf-keras anyway; importing it by name keeps model code, the TFT layer
and saved models on one Keras, and tf-keras trains this model about 1.6x faster here than Keras 3.

The private API: AutoGraph's `tensorflow.python.autograph.core.config.CONVERSION_RULES`, the tuple of rules
(first match wins) that AutoGraph reads at each call to decide which modules' code it converts. AutoGraph leaves
`keras` alone (its code is graph-ready) but not `tf_keras`, the same code under another name: converting all of it
makes the first epoch of `fit` many times slower (bench/README.md). Importing this module puts a DoNotConvert rule
for `tf_keras` first. tests/test_compat.py checks it against the installed TensorFlow.
"""
import tf_keras as keras  # noqa: F401  (re-exported)
from tensorflow.python.autograph.core import config as _autograph_config

PINNED_VERSIONS = {"tensorflow": "2.16.2", "tf-keras": "2.16.0"}

_autograph_config.CONVERSION_RULES = (_autograph_config.DoNotConvert("tf_keras"), *_autograph_config.CONVERSION_RULES)
