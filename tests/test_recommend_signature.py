"""Top N inside the pushed SavedModel (issue 36, point 1): the `recommend` and `recommend_candidates` signatures the
AtomicPusher adds (recommender/export.py) give `recommend`'s top 10, ids and scores, for users with ratings, users
without and given candidates, loaded in Python and run by TensorFlow's own `saved_model_cli`.

The versions are real and small: SampleGen and FeatureSnapshot on a generated world, small real SavedModels with a
`serve_features` signature (tests/helpers/scoring_models.py, and here one scoring from features of every kind, with
and without the "will rate" head), pushed by the real AtomicPusher executor; the snapshot's will-rate choice forced
to item-kNN in one, a serving policy with a fallback on both paths in another.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models import features, signatures
from recommender import cold_start, export, serve, serving_dir, serving_policy, snapshot, will_rate

pytestmark = pytest.mark.slow  # TensorFlow, TFX and Beam
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
NEW_USERS = (987654321, 0, 2**62)  # unknown: above, below and far above every userId
TOP = 10


class _FeatureModel(tf.Module):
    """P(like) from the ids and features of every kind the request carries (int, optional int as float64 with NaN,
    float, string, user's and movie's side); with rate_head also P(rated) and the rank score, which then ranks."""

    SPECS = {features.MOVIE_KEY: tf.int64, features.USER_KEY: tf.int64, features.MOVIE_RATING_COUNT_KEY: tf.float64,
             features.USER_AVG_RATING_KEY: tf.float32, "movieGenre1": tf.string, "userGenre1": tf.string}

    def __init__(self, rate_head: bool):
        super().__init__()
        self.rate_head = rate_head
        self.serve_features = tf.function(self._score, input_signature=[
            {name: tf.TensorSpec([None], dtype, name=name) for name, dtype in self.SPECS.items()}])

    def _score(self, request):
        def number(name):
            value = tf.cast(request[name], tf.float32)
            return tf.where(tf.math.is_nan(value), tf.zeros_like(value), value)
        movie, user = number(features.MOVIE_KEY), number(features.USER_KEY)
        same_genre = tf.cast(tf.equal(request["movieGenre1"], request["userGenre1"]), tf.float32)
        logit = tf.sin(movie * 0.37 + user * 0.11) + 0.5 * same_genre + 0.1 * number(features.USER_AVG_RATING_KEY) \
            - 0.2 * tf.math.log1p(number(features.MOVIE_RATING_COUNT_KEY))
        liked = tf.reshape(tf.sigmoid(logit), [-1, 1])
        if not self.rate_head:
            return {signatures.PROBABILITY_KEY: liked}
        rated = tf.reshape(tf.sigmoid(tf.cos(movie * 0.13 + user * 0.07)), [-1, 1])
        return {signatures.PROBABILITY_KEY: liked, signatures.RATE_PROBABILITY_KEY: rated,
                signatures.RANK_SCORE_KEY: signatures.rank_scores(liked, rated, request[
                    features.MOVIE_RATING_COUNT_KEY], popularity_cap=0)}


def _save_feature_model(uri: str, rate_head: bool):
    from tfx.types import standard_artifacts
    from tfx.utils import path_utils

    module = _FeatureModel(rate_head)
    tf.saved_model.save(module, path_utils.serving_model_dir(uri),
                        signatures={signatures.FEATURES_SIGNATURE: module.serve_features.get_concrete_function()})
    model = standard_artifacts.Model()
    model.uri = uri
    return model


@dataclasses.dataclass
class World:
    root: str
    raw_dir: str
    snapshot: object  # FeatureSnapshot's artifact (every raw rating), its will-rate choice rewritten to rating_count
    knn_snapshot: object  # the same, rewritten to item_knn
    knn_now_snapshot: object  # the same, rewritten to item_knn_now
    models: dict  # name -> Model artifact


@pytest.fixture(scope="module")
def world(tmp_path_factory, snapshot_world) -> World:
    from tests.helpers import scoring_models

    root = str(tmp_path_factory.mktemp("recommend-signature"))
    raw_dir, feature_snapshot = snapshot_world.raw_dir, snapshot_world.snapshot
    manifest = snapshot.load_manifest(feature_snapshot.uri)
    assert manifest[snapshot.WILL_RATE_BACK_TEST]["chosen"] in will_rate.ESTIMATES

    def chosen(estimate: str):
        """A copy of the snapshot whose will-rate back-test chose estimate: every estimate's sums are exported."""
        copy = type(feature_snapshot)()
        copy.uri = os.path.join(root, f"{estimate}-snapshot")
        shutil.copytree(feature_snapshot.uri, copy.uri)
        with open(os.path.join(copy.uri, snapshot.MANIFEST_FILE), "w") as f:
            json.dump({**manifest, snapshot.WILL_RATE_BACK_TEST: {**manifest[snapshot.WILL_RATE_BACK_TEST],
                                                                  "chosen": estimate}}, f)
        return copy
    users = {user[features.USER_KEY]: user[snapshot.RATED] for user in snapshot.users(feature_snapshot.uri)}
    movies = sorted(snapshot.load_movies(feature_snapshot.uri))
    # P(like) 0.9 for a few movies per user, 0.05 for the rest: many equal scores, ordered by movieId
    preferred = {user: movies[user % 7::11][:12] for user in users}
    models = {"preference": scoring_models.save(os.path.join(root, "models", "preference"), preferred),
              "features": _save_feature_model(os.path.join(root, "models", "features"), rate_head=False),
              "rate_head": _save_feature_model(os.path.join(root, "models", "rate_head"), rate_head=True)}
    return World(root, raw_dir, chosen(will_rate.RATING_COUNT), chosen(will_rate.ITEM_KNN),
                 chosen(will_rate.ITEM_KNN_NOW), models)


