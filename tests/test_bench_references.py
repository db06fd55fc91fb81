"""The benchmark references learn a learnable toy set, report every figure, and do not see the label."""
import csv
import json

import numpy as np
import pytest

from bench import common, tree_baseline
from models import features

FIGURES = {"roc_auc", "pr_auc", "accuracy", "train_examples"}
# Enough steps at batch 12 for the unnormalized original to get past raw years and counts (~0.8-0.9 AUC).
TOY_ROWS = 1200
GOOD_GENRES, BAD_GENRES = ("Comedy", "Drama", "Romance"), ("Horror", "Action", "Sci-Fi")


def write_samples(path, n, seed, signal=True):
    """A sample CSV in the SparrowRecSys format whose label follows the movie: its id, first genre and average rating.

    Without `signal` the label is a coin flip (rating still agrees with it, so a leak of rating shows too).
    Some genre and userRatedMovie cells are empty, as in the real samples.
    """
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=features.COLUMN_NAMES)
        out.writeheader()
        for _ in range(n):
            good = rng.random() < 0.5
            genre = rng.choice(GOOD_GENRES if good else BAD_GENRES)
            avg = rng.uniform(3.4, 4.6) if good else rng.uniform(2.0, 3.6)
            label = int(rng.random() < (0.9 if good else 0.1)) if signal else int(rng.random() < 0.5)
            user_genres = rng.choice(features.GENRES, size=5, replace=False)
            out.writerow({
                "movieId": rng.integers(1, 26) if good else rng.integers(26, 51), "userId": rng.integers(1, 200),
                "rating": rng.choice([4.0, 4.5, 5.0]) if label else rng.choice([1.0, 2.0, 3.0]),
                "timestamp": rng.integers(800_000_000, 1_500_000_000), "label": label,
                "releaseYear": rng.integers(1960, 2015),
                "movieGenre1": genre, "movieGenre2": rng.choice(["", *features.GENRES]), "movieGenre3": "",
                "movieRatingCount": rng.integers(1, 5000), "movieAvgRating": f"{avg:.2f}",
                "movieRatingStddev": f"{rng.uniform(0.5, 1.2):.2f}",
                **{f"userRatedMovie{i}": rng.integers(1, 50) if i < 4 else "" for i in range(1, 6)},
                "userRatingCount": rng.integers(1, 300), "userAvgReleaseYear": rng.integers(1980, 2010),
                "userReleaseYearStddev": f"{rng.uniform(0, 15):.2f}", "userAvgRating": f"{rng.uniform(2.5, 4.5):.2f}",
                "userRatingStddev": f"{rng.uniform(0.3, 1.3):.2f}",
                **{f"userGenre{i}": g if i < 5 else "" for i, g in enumerate(user_genres, start=1)},
            })
    return path


@pytest.fixture
def toy(tmp_path):
    return write_samples(tmp_path / "train.csv", TOY_ROWS, seed=0), write_samples(tmp_path / "eval.csv", 300, seed=1)


@pytest.fixture
def noise(tmp_path):
    return (write_samples(tmp_path / "train.csv", 600, seed=0, signal=False),
            write_samples(tmp_path / "eval.csv", 300, seed=1, signal=False))


def test_tree_baseline_learns_the_toy_signal(toy):
    result = tree_baseline.train_and_evaluate(*toy, seed=1)
    assert FIGURES <= result.keys()
    assert result["train_examples"] == TOY_ROWS
    assert result["roc_auc"] > 0.6


def test_tree_baseline_does_not_see_the_label(noise):
    assert tree_baseline.train_and_evaluate(*noise, seed=1)["roc_auc"] < 0.6


def test_tree_baseline_encodes_genres_as_vocabulary_codes_with_empty_as_missing(toy):
    x, _ = tree_baseline.load(toy[0])
    assert set(x["movieGenre1"].dropna()) <= {float(features.GENRES.index(g)) for g in GOOD_GENRES + BAD_GENRES}
    assert x["movieGenre3"].isna().all() and x["userGenre5"].isna().all()
    assert features.LABEL_KEY not in x and features.RATING_KEY not in x


def test_identity_buckets_keep_the_original_size_and_grow_with_larger_ids(tmp_path, toy):
    from bench import reference_model
    assert reference_model.identity_buckets([toy[0]], features.MOVIE_KEY) == 1001
    big = tmp_path / "big.csv"
    big.write_text(f"{features.MOVIE_KEY}\n5\n4321\n")
    assert reference_model.identity_buckets([toy[0], big], features.MOVIE_KEY) == 4322


