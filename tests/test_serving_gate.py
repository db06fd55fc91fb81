"""Gate against what serves, on what users see (issue 35, point 2), with the real executors on small real data.

SampleGen and FeatureSnapshot make the examples and the snapshot of a generated world; the models are small real
SavedModels whose P(like) prefers chosen (user, movie) pairs (tests/helpers/scoring_models.py): "oracle" prefers
each eval user's later liked movies, "sixth" one in six of them (the will-rate estimate, which the model's P(like)
multiplies, finds many of the rest), "anti" everything else. ServingBaseline, the
CatalogueEvaluator and the AtomicPusher run as the pipeline runs them, and `recommend` serves what was pushed:
- a candidate worse than the serving version by more than the margin is refused, the serving-version gate named;
  one within the margin passes;
- the first run with a candidate that loses to popularity is pushed with the fallback, committed with the version,
  and `recommend` serves the popularity list on that path and says so;
- once a version serves, a losing candidate is refused and a better one replaces the fallback.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import pytest

from components.catalogue_eval import gates
from components.catalogue_eval import spec as catalogue_spec
from components.serving_baseline import spec as baseline_spec
from recommender import catalogue, cold_start, serving_policy
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # TensorFlow, TFX and Beam
METRIC = "recall@10"


@dataclasses.dataclass
class World:
    root: str
    examples: object  # SampleGen's Examples artifact
    snapshot: object  # FeatureSnapshot's artifact (raw mode, every rating)
    data: catalogue.Catalogue  # the history and targets the evaluator reads
    models: dict  # name -> Model artifact

    def evaluate(self, candidate: str, serving_dir: str, name: str, **gate):
        """ServingBaseline then the CatalogueEvaluator for the candidate, against what serving_dir serves."""
        from tests.helpers import executors

        baseline = executors.run_serving_baseline(self.models[candidate], serving_dir,
                                                  os.path.join(self.root, name, "baseline"))
        return executors.run_catalogue_evaluator(self.examples, self.models[candidate], self.snapshot, baseline,
                                                 os.path.join(self.root, name, "evaluation"), **gate), baseline

    def push(self, model: str, serving_dir: str, name: str, evaluation=None):
        from tests.helpers import executors

        return executors.run_pusher(self.models[model], 1, self.snapshot, serving_dir,
                                    os.path.join(self.root, name, "pushed"), evaluation)


@pytest.fixture(scope="module")
def world(tmp_path_factory, snapshot_world) -> World:
    from tfx.types import artifact_utils

    from components.catalogue_eval import executor as catalogue_executor
    from dataio.examples import read_samples
    from recommender import snapshot
    from tests.helpers import scoring_models

    root = str(tmp_path_factory.mktemp("serving-gate"))
    examples, feature_snapshot = snapshot_world.examples, snapshot_world.snapshot
    data = catalogue.Catalogue.from_samples(
        *(read_samples(artifact_utils.get_split_uri([examples], split), catalogue.SAMPLE_COLUMNS)
          for split in ("train", "eval")),
        *catalogue_executor.served_back_tests(snapshot.load_manifest(feature_snapshot.uri)))
    targets = data.liked_later
    preferences = {"oracle": targets, "sixth": {user: sorted(movies)[::6] for user, movies in targets.items()},
                   "anti": {user: set(data.movies) - movies for user, movies in targets.items()}}
    models = {name: scoring_models.save(os.path.join(root, "models", name), preferred)
              for name, preferred in preferences.items()}
    return World(root, examples, feature_snapshot, data, models)


def metrics(evaluation) -> dict:
    from components.catalogue_eval import executor as catalogue_executor

    return catalogue_executor.read_metrics(evaluation.uri)


def recall(results: dict, ranker: str, group: str = catalogue.ALL_USERS) -> float:
    return results[ranker][group][METRIC]


def prop(artifact, name: str):
    return artifact.get_custom_property(name)


@pytest.fixture(scope="module")
def oracle_serving(world, tmp_path_factory) -> str:
    """A serving dir where the oracle serves (pushed with no serving policy)."""
    serving_dir = str(tmp_path_factory.mktemp("oracle-serving") / "serving")
    assert prop(world.push("oracle", serving_dir, "oracle-push"), "pushed") == 1
    return serving_dir


def test_a_candidate_worse_than_the_serving_version_by_more_than_the_margin_is_refused_one_within_passes(
        world, oracle_serving):
    from recommender import serving_dir

    version = os.path.basename(serving_dir.latest_version_dir(oracle_serving))
    refused, baseline = world.evaluate("sixth", oracle_serving, "sixth-default")  # the default margin, 0.1
    assert prop(baseline, baseline_spec.IS_CANDIDATE_PROPERTY) == 0
    results = metrics(refused)
    ratio = recall(results, catalogue_spec.OURS) / recall(results, catalogue_spec.SERVING)
    print(f"sixth / serving version: {ratio:.3f}; popularity gate: {prop(refused, 'popularity_gate')}")
    assert 0.5 < ratio < 0.9  # worse than the serving version by more than the default margin
    assert prop(refused, catalogue_spec.BLESSED_PROPERTY) == 0
    assert prop(refused, catalogue_spec.DECIDED_BY_PROPERTY) == catalogue_spec.SERVING_GATE
    assert prop(refused, catalogue_spec.SERVING_VERSION_PROPERTY) == version
    assert prop(refused, catalogue_spec.GATE_PROPERTY) == (
        f"{METRIC} over {int(results['ours']['all']['users'])} eval users: ours {recall(results, 'ours'):.4f} < "
        f"(1 - 0.10) x serving version {version} {recall(results, catalogue_spec.SERVING):.4f} "
        "(change with --max-catalogue-regression)")
    assert ">= 0.90 x most_rated" in prop(refused, catalogue_spec.POPULARITY_GATE_PROPERTY)  # popularity passed
    assert prop(refused, catalogue_spec.property_name(catalogue_spec.SERVING, "all", METRIC)) == pytest.approx(
        recall(results, catalogue_spec.SERVING))
    assert not os.path.exists(os.path.join(refused.uri, serving_policy.POLICY_FILE))

    # The serving version is ranked as it serves: its figures are the oracle's own as a candidate.
    oracle, _ = world.evaluate("oracle", oracle_serving, "oracle-again")
    assert metrics(oracle)[catalogue_spec.OURS] == results[catalogue_spec.SERVING]
    assert prop(oracle, catalogue_spec.BLESSED_PROPERTY) == 1  # the same model: within any margin
    assert prop(oracle, catalogue_spec.DECIDED_BY_PROPERTY) == catalogue_spec.SERVING_GATE

    # The same candidate within a wider margin passes, the serving-version gate deciding.
    margin = round(1 - ratio + 0.02, 2)
    within, _ = world.evaluate("sixth", oracle_serving, "sixth-wider", max_regression=margin)
    assert prop(within, catalogue_spec.BLESSED_PROPERTY) == 1
    assert prop(within, catalogue_spec.DECIDED_BY_PROPERTY) == catalogue_spec.SERVING_GATE
    assert f"ours {recall(results, 'ours'):.4f} >= (1 - {margin:.2f}) x serving version {version}" in prop(
        within, catalogue_spec.GATE_PROPERTY)
    narrower, _ = world.evaluate("sixth", oracle_serving, "sixth-narrower", max_regression=round(1 - ratio - 0.02, 2))
    assert prop(narrower, catalogue_spec.BLESSED_PROPERTY) == 0


@dataclasses.dataclass
class FirstRun:
    serving_dir: str
    evaluation: object
    pushed: object
    version_dir: str


@pytest.fixture(scope="module")
def first_run(world, tmp_path_factory) -> FirstRun:
    """The first run, nothing serving, with the candidate that loses to popularity: evaluated and pushed."""
    serving_dir = str(tmp_path_factory.mktemp("first-run") / "serving")
    evaluation, baseline = world.evaluate("anti", serving_dir, "first-run")
    assert prop(baseline, baseline_spec.IS_CANDIDATE_PROPERTY) == 1
    pushed = world.push("anti", serving_dir, "first-run", evaluation)
    return FirstRun(serving_dir, evaluation, pushed, pushed.get_string_custom_property("pushed_destination"))


def test_the_first_run_blesses_a_candidate_that_loses_to_popularity_with_the_better_list_per_path(world, first_run):
    results = metrics(first_run.evaluation)
    evaluation = first_run.evaluation
    assert " < 0.90 x most_rated " in prop(evaluation, catalogue_spec.POPULARITY_GATE_PROPERTY)  # it lost
    assert prop(evaluation, catalogue_spec.BLESSED_PROPERTY) == 1
    assert prop(evaluation, catalogue_spec.DECIDED_BY_PROPERTY) == catalogue_spec.FIRST_RUN_FALLBACK
    assert prop(evaluation, catalogue_spec.SERVING_VERSION_PROPERTY) == ""
    assert catalogue_spec.SERVING not in results  # nothing serves: nothing to rank
    policy = serving_policy.load(evaluation.uri)
    # Users with history: the better measured popularity list (the model found none of their liked movies).
    with_history = {name: recall(results, name, catalogue.WITH_HISTORY) for name in catalogue_spec.BASELINES}
    assert recall(results, catalogue_spec.OURS, catalogue.WITH_HISTORY) < max(with_history.values())
    assert policy.with_history.serves == max(with_history, key=with_history.get)
    assert policy.with_history.figures == {serving_policy.MODEL: recall(results, "ours", catalogue.WITH_HISTORY),
                                           **with_history}
    # Cold-start users: the snapshot's choice, unless the other list measured better.
    cold = {name: recall(results, name, catalogue.COLD) for name in catalogue_spec.BASELINES}
    chosen = world.data.cold_start_back_test.chosen
    assert policy.cold_start.default == chosen
    assert policy.cold_start.serves == (chosen if cold[chosen] >= max(cold.values()) else max(cold, key=cold.get))
    assert policy.expected >= recall(results, "most_rated")  # at least as good as either popularity list
    assert prop(evaluation, catalogue_spec.FALLBACK_PROPERTY) == policy.summary()
    assert prop(evaluation, catalogue_spec.GATE_PROPERTY).endswith(
        f"nothing serves yet, so it serves with a fallback: {policy.summary()}")


def test_the_fallback_policy_is_committed_with_the_version(world, first_run):
    from recommender import serving_dir

    assert prop(first_run.pushed, "pushed") == 1
    assert first_run.version_dir == serving_dir.latest_version_dir(first_run.serving_dir)
    committed = serving_dir.committed_files(first_run.version_dir)
    policy_path = os.path.join(first_run.version_dir, serving_policy.POLICY_FILE)
    assert committed[serving_policy.POLICY_FILE] == os.path.getsize(policy_path)  # the marker covers it
    assert serving_policy.load(first_run.version_dir) == serving_policy.load(first_run.evaluation.uri)
    assert first_run.pushed.get_string_custom_property("serving_policy") == \
        serving_policy.load(first_run.version_dir).summary()

    # The same model, snapshot and policy already serve: not pushed again; without the policy it is another
    # release (the one that serves the model everywhere), so it is pushed.
    copy = os.path.join(world.root, "policy-copy", "serving")
    shutil.copytree(first_run.serving_dir, copy)
    again = world.push("anti", copy, "policy-again", first_run.evaluation)
    assert prop(again, "pushed") == 0 and again.get_string_custom_property("already_served").endswith(
        os.path.basename(first_run.version_dir))
    without = world.push("anti", copy, "policy-without")
    assert prop(without, "pushed") == 1
    assert serving_policy.load(serving_dir.latest_version_dir(copy)) is None


def _popularity_top(served, user_id: int, ranker: str, top: int) -> list:
    from recommender import snapshot

    rated = set((snapshot.find_user(served.snapshot_dir, user_id) or {snapshot.RATED: []})[snapshot.RATED])
    scores = {m: e[snapshot.COLD_START][ranker] for m, e in served.movies.items() if m not in rated}
    return sorted(scores, key=lambda m: (-scores[m], m))[:top]


def test_recommend_serves_the_fallback_list_on_that_path_and_says_so(world, first_run):
    from recommender import serve, snapshot

    served = serve.load_newest(first_run.serving_dir)
    policy = served.policy
    assert policy is not None and policy.with_history.is_fallback
    listed = policy.with_history.serves
    user = max(world.data.history, key=lambda u: (len(world.data.history[u]), u))
    result = serve.recommend(served, user, top=5)
    assert result.path == f"fallback:{listed}" and result.known_user
    assert [item.movie_id for item in result.items] == _popularity_top(served, user, listed, 5)
    assert all(item.probability is None for item in result.items)
    assert result.fallback["list"] == listed and result.fallback["instead_of"] == serving_policy.MODEL
    assert result.will_rate is None
    # users without ratings: the cold-start path the policy keeps (or its fallback)
    cold = serve.recommend(served, 987654321, top=5)
    expected_cold = policy.fallback_path(False) or serve.cold_start_path(served.cold_start.chosen)
    assert cold.path == expected_cold
    assert [item.movie_id for item in cold.items] == _popularity_top(served, 987654321, policy.cold_start.serves, 5)

    shown = run_cli("recommend", "--user", str(user), "--top", "5", "--serving-dir", first_run.serving_dir)
    figures = policy.with_history.figures
    assert (f"ranked (fallback:{listed}) by {cold_start.DESCRIPTIONS[listed]} as of the features' time, not by the "
            "model: this version was pushed with a first-run fallback" in shown.stdout), shown.stdout
    assert (f"  measured: recall@10 over the first run's {policy.with_history.users} eval users with ratings: "
            f"{listed} {figures[listed]:.4f}" in shown.stdout), shown.stdout
    assert f"model {figures[serving_policy.MODEL]:.4f}" in shown.stdout
    assert f"  why a fallback: {policy.reason}" in shown.stdout and " < 0.90 x most_rated " in policy.reason
    assert "serving policy (first-run fallback): users with ratings get" in shown.stdout
    rows = [line for line in shown.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row.split()[4]) for row in rows] == [item.movie_id for item in result.items], shown.stdout
    as_json = json.loads(run_cli("recommend", "--user", str(user), "--top", "5", "--serving-dir",
                                 first_run.serving_dir, "--json").stdout)
    assert as_json["path"] == f"fallback:{listed}"
    assert as_json["fallback"]["list"] == listed and as_json["fallback"]["figures"] == figures
    assert as_json["fallback"]["reason"] == policy.reason
    assert as_json["serving_policy"] == policy.to_dict()
    assert [r["movieId"] for r in as_json["recommendations"]] == [item.movie_id for item in result.items]
    assert snapshot.find_user(served.snapshot_dir, user) is not None


def test_once_a_version_serves_a_losing_candidate_is_refused_and_a_better_one_replaces_the_fallback(
        world, first_run):
    from recommender import serve, serving_dir

    copy = os.path.join(world.root, "after-first-run", "serving")
    shutil.copytree(first_run.serving_dir, copy)
    fallback_version = os.path.basename(serving_dir.latest_version_dir(copy))

    losing, baseline = world.evaluate("anti", copy, "second-run-anti")
    assert prop(baseline, baseline_spec.IS_CANDIDATE_PROPERTY) == 0
    results = metrics(losing)
    assert prop(losing, catalogue_spec.BLESSED_PROPERTY) == 0  # nothing worse replaces what serves
    assert prop(losing, catalogue_spec.DECIDED_BY_PROPERTY) == catalogue_spec.POPULARITY_GATE
    assert not os.path.exists(os.path.join(losing.uri, serving_policy.POLICY_FILE))
    # The serving version is ranked as it serves: the fallback's list for users with history.
    policy = serving_policy.load(os.path.join(copy, fallback_version))
    assert results[catalogue_spec.SERVING][catalogue.WITH_HISTORY] == \
        results[policy.with_history.serves][catalogue.WITH_HISTORY]
    assert prop(losing, catalogue_spec.SERVING_VERSION_PROPERTY) == fallback_version

    better, _ = world.evaluate("oracle", copy, "second-run-oracle")
    assert prop(better, catalogue_spec.BLESSED_PROPERTY) == 1
    assert prop(better, catalogue_spec.DECIDED_BY_PROPERTY) == catalogue_spec.SERVING_GATE
    assert f"x serving version {fallback_version} " in prop(better, catalogue_spec.GATE_PROPERTY)
    pushed = world.push("oracle", copy, "second-run-oracle", better)
    assert prop(pushed, "pushed") == 1
    served = serve.load_newest(copy)
    assert served.policy is None  # no fallback: the model serves users with ratings again
    user = max(world.data.history, key=lambda u: (len(world.data.history[u]), u))
    assert serve.recommend(served, user, top=5).path == serve.MODEL_PATH


def test_a_version_without_a_policy_serves_as_before_and_a_cold_start_fallback_serves_the_other_list(
        world, tmp_path):
    from tfx.utils import path_utils

    from recommender import serve, serving_dir

    chosen = world.data.cold_start_back_test.chosen
    other = next(name for name in cold_start.RANKERS if name != chosen)
    policy = serving_policy.choose("recall@10 over 21 eval users: ours 0.1000 < 0.90 x most_rated 0.2000", METRIC,
                                   5, {serving_policy.MODEL: 0.3, chosen: 0.2, other: 0.1},
                                   7, {chosen: 0.1, other: 0.25}, chosen)
    assert not policy.with_history.is_fallback and policy.cold_start.serves == other
    policy_dir = str(tmp_path / "policy")
    serving_policy.write(policy, policy_dir)
    model_dir = path_utils.serving_model_path(world.models["oracle"].uri)
    base = str(tmp_path / "serving")
    plain = serving_dir.publish(model_dir, base, {serving_dir.FEATURE_SNAPSHOT_DIR: world.snapshot.uri})
    before = serve.recommend(serve.ServedVersion.load(plain), 987654321, top=5)
    assert before.path == serve.cold_start_path(chosen) and before.fallback is None

    serving_dir.publish(model_dir, base, {serving_dir.FEATURE_SNAPSHOT_DIR: world.snapshot.uri},
                        {serving_policy.POLICY_FILE: serving_policy.path_of(policy_dir)})
    served = serve.load_newest(base)
    cold = serve.recommend(served, 987654321, top=5)
    assert cold.path == f"fallback:{other}" and cold.fallback["instead_of"] == chosen
    assert [item.movie_id for item in cold.items] == _popularity_top(served, 987654321, other, 5)
    user = max(world.data.history, key=lambda u: (len(world.data.history[u]), u))
    assert serve.recommend(served, user, top=5).path == serve.MODEL_PATH  # the model kept where it won
    shown = run_cli("recommend", "--user", "987654321", "--top", "3", "--serving-dir", base).stdout
    assert (f"user 987654321 is unknown: no ratings in the feature snapshot; fallback (fallback:{other}): "
            f"{cold_start.DESCRIPTIONS[other]} as of the features' time, in place of the cold-start back-test's "
            f"{chosen}" in shown), shown
    assert f"  measured: recall@10 over the first run's 7 eval users without ratings: {other} 0.2500, " \
           f"{chosen} 0.1000" in shown


# The decision and its words, on hand-made figures (no TensorFlow)

def _results(ours, most_rated, recent, serving=None, with_history=(4, 0.1, 0.3, 0.2), cold=(6, 0.2, 0.1)):
    """{ranker: {group: {recall@10, users}}}: all users' figures, and per path (users, ours/most/recent...)."""
    users_h, ours_h, most_h, recent_h = with_history
    users_c, most_c, recent_c = cold
    figures = {"ours": (ours, ours_h, most_c), "most_rated": (most_rated, most_h, most_c),
               "recent_most_rated": (recent, recent_h, recent_c)}
    if serving is not None:
        figures["serving_version"] = (serving, ours_h, most_c)
    return {name: {catalogue.ALL_USERS: {METRIC: a, "users": users_h + users_c},
                   catalogue.WITH_HISTORY: {METRIC: h, "users": users_h},
                   catalogue.COLD: {METRIC: c, "users": users_c}} for name, (a, h, c) in figures.items()}