def _policy_artifact(world: World, directory: str):
    """A CatalogueEvaluation artifact holding a serving policy with a fallback on both paths: users with ratings get
    most_rated instead of the model, users without the list the cold-start back-test did not choose."""
    from components.catalogue_eval import spec as catalogue_spec

    chosen = snapshot.load_manifest(world.snapshot.uri)[snapshot.COLD_START_BACK_TEST]["chosen"]
    other = next(name for name in cold_start.RANKERS if name != chosen)
    policy = serving_policy.ServingPolicy(
        "recall@10 over 9 eval users: ours 0.1000 < 0.90 x most_rated 0.2000", "recall@10",
        serving_policy.PathChoice(cold_start.MOST_RATED, serving_policy.MODEL, 4,
                                  {serving_policy.MODEL: 0.1, cold_start.MOST_RATED: 0.3}),
        serving_policy.PathChoice(other, chosen, 5, {chosen: 0.1, other: 0.2}))
    serving_policy.write(policy, directory)
    artifact = catalogue_spec.CatalogueEvaluation()
    artifact.uri = directory
    return artifact


# name -> (model, which snapshot, with the fallback policy)
VERSIONS = {
    "preference": ("preference", "snapshot", False),  # the model path with many ties; rating count
    "features_knn": ("features", "knn_snapshot", False),  # item-kNN over rated and liked movies
    # the user's movies weighted by when they rated them, times the movie's recent popularity
    "features_knn_now": ("features", "knn_now_snapshot", False),
    "rate_head": ("rate_head", "snapshot", False),  # the model's rank score ranks
    "fallback": ("preference", "snapshot", True),  # popularity lists on both paths
}


@pytest.fixture(scope="module")
def versions(world, tmp_path_factory) -> dict:
    """name -> the version the real AtomicPusher executor pushed, each into a serving dir of its own."""
    from tests.helpers import executors

    pushed = {}
    for name, (model, snapshot_name, with_policy) in VERSIONS.items():
        base = str(tmp_path_factory.mktemp(f"serving-{name}"))
        evaluation = _policy_artifact(world, os.path.join(world.root, "policy", name)) if with_policy else None
        artifact = executors.run_pusher(world.models[model], 1, getattr(world, snapshot_name), base,
                                        os.path.join(world.root, "pushed", name), evaluation)
        assert artifact.get_int_custom_property("pushed") == 1
        pushed[name] = artifact.get_string_custom_property("pushed_destination")
    return pushed


def _loaded(version_dir: str):
    return serve.ServedVersion.load(version_dir)


def _ranked(outputs) -> tuple:
    return outputs[export.MOVIE_IDS].numpy().tolist(), outputs[export.SCORES].numpy(), \
        outputs[export.PATH].numpy().decode()


