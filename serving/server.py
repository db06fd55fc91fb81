"""The HTTP server of `sparrow-tfx serve`: Starlette on uvicorn, one process, the model work in a bounded thread pool.

Endpoints (GET):
- /recommend?user=ID[&top=K][&candidates=ID,ID,...]: `recommend --json`'s answer (serve.as_json) from the version
  serving now; latency_ms holds the one batched call (first_call; warm_call is null: the call is not repeated).
- /score?user=ID&movies=ID,ID,...: the model's P(like | rated) for each movie, in the order given.
- /healthz, /v2/health/live: the process answers. /readyz, /v2/health/ready: 200 once a version is loaded, else 503.
- /metrics: Prometheus text (serving/metrics.py).
A bad request is a 4xx with a JSON reason (serving/params.py); 503 while no version is loaded; 500 only for a
failure this code did not foresee (a bug), JSON too.

Why one process and a thread pool: TensorFlow releases the GIL inside the model call, where most of a request's
time goes, so threads of one process overlap calls on both cores with one copy of the model and of the snapshot;
a second process would double the memory and load each version twice. The pool is bounded (`threads`, default 4:
two per core, so that one thread's Python overlaps another's model call): requests beyond it wait in the event loop,
cheaply, rather than contending for the cores (bench/bench_serve.py --threads-sweep; docs/serving.md).
"""
from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from typing import Callable, Optional

import anyio
import anyio.to_thread
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serving import params, paths
from serving.metrics import Metrics, MetricsMiddleware
from serving.versions import Loaded, VersionWatcher

log = logging.getLogger("sparrow_tfx.serve")
DEFAULT_THREADS = 4  # of 1, 2, 4 and 8 the most requests/s on 2 cores, the same tails as 2 (docs/serving.md)
DEFAULT_POLL_SECONDS = 1.0
VERSION_HEADER = "x-sparrow-version"  # every answer from a version names it


def json_response(body: dict, status: int = 200, version: Optional[str] = None) -> Response:
    headers = {VERSION_HEADER: version} if version else None
    return Response(json.dumps(body), status, headers, media_type="application/json")


def error_response(error: params.BadRequest) -> Response:
    return json_response(error.to_dict(), error.status)


def _recommend(loaded: Loaded, user_id: int, values) -> Response:
    from recommender import serve

    served = loaded.served
    top = params.optional_integer(values, "top", 10, 1, min(params.MAX_TOP, len(served.movies)))
    candidates = params.id_list(values, "candidates", False, len(served.movies))
    if candidates is not None:
        params.known_movies("candidates", candidates, served.movies, served.version)
    try:
        result = serve.recommend(served, user_id, top, candidates, repeat=False)
    except ValueError as error:  # no candidate left (a user who rated every movie)
        raise params.BadRequest(422, "no_candidates", str(error)) from None
    return json_response(serve.as_json(served, result), version=served.version)


def _score(loaded: Loaded, user_id: int, values) -> Response:
    from models import features, signatures
    from recommender import serve, snapshot

    served = loaded.served
    movie_ids = list(dict.fromkeys(params.id_list(values, "movies", True, len(served.movies))))
    params.known_movies("movies", movie_ids, served.movies, served.version)
    user = served.user(user_id)
    user_features = (user or snapshot.user_entry(user_id, [], {}))[snapshot.FEATURES]
    started = time.perf_counter()
    outputs = serve.candidate_outputs(served, user_id, user_features, movie_ids)
    seconds = time.perf_counter() - started
    extra = [name for name in (signatures.RATE_PROBABILITY_KEY, signatures.RANK_SCORE_KEY) if name in outputs]
    scores = [{features.MOVIE_KEY: m, "probability": float(outputs[signatures.PROBABILITY_KEY][i]),
               **{name: float(outputs[name][i]) for name in extra}} for i, m in enumerate(movie_ids)]
    return json_response({"version": served.version, "user_id": user_id, "known_user": user is not None,
                          "scores": scores, "latency_ms": {"call": seconds * 1000}}, version=served.version)


