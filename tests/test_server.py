"""`sparrow-tfx serve` as a real server process on loopback, asked by a real HTTP client (http.client).

The versions it serves are pushed without a pipeline: SampleGen and FeatureSnapshot run on a generated world
(tests/helpers/executors.py), small real SavedModels give P(like) by a table of (user, movie) pairs
(tests/helpers/scoring_models.py), and serving_dir.publish commits model + snapshot as the AtomicPusher does.
- /recommend answers what `recommend` computes (serve.recommend, serve.as_json) for a user with ratings, a new user
  and given candidates; /score gives the model's P(like);
- every bad request is a 4xx with the right error and reason, never a 500;
- health, readiness (503 until a version is loaded), Prometheus metrics that count the requests sent;
- a version committed while clients ask is served within 10 s with no failed request; one that fails to load
  leaves the served one serving;
- a serving dir on S3 (moto on loopback) is followed as a local one.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

import pytest

from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.slow  # TensorFlow, Beam, server processes
NEW_USER = 10**9  # no ratings in any snapshot here
UNKNOWN_MOVIE = 99999999
START_SECONDS = 180  # importing TensorFlow on a loaded machine, then loading the version
SWAP_SECONDS = 10  # the bound from a commit to its first answer


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Dict[str, str]

    def json(self):
        return json.loads(self.body)


def get(port: int, path: str, method: str = "GET", timeout: float = 60) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return Answer(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


@dataclasses.dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: str

    def get(self, path: str, method: str = "GET") -> Answer:
        return get(self.port, path, method)

    def output(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def wait(self, path: str, status: int, seconds: float) -> Answer:
        """Asks path until it answers status; fails after `seconds` or if the process ends."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                answer = self.get(path)
                if answer.status == status:
                    return answer
            except OSError:  # not listening yet
                answer = None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{path} did not answer {status} (last {answer}); exit {self.process.poll()}; "
                                     f"output:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the server did not stop on SIGTERM:\n{self.output()[-4000:]}") from None


def start_server(serving: str, log_path: str, *extra: str, env: Optional[Dict[str, str]] = None) -> Server:
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "serve", "--serving-dir", serving,
                                    "--port", str(port), *extra], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env=env)
    return Server(process, port, log_path)


@dataclasses.dataclass(frozen=True)
class World:
    root: str
    snapshot_dir: str  # FeatureSnapshot's output
    models: Dict[str, str]  # name -> SavedModel directory
    users: List[int]  # users with ratings

    def publish(self, model: str, serving: str, snapshot_dir: Optional[str] = None) -> str:
        from recommender import serving_dir

        return serving_dir.publish(self.models[model], serving,
                                   {serving_dir.FEATURE_SNAPSHOT_DIR: snapshot_dir or self.snapshot_dir})


@pytest.fixture(scope="module")
def world(tmp_path_factory, snapshot_world) -> World:
    from tfx.utils import path_utils

    from recommender import snapshot
    from tests.helpers import scoring_models

    root = str(tmp_path_factory.mktemp("server"))
    snapshot_dir = snapshot_world.snapshot.uri
    users = sorted(entry["userId"] for entry in snapshot.users(snapshot_dir))
    movies = sorted(snapshot.load_movies(snapshot_dir))
    # Two models that like different movies for each user: their top 10s differ, so a swap shows in the answers.
    preferences = {"a": {u: [m for m in movies if m % 7 == u % 7] for u in users},
                   "b": {u: [m for m in movies if m % 5 == u % 5] for u in users}}
    models = {name: path_utils.serving_model_dir(scoring_models.save(os.path.join(root, "models", name),
                                                                     preferred).uri)
              for name, preferred in preferences.items()}
    return World(root, snapshot_dir, models, users)


@pytest.fixture(scope="module")
def serving(world) -> str:
    base = os.path.join(world.root, "serving")
    world.publish("a", base)
    return base


@pytest.fixture(scope="module")
def served(serving):
    from recommender import serve

    return serve.load_newest(serving).index_users()


