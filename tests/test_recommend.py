"""`sparrow-tfx recommend` on the end-to-end run's pushed model and the feature snapshot pushed with it; a pushed
snapshot in a format this code does not read is one error."""
from __future__ import annotations

import collections
import csv
import json
import os

import pytest

from models import features
from recommender import cold_start, serve, serving_dir, snapshot, will_rate
from tests.conftest import run_cli
from tests.helpers.snapshots import set_format_version
from tests.serving_data import raw_dir

UNKNOWN_USER = 987654321


@pytest.fixture(scope="module")
def rated_by_user(e2e_run):
    """Each user's rated movies, read from the raw ratings.csv apart from the snapshot."""
    rated = collections.defaultdict(set)
    with open(os.path.join(raw_dir(e2e_run), "ratings.csv"), newline="") as f:
        for row in csv.DictReader(f):
            rated[int(row["userId"])].add(int(row["movieId"]))
    return rated


@pytest.fixture(scope="module")
def served(e2e_run):
    return serve.load_newest(e2e_run.paths.serving_dir)


@pytest.fixture(scope="module")
def heavy_user(rated_by_user) -> int:
    return max(rated_by_user, key=lambda u: (len(rated_by_user[u]), u))


@pytest.mark.e2e
def test_the_pushed_version_carries_the_snapshot_of_every_raw_rating(e2e_run, served, rated_by_user):
    assert served.version_dir == serving_dir.latest_version_dir(e2e_run.paths.serving_dir)
    assert served.manifest[snapshot.FORMAT_VERSION_KEY] == snapshot.FORMAT_VERSION
    assert served.manifest["ratings_source"].endswith(os.path.join("raw", "ratings.csv"))
    with open(os.path.join(raw_dir(e2e_run), "ratings.csv")) as f:
        assert served.manifest[snapshot.RATINGS] == sum(1 for _ in f) - 1  # every rating, first ones included
    assert served.manifest[snapshot.USERS_PREFIX] == len(rated_by_user)


@pytest.mark.e2e
def test_recommend_json_top_n_are_distinct_unrated_and_sorted(e2e_run, heavy_user, rated_by_user, served):
    result = run_cli("recommend", "--user", str(heavy_user), "--top", "10", "--work-dir", e2e_run.paths.work_dir,
                     "--json")
    out = json.loads(result.stdout)
    items = out["recommendations"]
    movie_ids = [item["movieId"] for item in items]
    scores = [item["score"] for item in items]
    assert out["known_user"] is True and out["version"] == served.version
    assert len(items) == 10 and len(set(movie_ids)) == 10
    assert not set(movie_ids) & rated_by_user[heavy_user]
    assert scores == sorted(scores, reverse=True)
    assert out["candidates"] == len(set(served.movies) - rated_by_user[heavy_user])
    assert all(item["title"] and item["genres"] for item in items)
    assert out["user_features"]["userRatingCount"] == min(len(rated_by_user[heavy_user]), 100)


@pytest.mark.e2e
def test_recommend_ranks_every_candidate_by_its_score(served, heavy_user, rated_by_user):
    """The top N is the head of the whole ranking: no better-scored candidate was left out."""
    everything = serve.recommend(served, heavy_user, top=len(served.movies))
    top = serve.recommend(served, heavy_user, top=5)
    assert [i.movie_id for i in top.items] == [i.movie_id for i in everything.items[:5]]
    assert len(everything.items) == everything.candidates
    assert {i.movie_id for i in everything.items} == set(served.movies) - rated_by_user[heavy_user]


@pytest.mark.e2e
def test_an_unknown_user_gets_recommendations_and_is_told_so(e2e_run, served):
    result = run_cli("recommend", "--user", str(UNKNOWN_USER), "--top", "5", "--serving-dir",
                     e2e_run.paths.serving_dir)
    chosen = snapshot.load_manifest(served.snapshot_dir)[snapshot.COLD_START_BACK_TEST]["chosen"]
    assert f"user {UNKNOWN_USER} is unknown" in result.stdout and f"cold start (cold_start_{chosen})" in result.stdout
    assert f"chosen: {chosen}, by a back-test on 4 windows of 90 days at the end of the training" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 5, result.stdout


@pytest.mark.e2e
def test_a_user_without_ratings_gets_the_list_the_back_test_chose(served, heavy_user):
    cold = serve.recommend(served, UNKNOWN_USER, top=5)
    chosen = served.cold_start.chosen
    scores = {m: e[snapshot.COLD_START][chosen] for m, e in served.movies.items()}
    assert cold.path == serve.cold_start_path(chosen) and not cold.known_user
    assert cold.cold_start == served.manifest[snapshot.COLD_START_BACK_TEST]
    assert [i.movie_id for i in cold.items] == sorted(scores, key=lambda m: (-scores[m], m))[:5]
    assert all(e[snapshot.COLD_START][cold_start.MOST_RATED] == e[snapshot.FEATURES][features.MOVIE_RATING_COUNT_KEY]
               for e in served.movies.values())
    assert serve.recommend(served, heavy_user, top=5).path == serve.MODEL_PATH


