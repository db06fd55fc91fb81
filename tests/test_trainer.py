"""trainer.fit on real Transform output (tf.Transform on a few hundred rows): which records train, how long, and
that the summary reports throughput. No timing is asserted, only that it is measured."""
import dataclasses
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from models import features, model, signatures, trainer
from recommender import serve
from tests.helpers.transform import ROWS, raw_row, transformed_examples

POPULARITY_CAP = 4


def _request_rows(count: int) -> list:
    """serve_features rows: the model's raw features of raw_row(user, user + 1) for the first `count` users, scalars."""
    return [{name: (values[0].decode() if isinstance(values[0], bytes) else values[0]) if values else None
             for name, values in raw_row(user, user + 1).items() if name in features.MODEL_FEATURE_KEYS}
            for user in range(1, count + 1)]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    return transformed_examples(tmp_path_factory)


def test_without_early_stopping_every_record_trains_for_max_epochs(transformed):
    _, summary = trainer.fit(*transformed, model.HParams(batch_size=32, max_epochs=3, early_stopping_patience=0))
    assert summary["train_examples_per_epoch"] == ROWS
    assert summary["epochs_run"] == 3 and len(summary["epochs"]) == 3
    assert summary["steady_examples_per_second"] > 0
    assert all("val_roc_auc" not in epoch for epoch in summary["epochs"])


def test_early_stopping_holds_out_a_validation_split_and_runs_several_steps_per_call(transformed):
    # 300 rows at batch 16 are ~17 steps an epoch, fewer than the steps per execution: the size is declared.
    assert ROWS / 16 < model.STEPS_PER_EXECUTION
    built, summary = trainer.fit(*transformed, model.HParams(batch_size=16, max_epochs=4, validation_fraction=0.25))
    # Distinct rating times: the records before the 0.75 quantile train, the latest quarter validates.
    assert summary["train_examples_per_epoch"] == round(0.75 * (ROWS - 1))
    assert 1 <= summary["epochs_run"] <= 4
    assert all("val_roc_auc" in epoch and epoch["examples_per_second"] > 0 for epoch in summary["epochs"])
    assert built.optimizer.iterations.numpy() > 0


def test_a_random_validation_split_holds_out_the_same_records_from_every_period(transformed):
    files, tft_output = transformed
    hparams = model.HParams(validation_split=model.RANDOM_VALIDATION, validation_fraction=0.25)

    first = _validation_times(files, hparams)
    assert first == _validation_times(files, hparams)  # the same records in every run
    assert _validation_times(files, dataclasses.replace(hparams, seed=7)) == first  # and for every seed
    assert 0.15 * ROWS < len(first) < 0.35 * ROWS
    # Drawn from the whole training period (each row has its own second), not only its latest quarter.
    assert min(first) < 1000 + ROWS // 4 and max(first) >= 1000 + 3 * ROWS // 4
    _, summary = trainer.fit(files, tft_output, dataclasses.replace(hparams, batch_size=32, max_epochs=1))
    assert summary["train_examples_per_epoch"] == ROWS - len(first)


def _validation_times(files, hparams):
    """The rating times of the validation records, parsed back."""
    in_validation = model.validation_records(files, hparams)
    records = model._records(files).filter(in_validation)
    return sorted(int(model._timestamp(r)) for r in records)


def test_an_unknown_validation_split_is_refused_by_name():
    with pytest.raises(ValueError, match="Unknown validation_split 'hash'; known: \\('time', 'random'\\)"):
        model.HParams.from_config({model.VALIDATION_SPLIT_HPARAM: "hash"})


def test_a_step_budget_caps_training_over_repeated_data(transformed):
    # 12 steps over 2 epochs at batch 64: more examples than one pass over the 300 rows, so the data repeats.
    built, summary = trainer.fit(*transformed, model.HParams(batch_size=64, max_epochs=2, early_stopping_patience=0),
                                 train_steps=12)
    assert summary["epochs_run"] == 2 and summary["train_examples_per_epoch"] == 6 * 64
    assert built.optimizer.iterations.numpy() == 12


