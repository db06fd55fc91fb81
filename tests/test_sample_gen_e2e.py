"""SampleGen inside the whole pipeline: the default run (generated raw files) and real MovieLens ratings."""
import os
import random
import re

import pytest
from tfx.types import artifact_utils, standard_artifacts

from components.sample_gen import report, spec
from dataio import raw_rows
from dataio.examples import read_samples
from models import sample_features
from pipeline import configs
from pipeline.report import metadata
from tests.helpers.samples import assert_same_samples, brute_force_sample, sample_key

pytestmark = pytest.mark.e2e
SUMMARY = re.compile(r"SampleGen \(point_in_time features, global_time split\): ([\d,]+) ratings read = ([\d,]+) "
                     r"train \+ ([\d,]+) eval samples \+ ([\d,]+) skipped \(.*\) \+ 0 rejected")
ML_LATEST_SMALL_2015_RATINGS = 100_023


def _summary_counts(stdout: str) -> dict:
    match = SUMMARY.search(stdout)
    assert match, stdout
    read, train, evaluation, skipped = (int(n.replace(",", "")) for n in match.groups())
    return {"ratings_read": read, "samples_train": train, "samples_eval": evaluation, "skipped": skipped}


def _checked_sample_gen_counts(work_dir: str, stdout: str) -> dict:
    """The summary's counts; they must be the report's in the Examples artifact and its ML Metadata properties,
    and account for every rating read (none rejected)."""
    record = metadata.latest_run(configs.LocalPaths(work_dir).metadata_path, configs.PIPELINE_NAME)
    node = record.node("SampleGen")
    assert node is not None and "CsvExampleGen" not in record.nodes
    examples = node.output("examples")
    printed = _summary_counts(stdout)
    written = report.load(examples.uri)
    for key in ("ratings_read", "samples_train", "samples_eval"):
        assert printed[key] == written[key] == metadata.custom_property(examples, key), key
    assert printed["ratings_read"] == printed["samples_train"] + printed["samples_eval"] + printed["skipped"]
    return printed


def test_default_run_makes_its_samples_from_raw_files(e2e_run):
    _checked_sample_gen_counts(e2e_run.paths.work_dir, e2e_run.stdout)


@pytest.mark.slow
@pytest.mark.shared_data
def test_pipeline_on_raw_movielens_ratings(movielens_run):
    counts = _checked_sample_gen_counts(movielens_run.paths.work_dir, movielens_run.stdout)
    assert counts["ratings_read"] == ML_LATEST_SMALL_2015_RATINGS
    assert "blessed: yes" in movielens_run.stdout, movielens_run.stdout


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_movielens_ratings(movielens_run):
    """ml-latest-small-2015: every rating accounted for; a random sample of samples equals the brute force."""
    raw = movielens_run.data_root
    examples = standard_artifacts.Examples()
    examples.set_mlmd_artifact(metadata.latest_run(movielens_run.paths.metadata_path, configs.PIPELINE_NAME)
                               .node("SampleGen").output("examples"))
    counts = report.load(examples.uri)
    skipped = {k: v for k, v in counts.items() if k.startswith(report.SKIPPED)}
    assert counts["ratings_read"] == counts["ratings_valid"] == ML_LATEST_SMALL_2015_RATINGS
    assert report.rejected_total(counts) == 0
    assert counts["samples_train"] + counts["samples_eval"] + sum(skipped.values()) == ML_LATEST_SMALL_2015_RATINGS
    assert skipped["skipped_missing_movieGenre1"] == 1  # the one rating of a movie with "(no genres listed)"

    with open(os.path.join(raw, "movies.csv")) as f:
        movies = {m.movie_id: m for m in (raw_rows.parse_movie(line.rstrip("\n")) for line in f.readlines()[1:])}
    with open(os.path.join(raw, "ratings.csv")) as f:
        ratings = [raw_rows.parse_rating(line.rstrip("\n")) for line in f.readlines()[1:]]
    written = [s for split in spec.SPLITS
               for s in read_samples(artifact_utils.get_split_uri([examples], split))]
    chosen = random.Random(0).sample(written, 200)
    assert_same_samples(chosen, {sample_key(s): brute_force_sample(
        sample_features.Rating(s["userId"], s["movieId"], s["rating"], s["timestamp"]), ratings, movies, leaky=False)
        for s in chosen})