class App:
    """The Starlette app over a VersionWatcher; `asgi` is what uvicorn runs."""

    ENDPOINTS = {paths.RECOMMEND: (("user", "top", "candidates"), _recommend),
                 paths.SCORE: (("user", "movies"), _score)}

    def __init__(self, base_dir: str, threads: int = DEFAULT_THREADS, poll_seconds: float = DEFAULT_POLL_SECONDS,
                 on_event: Callable[[str], None] = log.info):
        self.on_event = on_event
        self.metrics = Metrics([*self.ENDPOINTS, *paths.LIVE, *paths.READY, paths.METRICS])
        self.watcher = VersionWatcher(base_dir, poll_seconds, self._loaded, self._failed)
        self.limiter = anyio.CapacityLimiter(threads)
        routes = [Route(path, self._endpoint(path), methods=["GET"]) for path in self.ENDPOINTS]
        routes += [Route(path, self.live, methods=["GET"]) for path in paths.LIVE]
        routes += [Route(path, self.ready, methods=["GET"]) for path in paths.READY]
        routes.append(Route(paths.METRICS, self.prometheus, methods=["GET"]))
        self.asgi = Starlette(routes=routes, middleware=[Middleware(MetricsMiddleware, metrics=self.metrics)],
                              exception_handlers={HTTPException: self._http_error, Exception: self._internal_error},
                              lifespan=self._lifespan)
        self.asgi.router.redirect_slashes = False  # /recommend/ is not an endpoint: a 404 naming them, no redirect

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app):
        self.watcher.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(self.watcher.stop)
            self.on_event("stopped: every request answered")

    def _loaded(self, new: Loaded, old: Optional[Loaded]) -> None:
        served = new.served
        self.metrics.served(served.version, served.version_dir, served.manifest.get("as_of"), new.load_seconds)
        since = (f", {new.swapped_at - new.committed_at:.1f} s after its commit"
                 if new.committed_at is not None and old is not None else "")
        was = f" (was {old.served.version})" if old is not None else ""
        self.on_event(f"serving version {served.version}{was}: {len(served.movies):,} movies, "
                      f"{len(served.users):,} users; loaded and warmed in {new.load_seconds:.1f} s{since}")

    def _failed(self, reason: str) -> None:
        self.metrics.load_failures.inc()
        self.on_event(f"warning: {reason}")

    def _endpoint(self, path: str):
        allowed, work = self.ENDPOINTS[path]

        async def endpoint(request: Request) -> Response:
            try:
                values = params.single_values(request.query_params.multi_items(), allowed)
                user_id = params.required_integer(values, "user")
                loaded = self.watcher.current  # taken once: this request answers from this version to the end
                if loaded is None:
                    return json_response({"status": 503, "error": "not_ready", "reason": self.watcher.status}, 503)
                return await anyio.to_thread.run_sync(work, loaded, user_id, values, limiter=self.limiter)
            except params.BadRequest as error:
                return error_response(error)

        return endpoint

    async def live(self, _request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, _request: Request) -> Response:
        loaded = self.watcher.current
        if loaded is None:
            return json_response({"ready": False, "reason": self.watcher.status}, 503)
        return json_response({"ready": True, "version": loaded.served.version,
                              "version_dir": loaded.served.version_dir}, version=loaded.served.version)

    async def prometheus(self, _request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def _http_error(self, request: Request, error: HTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        reason = (f"no endpoint {request.url.path}; the endpoints are {', '.join(sorted(self.metrics.endpoints))}"
                  if error.status_code == 404 else f"{request.method} {request.url.path}: {error.detail}")
        return json_response({"status": error.status_code, "error": kind, "reason": reason}, error.status_code)

    async def _internal_error(self, request: Request, error: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url, exc_info=error)
        return json_response({"status": 500, "error": "internal",
                              "reason": f"{type(error).__name__}: {error}"}, 500)


def run(base_dir: str, sock: socket.socket, threads: int = DEFAULT_THREADS,
        poll_seconds: float = DEFAULT_POLL_SECONDS, on_event: Callable[[str], None] = log.info) -> None:
    """Serves on sock, a bound socket, until SIGINT or SIGTERM; uvicorn lets in-flight requests finish."""
    app = App(base_dir, threads, poll_seconds, on_event)
    config = uvicorn.Config(app.asgi, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=30)
    host, port = sock.getsockname()[:2]
    on_event(f"listening on http://{host}:{port} for {base_dir} (GET /recommend, /score, /healthz, /readyz, "
             f"/metrics); {threads} threads, polling every {poll_seconds:g} s")
    uvicorn.Server(config).run(sockets=[sock])