def test_records_are_cached_in_files_and_fit_removes_its_own(transformed, tmp_path, monkeypatch):
    files, tft_output = transformed
    hparams = model.HParams(batch_size=64, max_epochs=1, early_stopping_patience=0)
    trainer.fit(files, tft_output, hparams, cache_dir=str(tmp_path))
    assert any(path.stat().st_size > 0 for path in tmp_path.glob("all*"))  # the records, not held in memory
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    trainer.fit(files, tft_output, hparams)
    assert not list(temporary.iterdir())


def test_the_same_records_and_seed_train_the_same_model(transformed):
    # Same code, same data, same seed: same validation records, same epochs, same weights.
    hparams = model.HParams(batch_size=16, max_epochs=3, validation_fraction=0.25, early_stopping_patience=1)
    runs = [trainer.fit(*transformed, hparams) for _ in range(2)]
    (first, first_summary), (second, second_summary) = runs
    assert first_summary["epochs_run"] == second_summary["epochs_run"]
    assert first_summary["train_examples_per_epoch"] == second_summary["train_examples_per_epoch"]
    assert [e["val_roc_auc"] for e in first_summary["epochs"]] == [e["val_roc_auc"] for e in second_summary["epochs"]]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sampled_negatives_add_a_rate_head_served_beside_the_liked_probability(transformed_with_negatives,
                                                                                tmp_path):
    files, tft_output = transformed_with_negatives
    built, summary = trainer.fit(files, tft_output, model.HParams(batch_size=16, max_epochs=2,
                                                                  validation_fraction=0.25))
    assert model.has_rate_head(built) and summary["sampled_negatives"] == ROWS // 2
    # Early stopping watches the liked AUC over the real ratings of the validation records.
    assert all(model.validation_metric(built) in epoch and f"val_{model.RATE_OUTPUT}_roc_auc" in epoch
               for epoch in summary["epochs"])
    exported = signatures.make_signatures(built, tft_output, popularity_cap=POPULARITY_CAP)
    built.save(str(tmp_path / "model"), save_format="tf", save_traces=False, signatures=exported)
    loaded = tf.saved_model.load(str(tmp_path / "model"))
    serve_features = loaded.signatures[signatures.FEATURES_SIGNATURE]
    assert set(serve_features.structured_outputs) == {signatures.PROBABILITY_KEY, signatures.RATE_PROBABILITY_KEY,
                                                      signatures.RANK_SCORE_KEY}
    # The rank score undoes the popularity the negatives were drawn by: the cap's weight, 1 for a missing count.
    rows = [{**row, features.MOVIE_RATING_COUNT_KEY: count} for row, count in
            zip(_request_rows(3), [0, POPULARITY_CAP * 3, None])]
    served = serve_features(**serve.feature_request(rows, serve_features))
    outputs = {name: values.numpy().reshape(-1) for name, values in served.items()}
    liked, rated = outputs[signatures.PROBABILITY_KEY], outputs[signatures.RATE_PROBABILITY_KEY]
    np.testing.assert_allclose(outputs[signatures.RANK_SCORE_KEY], liked * rated / (1 - rated) * [1, POPULARITY_CAP, 1],
                               rtol=1e-5)
    # TFMA and TF Serving's clients read the liked probability alone, under its name.
    assert set(loaded.signatures[signatures.SERVING_SIGNATURE].structured_outputs) == {signatures.PROBABILITY_KEY}


def test_without_sampled_negatives_the_model_has_one_head(transformed):
    built, summary = trainer.fit(*transformed, model.HParams(batch_size=64, max_epochs=1, early_stopping_patience=0))
    assert not model.has_rate_head(built) and summary["sampled_negatives"] == 0
