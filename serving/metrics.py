"""The server's Prometheus metrics, in a registry of its own (one per app: tests start several in a process)."""
from __future__ import annotations

import time
from typing import Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

# Request latency buckets, seconds: a top 10 over ~9,000 movies takes tens of milliseconds warm, more under load.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OTHER_ENDPOINT = "other"  # any path that is not an endpoint: one label, not one per path asked


class Metrics:
    def __init__(self, endpoints: Iterable[str]):
        prometheus_client.disable_created_metrics()  # no *_created series beside every counter and histogram
        self.endpoints = frozenset(endpoints)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, cpu seconds, open fds
        self.requests = Counter("sparrow_http_requests", "HTTP requests answered, by endpoint and status code",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("sparrow_http_request_duration_seconds",
                                 "Time from the request to the end of the response, by endpoint", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("sparrow_http_requests_in_flight", "Requests being answered",
                               registry=self.registry)
        self.version = Gauge("sparrow_served_version",
                             "The version served: its integer name in the serving directory (0: none yet)",
                             registry=self.registry)
        self.version_info = Info("sparrow_served_model",
                                 "The version served, where it was loaded from and its features' time",
                                 registry=self.registry)
        self.loaded_at = Gauge("sparrow_served_version_loaded_timestamp_seconds",
                               "When the version served was swapped in (Unix time)", registry=self.registry)
        self.load_seconds = Gauge("sparrow_version_load_seconds",
                                  "Time to load and warm the version served, before the swap", registry=self.registry)
        self.swaps = Counter("sparrow_version_swaps", "Versions swapped in (the first load included)",
                             registry=self.registry)
        self.load_failures = Counter("sparrow_version_load_failures",
                                     "Committed versions that failed to load (the one serving stays)",
                                     registry=self.registry)

    def endpoint(self, path: str) -> str:
        return path if path in self.endpoints else OTHER_ENDPOINT

    def served(self, version: str, version_dir: str, features_as_of, load_seconds: float) -> None:
        self.version.set(int(version) if version.isdigit() else 0)
        self.version_info.info({"version": version, "version_dir": version_dir,
                                "features_as_of": str(features_as_of)})
        self.loaded_at.set(time.time())
        self.load_seconds.set(load_seconds)
        self.swaps.inc()


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP response by endpoint and status and times it, errors included (a request that
    raised counts as 500, which the app's error handler answers)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint = self.metrics.endpoint(scope["path"])
        status = 500
        started = time.perf_counter()

        async def send_counted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            self.metrics.requests.labels(endpoint, str(status)).inc()
