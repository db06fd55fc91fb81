"""The vectorised candidate request (one gather per input) equals the row-by-row request it replaces."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from models import features
from recommender import serve, snapshot


def serve_features_dtypes() -> dict:
    """The input dtypes serve_features declares (tests/test_saved_model_cli.py checks them on a real model)."""
    def dtype(column):
        if column.kind == "string":
            return tf.string
        if column.kind == "float":
            return tf.float32
        return tf.int64 if column.required else tf.float64
    return {name: dtype(features.COLUMNS_BY_NAME[name]) for name in features.MODEL_FEATURE_KEYS}


@pytest.mark.parametrize("missing_number", [math.nan, 0.0])
def test_candidate_request_equals_the_row_by_row_request(snapshot_entries, missing_number):
    movies, user = snapshot_entries
    dtypes = serve_features_dtypes()
    candidates = [3, 1, 3]
    table = serve.CandidateTable(movies, dtypes, missing_number)
    request = table.request(7, user[snapshot.FEATURES], candidates)
    rows = serve.request_rows(7, user[snapshot.FEATURES], [movies[m] for m in candidates])
    expected = serve.row_columns(rows, dtypes, missing_number)
    assert list(request) == list(dtypes)
    for name, values in expected.items():
        assert request[name].dtype == values.dtype, name
        np.testing.assert_array_equal(request[name], values, err_msg=name)
    assert list(request[features.MOVIE_KEY]) == candidates
    assert list(request["movieGenre1"]) == ["", "Animation", ""]  # movie 3 has no genre
    assert math.isnan(request["releaseYear"][0]) if math.isnan(missing_number) else request["releaseYear"][0] == 0


def test_ranking_is_by_the_rank_score_where_the_model_has_one_else_by_p_like_times_the_will_rate_estimate(
        snapshot_entries):
    from models import signatures
    from recommender import will_rate

    movie_entries, _ = snapshot_entries
    entries = [movie_entries[m] for m in (1, 2, 3)]  # rated twice, once, never
    counts = serve.rating_counts(entries)
    assert counts == {1: 2, 2: 1, 3: 0}
    liked = np.array([0.5, 0.5, 0.9])
    by_count = will_rate.Estimator(will_rate.RATING_COUNT, counts, {}).scores([7], [1, 2, 3])
    np.testing.assert_allclose(serve.ranking_scores({signatures.PROBABILITY_KEY: liked}, by_count),
                               liked * [3.0, 2.0, 1.0])
    by_knn = will_rate.Estimator(will_rate.ITEM_KNN, counts, {7: [(3, 0.5), (2, 0.25)]}).scores([7], [1, 2, 3])
    np.testing.assert_allclose(serve.ranking_scores({signatures.PROBABILITY_KEY: liked}, by_knn),
                               liked * [0.0, 0.25, 0.5], atol=1e-5)
    rank = np.array([0.1, 0.8, 0.5])
    by_head = serve.ranking_scores({signatures.PROBABILITY_KEY: liked, signatures.RANK_SCORE_KEY: rank}, by_count)
    np.testing.assert_array_equal(by_head, rank)