def test_reference_dataset_keeps_rows_with_empty_cells(toy):
    from bench import reference_model
    # Every toy row has empty cells; a missing column default would make ignore_errors drop them all.
    assert reference_model.count_examples(reference_model.make_dataset(toy[0], 12, shuffle=False)) == TOY_ROWS


@pytest.mark.slow
def test_reference_model_learns_the_toy_signal(toy):
    from bench import reference_model
    result = reference_model.train_and_evaluate(*toy, seed=1)
    assert FIGURES | {"steady_examples_per_sec", "steady_examples_per_cpu_sec", "first_epoch_seconds"} <= result.keys()
    assert result["train_examples"] == TOY_ROWS
    assert result["steady_examples_per_sec"] > 0 and result["steady_examples_per_cpu_sec"] > 0
    assert result["roc_auc"] > 0.6


@pytest.mark.slow
def test_reference_model_does_not_see_the_label(noise):
    from bench import reference_model
    assert reference_model.train_and_evaluate(*noise, seed=1, epochs=2)["roc_auc"] < 0.6


def test_reference_model_needs_two_epochs_for_a_steady_state(toy):
    from bench import reference_model
    with pytest.raises(ValueError):
        reference_model.train_and_evaluate(*toy, seed=1, epochs=1)


def test_binary_metrics_on_a_known_ranking():
    m = common.binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    assert m == pytest.approx({"roc_auc": 0.75, "pr_auc": 5 / 6, "accuracy": 0.5})


def test_summarize_takes_mean_and_std_of_numbers_only():
    s = common.summarize([{"auc": 0.7, "name": "a"}, {"auc": 0.8, "name": "b"}])
    assert s.keys() == {"auc"}
    assert s["auc"]["mean"] == pytest.approx(0.75) and s["auc"]["std"] == pytest.approx(0.0707, abs=1e-4)


def test_side_by_side_shows_ratios_and_gaps():
    table = common.side_by_side({"roc_auc": {"ours": 0.8, "mlp": 0.72, "tree": 0.8},
                                 "examples_per_sec": {"ours": 12000.0, "mlp": 6000.0}},
                                project="ours", references=["mlp", "tree"])
    header, auc, speed = table.splitlines()
    assert header.split() == ["metric", "ours", "mlp", "tree", "ours/mlp", "ours/tree"]
    assert auc.split() == ["roc_auc", "0.8000", "0.7200", "0.8000", "1.1111", "1.0000"]
    assert speed.split() == ["examples_per_sec", "12,000", "6,000", "-", "2.0000", "-"]


def test_write_results_records_the_machine(tmp_path):
    path = common.write_results("demo", {"runs": [{"roc_auc": 0.7}]}, results_dir=tmp_path)
    written = json.loads(path.read_text())
    assert path == tmp_path / "demo.json" and not list(tmp_path.glob("*.tmp"))
    assert written["runs"] == [{"roc_auc": 0.7}]
    assert {"nproc", "memory_gb", "python", "tensorflow", "tfx", "date"} <= written["machine"].keys()
    assert written["machine"]["nproc"] >= 1


def test_seeds_cli_runs_every_seed_and_writes_results(tmp_path, monkeypatch, capsys, toy):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    calls = []

    def fake(train, eval_, seed):
        calls.append((train, eval_, seed))
        return {"roc_auc": 0.5 + seed / 10}

    results = common.seeds_cli("fake", fake, ["--seeds", "1", "3", "--train", str(toy[0]), "--eval", str(toy[1])])
    assert [c[2] for c in calls] == [1, 3]
    assert results["summary"]["roc_auc"]["mean"] == pytest.approx(0.7)
    assert json.loads((tmp_path / "fake.json").read_text())["runs"][1] == {"seed": 3, "roc_auc": 0.8}
    assert "mean: roc_auc=0.7000" in capsys.readouterr().out


def test_shared_data_is_none_when_absent():
    assert common.shared_data("no", "such", "dataset") is None


def test_bench_model_gives_the_references_a_runs_own_samplegen_samples_as_csv(e2e_run, tmp_path):
    from bench import bench_model

    out_dir = bench_model.samples_as_csv(e2e_run.paths.work_dir, str(tmp_path))
    for split in ("train", "eval"):
        written = (tmp_path / split / "samples.csv").read_text().splitlines()
        generated = open(f"{e2e_run.data_root}/{split}/samples.csv").read().splitlines()
        # The generated data's own sample CSVs are the same samples, in time order.
        assert written[0] == generated[0] and sorted(written[1:]) == sorted(generated[1:]) and len(written) > 100
    x, y = tree_baseline.load(f"{out_dir}/train/samples.csv")
    assert len(x) == len(y) > 100 and set(y) == {0, 1}