def _users(served) -> list:
    """Users with ratings: the heaviest, the lightest, and a spread between; then users without ratings."""
    rated = {user[features.USER_KEY]: len(user[snapshot.RATED]) for user in snapshot.users(served.snapshot_dir)}
    by_count = sorted(rated, key=lambda user: (rated[user], user))
    return [by_count[-1], by_count[0], *by_count[1:-1:len(by_count) // 6]], list(NEW_USERS)


def _assert_same(served, user: int, top: int, candidates=None) -> list:
    expected = serve.recommend(served, user, top=top, candidates=candidates)
    if candidates is None:
        outputs = served.model.signatures[export.SIGNATURE](user_id=tf.constant(user, tf.int64), k=tf.constant(top))
    else:
        outputs = served.model.signatures[export.CANDIDATES_SIGNATURE](
            user_id=tf.constant([user], tf.int64), k=tf.constant([top]), candidates=tf.constant(candidates, tf.int64))
    ids, scores, path = _ranked(outputs)
    assert ids == [item.movie_id for item in expected.items], (user, candidates)
    np.testing.assert_allclose(scores, [item.score for item in expected.items], rtol=0, atol=1e-5)
    assert path == expected.path
    return ids


@pytest.mark.parametrize("name", list(VERSIONS))
def test_the_signatures_top_10_is_recommends_for_known_and_new_users_and_given_candidates(versions, name):
    served = _loaded(versions[name])
    known, new = _users(served)
    paths = set()
    for user in known + new:
        _assert_same(served, user, TOP)
        paths.add(serve.recommend(served, user, top=1).path)
    # every path of this version was taken
    info = export.read_info(served.version_dir)
    assert paths == set(info["paths"].values())
    assert info["will_rate"] == served.will_rate_back_test.chosen
    movies = sorted(served.movies)
    rated = snapshot.find_user(served.snapshot_dir, known[0])[snapshot.RATED]
    # given candidates: unsorted, repeated, some rated by the user, fewer than k
    given = [movies[-1], *rated[:3], movies[len(movies) // 2], movies[0], movies[-1], *movies[5:40:3]]
    for user in (known[0], known[-1], new[0]):
        _assert_same(served, user, TOP, given)
        _assert_same(served, user, 50, given)  # k above the candidates: all of them
    _assert_same(served, known[0], 3)
    _assert_same(served, new[0], 0)


def test_the_versions_record_the_paths_recommend_takes(world, versions):
    chosen = snapshot.load_manifest(world.snapshot.uri)[snapshot.COLD_START_BACK_TEST]["chosen"]
    other = next(name for name in cold_start.RANKERS if name != chosen)
    assert export.read_info(versions["preference"])["paths"] == {
        serving_policy.WITH_HISTORY: serve.MODEL_PATH, serving_policy.COLD_START: serve.cold_start_path(chosen)}
    assert export.read_info(versions["fallback"])["paths"] == {
        serving_policy.WITH_HISTORY: f"fallback:{cold_start.MOST_RATED}",
        serving_policy.COLD_START: f"fallback:{other}"}
    assert export.read_info(versions["features_knn"])["similarities"] > 0


def test_bad_requests_are_invalid_argument_errors_naming_the_problem(versions):
    served = _loaded(versions["preference"])
    known, _ = _users(served)
    recommend_candidates = served.model.signatures[export.CANDIDATES_SIGNATURE]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not in the feature snapshot.*\[99999999\]"):
        recommend_candidates(user_id=tf.constant(known[0], tf.int64), k=tf.constant(10),
                             candidates=tf.constant([sorted(served.movies)[0], 99999999], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="has no candidate movies left"):
        recommend_candidates(user_id=tf.constant(known[0], tf.int64), k=tf.constant(10),
                             candidates=tf.zeros([0], tf.int64))
    recommend = served.model.signatures[export.SIGNATURE]
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 0"):
        recommend(user_id=tf.constant(known[0], tf.int64), k=tf.constant(-1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="user_id must be one value"):
        recommend(user_id=tf.constant([1, 2], tf.int64), k=tf.constant(10))


def saved_model_cli(*args: str) -> str:
    result = subprocess.run([SAVED_MODEL_CLI, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"saved_model_cli {' '.join(args)}:\n{result.stderr[-4000:]}"
    return result.stdout


def printed(output: str, key: str) -> str:
    """What `saved_model_cli run` printed for one output."""
    return re.search(rf"Result for output key {key}:\n(.*?)(?=\nResult for output key |\Z)", output, re.S).group(1)


def printed_ids(output: str) -> list:
    return [int(value) for value in printed(output, export.MOVIE_IDS).strip("[] \n").split()]


@pytest.mark.parametrize("name", ["features_knn", "fallback"])
def test_saved_model_cli_runs_recommend_to_the_same_top_10(versions, name):
    version_dir = versions[name]
    served = _loaded(version_dir)
    known, new = _users(served)
    shown = saved_model_cli("show", "--dir", version_dir, "--tag_set", "serve", "--signature_def", export.SIGNATURE)
    for kind, key, dtype, shape in (("inputs", "user_id", "DT_INT64", "unknown_rank"),
                                    ("inputs", "k", "DT_INT32", "unknown_rank"),
                                    ("outputs", "movie_ids", "DT_INT64", r"\(-1\)"),
                                    ("outputs", "scores", "DT_DOUBLE", r"\(-1\)"),
                                    ("outputs", "path", "DT_STRING", r"\(\)")):
        assert re.search(rf"{kind}\['{key}'\] tensor_info:\s+dtype: {dtype}\s+shape: {shape}\n", shown), shown
    for user in (known[0], new[0]):
        out = saved_model_cli("run", "--dir", version_dir, "--tag_set", "serve", "--signature_def",
                              export.SIGNATURE, "--input_exprs", f"user_id={user};k={TOP}")
        expected = serve.recommend(served, user, top=TOP)
        print(f"saved_model_cli run ... --input_exprs 'user_id={user};k={TOP}':\n{out}")
        assert printed_ids(out) == [item.movie_id for item in expected.items], out
        assert printed(out, export.PATH).strip() == repr(expected.path.encode())
    candidates = sorted(served.movies)[3:60:4]
    out = saved_model_cli("run", "--dir", version_dir, "--tag_set", "serve", "--signature_def",
                          export.CANDIDATES_SIGNATURE, "--input_exprs",
                          f"user_id={known[1]};k={TOP};candidates={candidates}")
    assert printed_ids(out) == [item.movie_id for item in serve.recommend(
        served, known[1], top=TOP, candidates=candidates).items], out


def test_the_models_own_signatures_are_saved_as_they_were(world, versions):
    from tfx.utils import path_utils

    trained = tf.saved_model.load(path_utils.serving_model_path(world.models["rate_head"].uri))
    pushed = tf.saved_model.load(versions["rate_head"])
    assert set(pushed.signatures) == {signatures.FEATURES_SIGNATURE, export.SIGNATURE, export.CANDIDATES_SIGNATURE}
    own, again = trained.signatures[signatures.FEATURES_SIGNATURE], pushed.signatures[signatures.FEATURES_SIGNATURE]
    assert again.structured_input_signature == own.structured_input_signature
    assert again.structured_outputs == own.structured_outputs
    served = _loaded(versions["rate_head"])
    request = serve.as_tensors(served.candidates.request(1, {}, sorted(served.movies)[:50]))
    for key, values in own(**request).items():
        np.testing.assert_array_equal(again(**request)[key].numpy(), values.numpy())


def test_the_same_model_is_not_pushed_again_and_a_version_without_the_signatures_is_replaced(world, versions,
                                                                                           tmp_path):
    from tfx.utils import path_utils

    from components.atomic_pusher import spec
    from tests.helpers import executors

    version_dir = versions["preference"]
    committed = serving_dir.committed_files(version_dir)
    assert export.INFO_FILE in committed and os.path.join(serving_dir.FEATURE_SNAPSHOT_DIR,
                                                          snapshot.MANIFEST_FILE) in committed
    info = export.read_info(version_dir)
    trained_dir = path_utils.serving_model_path(world.models["preference"].uri)
    assert info["model_fingerprint"] == serving_dir.model_fingerprint(trained_dir).hex()
    assert serving_dir.model_fingerprint(version_dir) != serving_dir.model_fingerprint(trained_dir)  # saved again

    base = str(tmp_path / "serving")
    shutil.copytree(os.path.dirname(version_dir), base)
    again = executors.run_pusher(world.models["preference"], 1, world.snapshot, base, str(tmp_path / "again"))
    assert again.get_int_custom_property("pushed") == 0
    assert again.get_string_custom_property(spec.ALREADY_SERVED_PROPERTY) == os.path.join(
        base, os.path.basename(version_dir))

    # The same model and snapshot pushed as trained (before the signatures): pushed again, with them.
    before = str(tmp_path / "before")
    old = serving_dir.publish(trained_dir, before, {serving_dir.FEATURE_SNAPSHOT_DIR: world.snapshot.uri})
    assert export.read_info(old) is None
    replaced = executors.run_pusher(world.models["preference"], 1, world.snapshot, before, str(tmp_path / "new"))
    assert replaced.get_int_custom_property("pushed") == 1
    assert replaced.get_string_custom_property(spec.RECOMMEND_PROPERTY) == (
        f"recommend, recommend_candidates: with_history model, cold_start {info['paths']['cold_start']}")
    newest = serving_dir.latest_version_dir(before)
    assert newest != old and export.SIGNATURE in tf.saved_model.load(newest).signatures