@pytest.fixture(scope="module")
def server(serving, world):
    started = start_server(serving, os.path.join(world.root, "server.log"))
    try:
        started.wait("/readyz", 200, START_SECONDS)
        yield started
    finally:
        if started.process.poll() is None:
            started.stop()


def without_latency(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "latency_ms"}


def test_recommend_answers_what_recommend_computes(server, served, world):
    from recommender import serve

    known = world.users[len(world.users) // 2]
    candidates = sorted(served.movies)[:6]
    for user, top, given in [(known, 10, None), (NEW_USER, 10, None), (known, 25, None),
                             (known, 4, candidates + candidates[:2])]:
        query = f"/recommend?user={user}&top={top}" + (f"&candidates={','.join(map(str, given))}" if given else "")
        answer = server.get(query)
        assert answer.status == 200, answer
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-sparrow-version"] == served.version
        body = answer.json()
        result = serve.recommend(served, user, top, given)
        assert without_latency(body) == without_latency(json.loads(json.dumps(serve.as_json(served, result))))
        # the same recommendations as serve.recommend(...).to_dict(), timing apart
        expected = result.to_dict()
        assert [(r["movieId"], r["score"], r["probability"]) for r in body["recommendations"]] == [
            (item["movie_id"], item["score"], item["probability"]) for item in expected["items"]]
        assert (body["known_user"], body["path"], body["rated"], body["candidates"]) == (
            expected["known_user"], expected["path"], expected["rated"], expected["candidates"])
        assert body["latency_ms"]["first_call"] > 0 and body["latency_ms"]["warm_call"] is None
    assert served.user(known) is not None and served.user(NEW_USER) is None


def test_score_gives_the_models_p_like_in_the_order_asked(server, served, world):
    from recommender import serve, snapshot

    user = world.users[0]
    movie_ids = sorted(served.movies)[:5][::-1]
    answer = server.get(f"/score?user={user}&movies={','.join(map(str, movie_ids + movie_ids[:1]))}")
    assert answer.status == 200, answer
    body = answer.json()
    expected = serve.score_candidates(served, user, served.user(user)[snapshot.FEATURES], movie_ids)
    assert [s["movieId"] for s in body["scores"]] == movie_ids  # duplicates answered once
    assert [s["probability"] for s in body["scores"]] == [float(p) for p in expected]
    assert body["version"] == served.version and body["known_user"] is True


# (query with {known} for a user with ratings, status, error, words of the reason)
BAD_REQUESTS = [
    ("/recommend", 400, "missing_parameter", "parameter 'user' is required"),
    ("/recommend?top=5", 400, "missing_parameter", "parameter 'user' is required"),
    ("/recommend?user=abc", 400, "not_an_integer", "user must be an integer, got 'abc'"),
    ("/recommend?user=1.5", 400, "not_an_integer", "user must be an integer, got '1.5'"),
    ("/recommend?user=", 400, "not_an_integer", "user must be an integer, got ''"),
    ("/recommend?user=-3", 400, "out_of_range", "user must be from 0 to 9223372036854775807, got -3"),
    ("/recommend?user=99999999999999999999", 400, "out_of_range", "user must be from 0 to 9223372036854775807"),
    ("/recommend?user={known}&top=0", 400, "out_of_range", "top must be from 1 to {top_max}, got 0"),
    ("/recommend?user={known}&top={too_many}", 400, "out_of_range", "top must be from 1 to {top_max}"),
    ("/recommend?user={known}&top=ten", 400, "not_an_integer", "top must be an integer, got 'ten'"),
    ("/recommend?user={known}&k=3", 400, "unknown_parameter",
     "unknown parameter 'k'; this endpoint takes user, top, candidates"),
    ("/recommend?user={known}&user=2", 400, "repeated_parameter", "parameter 'user' given more than once"),
    ("/recommend?user={known}&candidates=1,,2", 400, "bad_list", "without empty items, got '1,,2'"),
    ("/recommend?user={known}&candidates=", 400, "bad_list", "without empty items, got ''"),
    ("/recommend?user={known}&candidates=1,two", 400, "bad_list", "got 'two'"),
    ("/recommend?user={known}&candidates={unknown}", 422, "unknown_movies",
     "candidates: movieIds not in version {version}'s catalogue: {unknown}"),
    ("/score?user={known}", 400, "missing_parameter", "parameter 'movies' is required"),
    ("/score?user={known}&movies=1,x", 400, "bad_list", "got 'x'"),
    ("/score?user={known}&movies=-1", 400, "bad_list", "got '-1'"),
    ("/score?user={known}&movies={unknown}", 422, "unknown_movies", "movies: movieIds not in version {version}'s"),
    ("/score?user={known}&movies=1&top=3", 400, "unknown_parameter", "this endpoint takes user, movies"),
    ("/recommend/", 404, "not_found", "no endpoint /recommend/"),
    ("/v1/models/sparrow:predict", 404, "not_found", "the endpoints are"),
]


@pytest.mark.parametrize("query,status,error,reason", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_request_is_a_4xx_with_its_reason(server, served, world, query, status, error, reason):
    values = {"known": world.users[0], "unknown": UNKNOWN_MOVIE, "version": served.version,
              "top_max": min(1000, len(served.movies)), "too_many": min(1000, len(served.movies)) + 1}
    answer = server.get(query.format(**values))
    assert (answer.status, answer.headers["content-type"]) == (status, "application/json"), answer
    assert answer.json() == {"status": status, "error": error, "reason": answer.json()["reason"]}
    assert reason.format(**values) in answer.json()["reason"]


def test_a_wrong_method_is_405_and_the_largest_top_is_the_catalogue(server, served, world):
    answer = server.get(f"/recommend?user={world.users[0]}", method="POST")
    assert answer.status == 405 and answer.json()["error"] == "method_not_allowed"
    everything = server.get(f"/recommend?user={NEW_USER}&top={len(served.movies)}")
    assert everything.status == 200 and len(everything.json()["recommendations"]) == len(served.movies)


def test_health_and_readiness(server, served):
    for path in ("/healthz", "/v2/health/live"):
        assert (server.get(path).status, server.get(path).json()) == (200, {"live": True})
    for path in ("/readyz", "/v2/health/ready"):
        answer = server.get(path)
        assert answer.status == 200
        assert answer.json() == {"ready": True, "version": served.version, "version_dir": served.version_dir}


def scrape(server: Server) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser: (name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = server.get("/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.body.decode()) for sample in family.samples}


def test_metrics_count_the_requests_by_endpoint_and_status(server, served, world):
    before = scrape(server)
    sent = {("/recommend", "200"): 3, ("/recommend", "400"): 2, ("/score", "200"): 1, ("/score", "422"): 1,
            ("other", "404"): 1}
    for _ in range(3):
        assert server.get(f"/recommend?user={world.users[1]}").status == 200
    assert server.get("/recommend?user=x").status == server.get("/recommend?usr=1").status == 400
    assert server.get(f"/score?user=1&movies={sorted(served.movies)[0]}").status == 200
    assert server.get(f"/score?user=1&movies={UNKNOWN_MOVIE}").status == 422
    assert server.get("/nothing/here").status == 404
    after = scrape(server)

    def count(endpoint: str, status: str, samples) -> float:
        return samples.get(("sparrow_http_requests_total", (("endpoint", endpoint), ("status", status))), 0.0)

    for (endpoint, status), n in sent.items():
        assert count(endpoint, status, after) - count(endpoint, status, before) == n, (endpoint, status)
    latency = lambda samples: samples[("sparrow_http_request_duration_seconds_count",
                                       (("endpoint", "/recommend"),))]
    assert latency(after) - latency(before) == 5
    assert after[("sparrow_served_version", ())] == int(served.version)
    info = [labels for name, labels in after if name == "sparrow_served_model_info"]
    assert info == [(("features_as_of", str(served.manifest["as_of"])), ("version", served.version),
                     ("version_dir", served.version_dir))]
    assert after[("sparrow_version_swaps_total", ())] == 1
    assert after[("sparrow_version_load_failures_total", ())] == 0
    assert after[("process_resident_memory_bytes", ())] > 100e6
    assert not any(name.endswith("_created") for name, _ in after)


def test_a_new_version_is_served_within_10_s_of_its_commit_and_no_request_fails(world, tmp_path):
    """The server starts on an empty serving dir (live, not ready, 503), serves the first version committed, then
    swaps to a second committed while 4 clients ask; a version that fails to load leaves the second serving."""
    from recommender import serving_dir, snapshot

    base = str(tmp_path / "serving")
    started = start_server(base, str(tmp_path / "server.log"), "--poll-seconds", "0.5")
    try:
        started.wait("/healthz", 200, START_SECONDS)
        not_ready = started.get("/readyz")
        assert not_ready.status == 503
        assert not_ready.json() == {"ready": False, "reason": f"no committed version under {base} yet"}
        answer = started.get(f"/recommend?user={world.users[0]}")
        assert (answer.status, answer.json()["error"]) == (503, "not_ready"), answer
        assert started.get("/recommend?user=x").status == 400  # a bad request is still a bad request

        first = os.path.basename(world.publish("a", base))
        assert started.wait("/readyz", 200, 60).json()["version"] == first

        # Clients ask for random users (with ratings and new) until the new version has answered 50 requests,
        # 30 s after its commit at most; bounded at 5,000 requests.
        rng = random.Random(7)
        results, lock, stop = [], threading.Lock(), threading.Event()
        committed: Dict[str, float] = {}

        def client(seed: int) -> None:
            local = random.Random(seed)
            while not stop.is_set():
                user = local.choice(world.users) if local.random() < 0.7 else NEW_USER + local.randrange(1000)
                began = time.time()
                try:
                    answer = started.get(f"/recommend?user={user}&top=10")
                    version = answer.json()["version"] if answer.status == 200 else None
                    outcome = (began, time.time(), answer.status, version)
                except Exception as error:  # a dropped connection, a timeout: a failed request
                    outcome = (began, time.time(), repr(error), None)
                with lock:
                    results.append(outcome)
                    new = sum(1 for r in results if r[3] is not None and r[3] != first)
                    if new >= 50 or len(results) >= 5000 or (
                            committed and time.time() > committed["at"] + 30):
                        stop.set()

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client, rng.randrange(10**6)) for _ in range(4)]
            while len(results) < 40 and not stop.is_set():
                time.sleep(0.05)
            second_dir = world.publish("b", base)
            committed["at"] = time.time()
            second = os.path.basename(second_dir)
            for future in futures:
                future.result()

        failed = [r for r in results if r[2] != 200]
        assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"
        versions = [r[3] for r in sorted(results)]
        first_new = min(r[1] for r in results if r[3] == second)
        print(f"{len(results)} requests, 0 failed; version {second} first answered "
              f"{first_new - committed['at']:.2f} s after its commit; {versions.count(first)} answered by "
              f"{first}, {versions.count(second)} by {second}")
        assert set(versions) == {first, second}
        assert first_new - committed["at"] <= SWAP_SECONDS
        # once the new version has answered, every request begun after that is answered by it
        assert all(r[3] == second for r in results if r[0] > first_new)
        assert f"serving version {second} (was {first})" in started.output()

        # A version whose snapshot this code cannot read is reported and skipped; the served one stays.
        broken_snapshot = str(tmp_path / "broken-snapshot")
        serving_dir.copy_tree(world.snapshot_dir, broken_snapshot)
        with open(os.path.join(broken_snapshot, snapshot.MANIFEST_FILE)) as f:
            manifest = json.load(f)
        with open(os.path.join(broken_snapshot, snapshot.MANIFEST_FILE), "w") as f:
            json.dump({**manifest, snapshot.FORMAT_VERSION_KEY: 999}, f)
        broken = os.path.basename(world.publish("a", base, broken_snapshot))
        deadline = time.monotonic() + 30
        while f"version {broken} failed to load" not in started.output():
            assert time.monotonic() < deadline, started.output()[-3000:]
            time.sleep(0.2)
        assert started.get("/readyz").json()["version"] == second
        assert started.get(f"/recommend?user={world.users[0]}").json()["version"] == second
        samples = scrape(started)
        assert samples[("sparrow_version_swaps_total", ())] == 2
        assert samples[("sparrow_version_load_failures_total", ())] == 1
        assert samples[("sparrow_served_version", ())] == int(second)
        assert f"still serving version {second}" in started.output()
    finally:
        if started.process.poll() is None:
            # uvicorn finishes the requests in flight, then exits by the signal it was sent, as is conventional
            assert started.stop() == -signal.SIGTERM, started.output()[-3000:]
            assert started.output().rstrip().endswith("stopped: every request answered"), started.output()[-3000:]


def test_a_swap_releases_the_old_version(world, tmp_path):
    """The watcher in this process: after a swap nothing holds the old version or its model any more."""
    import gc
    import weakref

    from serving.versions import VersionWatcher

    base = str(tmp_path / "serving")
    world.publish("a", base)
    watcher = VersionWatcher(base)
    assert watcher.check() and not watcher.check()  # loaded once, then nothing new
    old = watcher.current.served
    held = [weakref.ref(old), weakref.ref(old.model), weakref.ref(old.candidates)]
    del old
    second = os.path.basename(world.publish("b", base))
    assert watcher.check() and watcher.current.served.version == second
    gc.collect()
    assert [ref() is None for ref in held] == [True, True, True]


# A push to S3 from a child process: tensorflow-io's S3 client aborts a normal exit (compat/file_systems.leave).
PUBLISH = ("import sys; from compat import file_systems; from recommender import serving_dir; "
           "print(serving_dir.publish(sys.argv[1], sys.argv[3], {serving_dir.FEATURE_SNAPSHOT_DIR: sys.argv[2]}), "
           "flush=True); file_systems.leave(0)")


def test_the_server_follows_a_serving_dir_on_s3(world, s3_server, tmp_path):
    """What the KServe custom predictor does with gs://: the server reads an object store's serving dir (moto's S3
    on loopback here), where a version is committed by copies and its marker last."""
    base = f"{s3_server.bucket}/serving"
    env = {**os.environ, **s3_server.environment}

    def publish(model: str) -> str:
        result = subprocess.run([sys.executable, "-c", PUBLISH, world.models[model], world.snapshot_dir, base],
                                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return os.path.basename(result.stdout.strip())

    first = publish("a")
    started = start_server(base, str(tmp_path / "server.log"), "--poll-seconds", "0.5", env=env)
    try:
        assert started.wait("/readyz", 200, START_SECONDS).json()["version"] == first
        answer = started.get(f"/recommend?user={world.users[0]}&top=5")
        assert answer.status == 200 and answer.json()["version"] == first
        assert answer.json()["version_dir"] == f"{base}/{first}"
        second = publish("b")
        deadline = time.monotonic() + 30
        while started.get("/readyz").json()["version"] != second:
            assert time.monotonic() < deadline, started.output()[-3000:]
            time.sleep(0.2)
        assert started.get(f"/recommend?user={world.users[0]}&top=5").json()["version"] == second
    finally:
        if started.process.poll() is None:
            assert started.stop() == -signal.SIGTERM, started.output()[-3000:]


def test_a_port_in_use_is_one_error_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "serve", "--serving-dir",
                                 str(tmp_path), "--port", str(port)], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_the_listening_socket_is_tcp_so_that_responses_are_not_delayed_by_nagle():
    """asyncio sets TCP_NODELAY only on sockets whose proto is TCP: with proto 0 every answer waited ~40 ms for the
    client's delayed ACK between its headers and its body (found by bench/bench_serve.py: 52 ms -> 3.3 ms)."""
    import socket

    from pipeline.cli.commands import serve as serve_command

    sock = serve_command.bind("127.0.0.1", 0)
    try:
        sock.listen()
        with socket.create_connection(sock.getsockname()):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
