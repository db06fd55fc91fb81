"""preprocessing_fn run by tf.Transform on a few rows: vocabularies, OOV, normalization, missing values."""
import numpy as np
import pytest
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from models import features, preprocessing, schema
from tests.helpers.transform import raw_row

xf = features.transformed_name


TRAIN = [raw_row(1, 10, "Comedy", 3.0, 1), raw_row(2, 10, "", 4.0, 10), raw_row(2, 20, "Comedy", None, 100, 0),
         raw_row(3, 30, "Romance", 5.0, 1000, 0, negative=True)]
SERVE = [raw_row(99, 999, "", None, 10)]  # unseen user and movie, missing genre and rating


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(schema.build_schema())
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft")),
                          force_tf_compat_v1=preprocessing.FORCE_TF_COMPAT_V1):
        (train_out, out_metadata), transform_fn = (TRAIN, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn)
        serve_out, _ = ((SERVE, metadata), transform_fn) | tft_beam.TransformDataset()
        out_dir = str(tmp_path_factory.mktemp("transform_fn"))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return train_out, serve_out, tft.TFTransformOutput(out_dir)


def test_vocabularies_are_named_after_features_and_learned_from_data(transformed):
    _, _, output = transformed
    assert set(output.vocabulary_by_name("userId")) == {b"1", b"2", b"3"}
    # the genre columns share one vocabulary, learned over all of them
    assert set(output.vocabulary_by_name(features.GENRE_VOCABULARY)) == {
        b"Drama", b"Comedy", b"Romance", features.MISSING_CATEGORY.encode()}
    for feature in features.CATEGORICAL_FEATURES:
        assert output.vocabulary_size_by_name(feature.vocabulary) >= 1


def test_unseen_ids_map_to_oov_buckets(transformed):
    train_out, serve_out, output = transformed
    for key in (features.USER_KEY, features.MOVIE_KEY):
        size = output.vocabulary_size_by_name(key)
        oov = next(f.oov_buckets for f in features.CATEGORICAL_FEATURES if f.name == key)
        assert size <= serve_out[0][xf(key)] < size + oov
        assert all(0 <= row[xf(key)] < size for row in train_out)


def test_numerics_are_z_scores_and_missing_values_become_the_mean(transformed):
    train_out, serve_out, _ = transformed
    counts = np.array([row[xf("movieRatingCount")] for row in train_out])
    assert counts.mean() == pytest.approx(0.0, abs=1e-5)
    assert counts.std() == pytest.approx(1.0, abs=1e-4)
    # Counts are normalized on log scale.
    logs = np.log1p([1, 10, 100, 1000])
    assert counts == pytest.approx((logs - logs.mean()) / logs.std(), abs=1e-4)
    avg = [row[xf("movieAvgRating")] for row in train_out]
    assert avg[2] == 0.0  # missing in training
    assert serve_out[0][xf("movieAvgRating")] == 0.0  # missing at serving


def test_missing_category_is_its_own_vocabulary_entry(transformed):
    train_out, serve_out, output = transformed
    vocab = output.vocabulary_by_name(features.GENRE_VOCABULARY)
    assert vocab[train_out[1][xf("movieGenre2")]] == features.MISSING_CATEGORY.encode()
    assert serve_out[0][xf("movieGenre2")] == train_out[1][xf("movieGenre2")]


def test_label_and_slice_buckets(transformed):
    train_out, _, _ = transformed
    assert [row[features.TRANSFORMED_LABEL_KEY] for row in train_out] == [1.0, 1.0, 0.0, 0.0]
    popularity = [row["moviePopularity"] for row in train_out]
    assert popularity == sorted(popularity) and len(set(popularity)) == 4


def test_rated_is_one_unless_a_sampled_negative_says_zero(transformed):
    train_out, serve_out, _ = transformed
    assert [row[features.TRANSFORMED_RATED_KEY] for row in train_out] == [1.0, 1.0, 1.0, 0.0]
