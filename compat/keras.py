"""The Keras this project builds models with: tf-keras (Keras 2), chosen here and nowhere else.

Why: tensorflow-transform 1.16 supports only Keras 2 and switches `tf.keras` to tf-keras when it is imported,
so every Trainer and Evaluator process runs tf-keras anyway; importing it by name keeps model code, the TFT layer
and saved models on one Keras, and tf-keras trains this model about 1.6x faster here than Keras 3.
"""
import tf_keras as keras  # noqa: F401  (re-exported)
from tensorflow.python.autograph.core import config as _autograph_config

# AutoGraph leaves `keras` alone (its code is graph-ready) but not `tf_keras`, the same code under another name:
# converting all of it makes the first epoch of `fit` many times slower (bench/README.md).
_autograph_config.CONVERSION_RULES = (_autograph_config.DoNotConvert("tf_keras"), *_autograph_config.CONVERSION_RULES)