def test_which_gate_decides():
    decide = lambda results, serving=None, nothing=True: gates.decide(
        results, 10, 0.9, 0.1, serving, nothing, cold_start.MOST_RATED)
    first = decide(_results(0.10, 0.20, 0.15))
    assert first.blessed and first.decided_by == catalogue_spec.FIRST_RUN_FALLBACK and first.policy is not None
    assert first.policy.with_history.serves == "most_rated" and first.policy.cold_start.serves == "most_rated"
    assert first.policy.expected == pytest.approx((4 * 0.3 + 6 * 0.2) / 10)
    refused = decide(_results(0.10, 0.20, 0.15, serving=0.11), "7", nothing=False)
    assert (refused.blessed, refused.decided_by, refused.policy) == (False, catalogue_spec.POPULARITY_GATE, None)
    assert refused.serving == (True, "recall@10 over 10 eval users: ours 0.1000 >= (1 - 0.10) x serving version 7 "
                                     "0.1100")
    worse = decide(_results(0.30, 0.20, 0.15, serving=0.40), "7", nothing=False)
    assert (worse.blessed, worse.decided_by) == (False, catalogue_spec.SERVING_GATE)
    assert worse.comparison.endswith("(change with --max-catalogue-regression)")
    at_margin = decide(_results(0.37, 0.20, 0.15, serving=0.40), "7", nothing=False)
    assert (at_margin.blessed, at_margin.decided_by) == (True, catalogue_spec.SERVING_GATE)
    only_popularity = decide(_results(0.30, 0.20, 0.15))
    assert (only_popularity.blessed, only_popularity.decided_by, only_popularity.serving) == (
        True, catalogue_spec.POPULARITY_GATE, None)
    off = gates.decide(_results(0.10, 0.20, 0.15, serving=0.40), 10, 0.9, 1.0, "7", False, cold_start.MOST_RATED)
    assert off.serving[0] and off.serving[1].startswith("off (--max-catalogue-regression 1)")