@pytest.mark.e2e
def test_a_known_user_is_ranked_by_p_like_times_the_will_rate_estimate_the_back_test_chose(
        e2e_run, served, heavy_user, rated_by_user):
    result = serve.recommend(served, heavy_user, top=20)
    chosen = served.manifest[snapshot.WILL_RATE_BACK_TEST]["chosen"]
    assert result.will_rate == served.manifest[snapshot.WILL_RATE_BACK_TEST] and chosen in will_rate.ESTIMATES
    estimate = will_rate.Estimator(chosen, serve.rating_counts(served.movies.values()),
                                   snapshot.load_neighbours(served.snapshot_dir),
                                   snapshot.load_neighbours(served.snapshot_dir, snapshot.LIKED_NEIGHBOURS_PREFIX),
                                   popularity=snapshot.recent_popularity(served.movies.values()),
                                   now=served.manifest[snapshot.AS_OF])
    movie_ids = [i.movie_id for i in result.items]
    entry = snapshot.find_user(served.snapshot_dir, heavy_user)
    liked = entry[snapshot.LIKED]
    assert liked and set(liked) < rated_by_user[heavy_user] == set(entry[snapshot.RATED])
    expected = [i.probability for i in result.items] * estimate.scores(entry[snapshot.RATED], movie_ids, liked,
                                                                       entry[snapshot.RATED_AT])
    assert [i.score for i in result.items] == pytest.approx(expected.tolist(), rel=1e-6)
    shown = run_cli("recommend", "--user", str(heavy_user), "--top", "3", "--work-dir", e2e_run.paths.work_dir)
    assert (f"ranked (model) by the model's P(like | rated) x {will_rate.DESCRIPTIONS[chosen]}" in shown.stdout and
            f"chosen: {chosen}, by a back-test on 4 windows of 90 days at the end of the training history"
            in shown.stdout), shown.stdout


@pytest.mark.e2e
def test_given_candidates_are_scored_as_given(served, heavy_user):
    candidates = sorted(served.movies)[:4]
    result = serve.recommend(served, heavy_user, top=10, candidates=candidates + candidates[:1])
    assert result.candidates == 4
    assert sorted(i.movie_id for i in result.items) == candidates


@pytest.mark.e2e
def test_unknown_candidates_and_missing_snapshots_are_clear_errors(e2e_run, served, heavy_user, tmp_path):
    with pytest.raises(ValueError, match=r"candidate movieIds not in the feature snapshot .*\[99999999\]"):
        serve.recommend(served, heavy_user, candidates=[99999999])
    result = run_cli("recommend", "--user", "1", "--serving-dir", str(tmp_path / "empty"), check=False)
    assert result.returncode == 1 and "no pushed model version under" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("version", [None, 999], ids=["no format_version", "format_version 999"])
def test_a_pushed_snapshot_in_a_format_this_code_does_not_read_is_one_error(tmp_path, version):
    import tensorflow as tf

    from models.sample_features import Movie

    snapshot_dir = str(tmp_path / "snapshot")
    os.makedirs(snapshot_dir)
    with open(os.path.join(snapshot_dir, f"{snapshot.MOVIES_PREFIX}-00000-of-00001{snapshot.ENTRY_SUFFIX}"), "w") as f:
        f.write(snapshot.to_line(snapshot.movie_entry(Movie(1, 1995, ("Drama",)), "Heat (1995)", [], now=0)) + "\n")
    snapshot.write_manifest(snapshot_dir)
    set_format_version(snapshot_dir, version)
    module = tf.Module()
    module.f = tf.function(lambda x: x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "model"))
    base = str(tmp_path / "serving")
    version_dir = serving_dir.publish(str(tmp_path / "model"), base, {serving_dir.FEATURE_SNAPSHOT_DIR: snapshot_dir})
    served_snapshot = os.path.join(version_dir, serving_dir.FEATURE_SNAPSHOT_DIR)

    with pytest.raises(snapshot.SnapshotFormatError):
        serve.load_newest(base)
    result = run_cli("recommend", "--user", "1", "--serving-dir", base, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    found = "no format_version" if version is None else "format_version 999"
    assert line.startswith(f"error: feature snapshot {served_snapshot} has {found}"), line
    assert f"this code reads format_version {snapshot.FORMAT_VERSION}" in line and "sparrow-tfx run" in line, line
    assert not result.stdout
