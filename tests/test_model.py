"""The Embedding+MLP: input/output shapes, sizes from vocabularies, and that training lowers the loss."""
import numpy as np
import pytest
import tensorflow as tf

from models import features, model

xf = features.transformed_name
VOCAB_SIZES = {f.name: 20 + f.oov_buckets for f in features.CATEGORICAL_FEATURES}


def _batch(size=64, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {xf(f.name): tf.constant(rng.integers(0, VOCAB_SIZES[f.name], size), tf.int64)
              for f in features.CATEGORICAL_FEATURES}
    inputs.update({xf(f.name): tf.constant(rng.normal(size=size), tf.float32) for f in features.NUMERIC_FEATURES})
    # A learnable label: depends on one numeric and one category.
    label = ((inputs[xf("movieAvgRating")].numpy() + (inputs[xf("userGenre1")].numpy() % 2)) > 0.5)
    return inputs, tf.constant(label.astype(np.float32))


def test_architecture_is_embeddings_stacked_with_numerics_then_mlp():
    built = model.build_model(VOCAB_SIZES, model.HParams())
    embeddings = [layer for layer in built.layers if layer.name.endswith("_embedding")]
    assert len(embeddings) == len(features.CATEGORICAL_FEATURES)
    for layer in embeddings:
        feature = layer.name[: -len("_embedding")]
        assert layer.input_dim == VOCAB_SIZES[feature] and layer.output_dim == features.EMBEDDING_DIM
    stacking = built.get_layer("stacking")
    numerics = len(features.NUMERIC_FEATURES) - len(features.TIME_FEATURE_KEYS)  # read only with time_features
    expected_width = features.EMBEDDING_DIM * len(features.CATEGORICAL_FEATURES) + numerics
    assert stacking.output_shape == (None, expected_width)
    assert [built.get_layer(f"mlp_{i}").units for i in range(2)] == [128, 128]
    assert built.get_layer("score").activation.__name__ == "sigmoid"


def test_scores_are_probabilities_one_per_example():
    built = model.build_model(VOCAB_SIZES, model.HParams())
    inputs, _ = _batch(32)
    scores = built(inputs).numpy()
    assert scores.shape == (32, 1)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_training_steps_lower_the_loss():
    built = model.build_model(VOCAB_SIZES, model.HParams(learning_rate=1e-2))
    inputs, label = _batch(256)
    before = built.evaluate(inputs, label, verbose=0)[0]
    built.fit(inputs, label, epochs=20, batch_size=64, verbose=0)
    after = built.evaluate(inputs, label, verbose=0)[0]
    assert after < 0.8 * before


def test_hparams_reject_unknown_names():
    assert model.HParams.from_config({"batch_size": 64, "hidden_units": [64, 32]}).hidden_units == (64, 32)
    with pytest.raises(ValueError, match="batch_sise"):
        model.HParams.from_config({"batch_sise": 64})