def test_the_fallback_keeps_the_model_and_the_snapshots_choice_where_they_measured_best():
    policy = gates.first_run_policy(_results(0.1, 0.2, 0.15, with_history=(4, 0.5, 0.3, 0.2), cold=(6, 0.1, 0.1)),
                                    10, "why", cold_start.RECENT_MOST_RATED)
    assert not policy.with_history.is_fallback and not policy.cold_start.is_fallback  # ties keep the default
    assert policy.fallback_path(True) is None and policy.fallback_path(False) is None
    empty = serving_policy.choose("why", METRIC, 0, {}, 3, {"most_rated": 0.2, "recent_most_rated": 0.3},
                                  "most_rated")
    assert empty.with_history.serves == serving_policy.MODEL and empty.cold_start.serves == "recent_most_rated"
    assert serving_policy.ServingPolicy.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty
    with pytest.raises(serving_policy.PolicyFormatError):
        serving_policy.ServingPolicy.from_dict({**empty.to_dict(), "format_version": 99})


def test_the_run_summary_says_which_catalogue_gate_decided():
    from pipeline.report import summary

    def lines(decision, gate, blessed=True):
        return summary.RunSummary("run-1", {}, {}, blessed, {}, None, False, catalogue_gate=gate,
                                  catalogue_decision=decision).lines()
    serving = summary.CatalogueDecision(
        catalogue_spec.SERVING_GATE, "recall@10 over 9 eval users: ours 0.3000 >= 0.90 x most_rated 0.2000",
        "recall@10 over 9 eval users: ours 0.3000 < (1 - 0.10) x serving version 7 0.4000 (change with "
        "--max-catalogue-regression)", "7")
    out = lines(serving, (False, serving.serving_gate), blessed=False)
    assert f"catalogue gate: {serving.serving_gate}: failed" in out
    assert ("catalogue gate decided by the serving-version gate (popularity gate: recall@10 over 9 eval users: "
            "ours 0.3000 >= 0.90 x most_rated 0.2000: passed)") in out
    popularity = dataclasses.replace(serving, decided_by=catalogue_spec.POPULARITY_GATE)
    assert (f"catalogue gate decided by the popularity gate (serving-version gate: {serving.serving_gate})"
            in lines(popularity, (False, "x")))
    fallback = summary.CatalogueDecision(catalogue_spec.FIRST_RUN_FALLBACK, "ours 0.1 < 0.90 x most_rated 0.2", "",
                                         "", "users with ratings get most_rated (...)")
    out = lines(fallback, (True, "x"))
    assert ("catalogue gate decided by the popularity gate, with the first-run fallback (no serving-version gate: "
            "nothing serves yet)") in out
    assert "blessed: yes (with the first-run fallback: popularity lists where they beat the model)" in out
