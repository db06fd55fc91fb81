"""Training/serving skew on the end-to-end run: for eval samples, the serving path (features from the snapshot
code, the pushed model's serve_features) scores exactly what the pipeline's evaluation scores (serving_default
on the sample's own tf.Example).

The snapshot is "as of now"; a sample's features are as of its own time. The snapshot code builds the features
as of the sample's time (`before=`) from the same raw ratings the pipeline read; where they coincide with the
sample's (asserted: they all must), the two scores must agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from models import signatures
from recommender import serve, snapshot
from tests.serving_data import as_in_example, eval_examples, raw_dir, read_raw

pytestmark = pytest.mark.e2e
SAMPLES_COMPARED = 400


def test_serving_path_scores_eval_samples_as_the_evaluation_does(e2e_run):
    served = serve.load_newest(e2e_run.paths.serving_dir)
    raw = read_raw(raw_dir(e2e_run))
    examples = eval_examples(e2e_run, SAMPLES_COMPARED)
    rows = []
    for _, sample in examples:
        user_id, movie_id, at = sample["userId"], sample["movieId"], sample["timestamp"]
        user = snapshot.user_entry(user_id, raw.by_user[user_id], raw.movies, before=at)
        movie = snapshot.movie_entry(raw.movies[movie_id], raw.titles[movie_id], raw.by_movie[movie_id], before=at)
        served_features = as_in_example({**user[snapshot.FEATURES], **movie[snapshot.FEATURES]})
        assert served_features == {name: sample[name] for name in served_features}, f"features differ: {sample}"
        rows += serve.request_rows(user_id, user[snapshot.FEATURES], [movie])

    serving_scores = serve.score(served, rows)
    evaluation_scores = served.model.signatures[signatures.SERVING_SIGNATURE](
        examples=tf.constant([record for record, _ in examples]))[signatures.PROBABILITY_KEY].numpy().reshape(-1)
    print(f"skew: {len(rows)} eval samples, max |serving - evaluation| = "
          f"{np.max(np.abs(serving_scores - evaluation_scores)):.3g}")
    assert len(rows) == SAMPLES_COMPARED
    np.testing.assert_allclose(serving_scores, evaluation_scores, rtol=0, atol=1e-6)
    assert np.std(evaluation_scores) > 1e-3  # the comparison is not between constants
