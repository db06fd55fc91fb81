"""`sparrow-tfx serve` under load on loopback: throughput and latency with concurrent clients, beside the warm
`recommend` call; a version pushed during the load; a soak with the server's RSS sampled.

    python -m bench.bench_serve                                   # .work/serve-bench's newest version
    python -m bench.bench_serve --work-dir DIR --seconds 60 --soak-seconds 600 --clients 8
    python -m bench.bench_serve --threads-sweep 1 2 4 8 --sweep-seconds 20 --soak-seconds 0 --name serve-threads

The version: the newest of --serving-dir, or of --work-dir's serving/ (default .work/serve-bench, made by
`sparrow-tfx run --movielens ../shared/data/ml-latest-small-2015 --work-dir .work/serve-bench`). It is published
into a scratch serving directory, which the server (its own process, `sparrow-tfx serve --host 127.0.0.1`) follows.

Phases, one after the other, each client a thread with one keep-alive connection asking as fast as answered:
- reference: in this process, `serve.recommend` for --reference-users users with ratings, top 10 over every unrated
  movie: its seconds_warm_call (the batched call and the will-rate estimate, warm) and the whole call;
- one client: --single-requests sequential /recommend for users with ratings, top 10 over the whole catalogue;
- load: --clients clients for --seconds, each request a random user, --known-share of them with ratings (the rest
  new users), top 10 over the whole catalogue; every answer must be a 200;
- swap: the same load again; --push-after seconds in, the version is published again as a new version (a full
  copy: the server loads and warms it beside the served one); no request may fail, and the new version must answer
  within 10 s of its commit;
- soak: the same load for --soak-seconds, the server's RSS (/proc/PID/status) sampled every --rss-every seconds;
  growth is the last minute's mean over the first minute's; with --soak-pushes N, the version is published again
  N times, evenly spread (a swap each).
--phases picks phases (the reference always runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import common

DEFAULT_WORK_DIR = os.path.join(common.REPO_ROOT, ".work", "serve-bench")
PERCENTILES = (50, 95, 99)
SWAP_BOUND_SECONDS = 10.0
NEW_USER_BASE = 10**9  # users without ratings: ids no snapshot has


@dataclasses.dataclass(frozen=True)
class Request:
    began: float  # time.time()
    seconds: float
    status: object  # the HTTP status, or the exception's repr for a request that got no answer
    version: Optional[str]
    known: bool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`sparrow-tfx serve` in its own process on 127.0.0.1."""

    def __init__(self, serving: str, threads: Optional[int], log_path: str):
        self.port, self.log_path = free_port(), log_path
        extra = ["--threads", str(threads)] if threads else []
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli.main", "serve", "--serving-dir", serving, "--host", "127.0.0.1",
                 "--port", str(self.port), *extra], cwd=common.REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    def get(self, path: str, timeout: float = 60):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def wait_ready(self, seconds: float = 300) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                status, body = self.get("/readyz", timeout=5)
                if status == 200:
                    return json.loads(body)
            except OSError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"error: the server did not become ready; its output:\n{self.output()[-3000:]}")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def output(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_clients(server: Server, clients: int, seconds: float, known_users: Sequence[int], known_share: float,
                seed: int, during=None, max_requests: Optional[int] = None) -> List[Request]:
    """`clients` threads asking /recommend?user=..&top=10 for `seconds` (or max_requests in all); `during(t0)` runs
    in this thread meanwhile (a push)."""
    results: List[Request] = []
    lock, stop = threading.Lock(), threading.Event()

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        while not stop.is_set():
            known = rng.random() < known_share
            user = rng.choice(known_users) if known else NEW_USER_BASE + rng.randrange(10**6)
            began, started = time.time(), time.perf_counter()
            try:
                connection.request("GET", f"/recommend?user={user}&top=10")
                response = connection.getresponse()
                body = response.read()
                version = json.loads(body)["version"] if response.status == 200 else None
                outcome = Request(began, time.perf_counter() - started, response.status, version, known)
            except Exception as error:  # no answer: a failed request
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                outcome = Request(began, time.perf_counter() - started, repr(error), None, known)
            with lock:
                results.append(outcome)
                if max_requests is not None and len(results) >= max_requests:
                    stop.set()
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.time()
    for thread in threads:
        thread.start()
    if during is not None:
        during(t0)
    while time.time() < t0 + seconds and not stop.is_set():
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda r: r.began)


def latency(requests: Sequence[Request]) -> Dict[str, float]:
    ms = np.array([r.seconds for r in requests]) * 1000
    if not len(ms):
        return {}
    return {**{f"p{p}": float(np.percentile(ms, p)) for p in PERCENTILES}, "mean": float(ms.mean()),
            "requests": len(ms)}


def summary(requests: Sequence[Request], seconds: float) -> dict:
    ok = [r for r in requests if r.status == 200]
    return {"requests": len(requests), "errors": len(requests) - len(ok),
            "error_examples": sorted({str(r.status) for r in requests if r.status != 200})[:5],
            "requests_per_second": len(requests) / seconds, "seconds": seconds,
            "latency_ms": {"all": latency(ok), "known": latency([r for r in ok if r.known]),
                           "new": latency([r for r in ok if not r.known])}}


def reference(version_dir: str, users: Sequence[int]) -> dict:
    """serve.recommend in this process for each user (top 10 over every unrated movie), after one warm-up: the
    warm call `recommend` reports (seconds_warm_call: the batched model call and the will-rate estimate), and the
    whole function as the server calls it (users indexed, scored once: no HTTP, no JSON)."""
    from recommender import serve

    served = serve.ServedVersion.load(version_dir).index_users()
    serve.recommend(served, users[0], 10)
    warm, whole = [], []
    for user in users:
        warm.append(serve.recommend(served, user, 10).seconds_warm_call)
        started = time.perf_counter()
        serve.recommend(served, user, 10, repeat=False)
        whole.append(time.perf_counter() - started)
    return {"users": len(users), "movies": len(served.movies),
            "warm_call_ms": {"p50": statistics.median(warm) * 1000, "mean": statistics.fmean(warm) * 1000},
            "whole_call_ms": {"p50": statistics.median(whole) * 1000, "mean": statistics.fmean(whole) * 1000}}


def swap_phase(server: Server, base: str, version_dir: str, args, known_users) -> dict:
    from recommender import serving_dir

    pushed: Dict[str, object] = {}
    rss_before = server.rss_mb()

    def push(t0: float) -> None:
        time.sleep(max(0.0, t0 + args.push_after - time.time()))
        pushed["started"] = time.time()
        pushed["dir"] = serving_dir.publish(version_dir, base)  # the whole version again, as a new one
        pushed["committed"] = time.time()

    requests = run_clients(server, args.clients, args.seconds, known_users, args.known_share, args.seed + 1, push)
    new = os.path.basename(pushed["dir"])
    first_new = min((r.began + r.seconds for r in requests if r.version == new), default=None)
    after = [r for r in requests if first_new is not None and r.began > first_new]
    window = [r for r in requests if r.status == 200 and pushed["committed"] - 1 <= r.began <= (first_new or 0) + 1]
    out = summary(requests, args.seconds)
    out.update({
        "pushed_version": new, "publish_seconds": pushed["committed"] - pushed["started"],
        "new_version_first_answer_after_commit_s": None if first_new is None else first_new - pushed["committed"],
        "old_version_answers_begun_after_first_new": sum(1 for r in after if r.version != new),
        "answers_by_version": {v: sum(1 for r in requests if r.version == v) for v in
                               sorted({r.version for r in requests if r.version})},
        "latency_ms_during_swap": latency(window),
        "rss_mb_before_push": rss_before, "rss_mb_end": server.rss_mb(),
    })
    return out


def soak_phase(server: Server, args, known_users, base: str, version_dir: str) -> dict:
    """The load for --soak-seconds with the server's RSS sampled every --rss-every seconds from its start, and
    --soak-pushes pushes evenly spread."""
    from recommender import serving_dir

    samples: List[tuple] = []
    pushes: List[tuple] = []
    done = threading.Event()

    def sample(t0: float) -> None:
        samples.append((0.0, server.rss_mb()))
        every = args.soak_seconds / (args.soak_pushes + 1) if args.soak_pushes else None
        while not done.wait(args.rss_every):
            now = time.time() - t0
            samples.append((now, server.rss_mb()))
            if every and len(pushes) < args.soak_pushes and now >= every * (len(pushes) + 1):
                pushes.append((now, os.path.basename(serving_dir.publish(version_dir, base))))

    sampler: List[threading.Thread] = []

    def start_sampling(t0: float) -> None:
        sampler.append(threading.Thread(target=sample, args=(t0,), daemon=True))
        sampler[0].start()

    requests = run_clients(server, args.clients, args.soak_seconds, known_users, args.known_share, args.seed + 2,
                           start_sampling)
    done.set()
    sampler[0].join()
    first = [rss for t, rss in samples if 0 < t <= 60] or [samples[0][1]]
    last = [rss for t, rss in samples if t > args.soak_seconds - 60] or [samples[-1][1]]
    return {**summary(requests, args.soak_seconds), "rss_samples": samples, "pushes": pushes,
            "answers_by_version": {v: sum(1 for r in requests if r.version == v) for v in
                                   sorted({r.version for r in requests if r.version})},
            "rss_mb_first_minute": statistics.fmean(first), "rss_mb_last_minute": statistics.fmean(last),
            "rss_mb_max": max(rss for _, rss in samples),
            "rss_growth": statistics.fmean(last) / statistics.fmean(first) - 1}


def server_counts(server: Server) -> Dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    _, body = server.get("/metrics")
    return {f"{s.name}{{{','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))}}}": s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples
            if s.name in ("sparrow_http_requests_total", "sparrow_version_swaps_total",
                          "sparrow_version_load_failures_total", "sparrow_version_load_seconds")}


def fmt_latency(stats: Dict[str, float]) -> str:
    return " / ".join(f"{stats[f'p{p}']:.1f}" for p in PERCENTILES) if stats else "-"


def tables(results: dict) -> str:
    lines = []
    load, one, ref = results.get("load"), results.get("single_client"), results["reference"]
    lines.append(f"{'phase':<34} {'requests':>8} {'errors':>6} {'req/s':>7}  p50 / p95 / p99 ms (all; known; new)")
    for name, phase in [("1 client, users with ratings", one), (f"{results['clients']} clients, load", load),
                        (f"{results['clients']} clients, version pushed", results.get("swap")),
                        (f"{results['clients']} clients, soak", results.get("soak"))]:
        if not phase:
            continue
        lat = phase["latency_ms"]
        lines.append(f"{name:<34} {phase['requests']:>8,} {phase['errors']:>6} {phase['requests_per_second']:>7.1f}  "
                     f"{fmt_latency(lat['all'])}; {fmt_latency(lat['known'])}; {fmt_latency(lat['new'])}")
    figures = {f"known user top-10 p50 ms, {name}": {
        "serve": phase["latency_ms"]["known"]["p50"], "recommend warm": ref["warm_call_ms"]["p50"],
        "recommend in-process": ref["whole_call_ms"]["p50"]}
        for name, phase in [("1 client", one), (f"{results['clients']} clients", load)] if phase}
    lines += ["", common.side_by_side(figures, "serve", ["recommend warm", "recommend in-process"])]
    return "\n".join(lines)


def sweep(base: str, args, known_users, tmp: str) -> Dict[str, dict]:
    out = {}
    for threads in args.threads_sweep:
        server = Server(base, threads, os.path.join(tmp, f"server-threads-{threads}.log"))
        try:
            server.wait_ready()
            run_clients(server, args.clients, 3, known_users, args.known_share, args.seed + 9)  # warm
            requests = run_clients(server, args.clients, args.sweep_seconds, known_users, args.known_share,
                                   args.seed + 10)
            out[str(threads)] = summary(requests, args.sweep_seconds)
            lat = out[str(threads)]["latency_ms"]
            print(f"threads {threads}: {out[str(threads)]['requests_per_second']:.1f} req/s, errors "
                  f"{out[str(threads)]['errors']}, p50/p95/p99 known {fmt_latency(lat['known'])} ms, new "
                  f"{fmt_latency(lat['new'])} ms", flush=True)
        finally:
            server.stop()
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_serve", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--serving-dir", help="serving directory whose newest version is served")
    where.add_argument("--work-dir", default=DEFAULT_WORK_DIR, help="a `sparrow-tfx run` work dir (its serving/)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="the load and the swap phases, each")
    parser.add_argument("--known-share", type=float, default=0.5, help="share of requests for users with ratings")
    parser.add_argument("--single-requests", type=int, default=300)
    parser.add_argument("--reference-users", type=int, default=100)
    parser.add_argument("--push-after", type=float, default=20.0, help="seconds into the swap phase")
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="0: no soak")
    parser.add_argument("--rss-every", type=float, default=5.0)
    parser.add_argument("--soak-pushes", type=int, default=0, help="versions pushed during the soak")
    parser.add_argument("--phases", default="single,load,swap,soak",
                        help="comma-separated, of single, load, swap, soak")
    parser.add_argument("--threads", type=int, help="the server's --threads (default: its own)")
    parser.add_argument("--threads-sweep", type=int, nargs="*", default=[],
                        help="also measure these --threads values, --sweep-seconds each, before the phases")
    parser.add_argument("--sweep-seconds", type=float, default=20.0)
    parser.add_argument("--skip-phases", action="store_true", help="only the sweep")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="serve", help="results file bench/results/<name>.json")
    args = parser.parse_args(argv)

    from pipeline import configs
    from recommender import serving_dir, snapshot

    source = args.serving_dir or configs.LocalPaths(os.path.abspath(args.work_dir)).serving_dir
    version_dir = serving_dir.latest_version_dir(source)
    if version_dir is None:
        movielens = common.shared_data("ml-latest-small-2015") or "DIR"
        raise SystemExit(f"error: no pushed version under {source}; push one first: sparrow-tfx run --movielens "
                         f"{movielens} --work-dir {args.work_dir}")
    snapshot_dir = os.path.join(version_dir, serving_dir.FEATURE_SNAPSHOT_DIR)
    known_users = sorted(user["userId"] for user in snapshot.users(snapshot_dir))
    movies = snapshot.load_manifest(snapshot_dir)[snapshot.MOVIES_PREFIX]
    command = "python -m bench.bench_serve " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"version {version_dir}: {len(known_users):,} users, {movies:,} movies; {args.clients} clients, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)

    tmp = tempfile.mkdtemp(prefix="bench-serve-")
    base = os.path.join(tmp, "serving")
    first = serving_dir.publish(version_dir, base)
    results: Dict[str, object] = {"command": command, "source_version_dir": version_dir, "users": len(known_users),
                                  "movies": movies, "clients": args.clients, "known_share": args.known_share,
                                  "server_threads": args.threads, "work_dir": tmp}
    try:
        if args.threads_sweep:
            results["threads_sweep"] = sweep(base, args, known_users, tmp)
            if args.skip_phases:
                print(f"wrote {common.write_results(args.name, results)}")
                return 0
        server = Server(base, args.threads, os.path.join(tmp, "server.log"))
        try:
            ready = server.wait_ready()
            results["rss_mb_ready"] = server.rss_mb()
            print(f"server ready on port {server.port}: version {ready['version']}, RSS "
                  f"{results['rss_mb_ready']:.0f} MB", flush=True)
            rng = random.Random(args.seed)
            results["reference"] = reference(first, rng.sample(known_users, min(args.reference_users,
                                                                                len(known_users))))
            print(f"reference: recommend warm call p50 {results['reference']['warm_call_ms']['p50']:.1f} ms, "
                  f"whole call p50 {results['reference']['whole_call_ms']['p50']:.1f} ms", flush=True)
            phases = set(args.phases.split(","))
            if "single" in phases:
                started = time.time()
                single = run_clients(server, 1, 10**6, known_users, 1.0, args.seed,
                                     max_requests=args.single_requests)
                results["single_client"] = summary(single, time.time() - started)
                print(f"1 client: p50/p95/p99 {fmt_latency(results['single_client']['latency_ms']['known'])} ms",
                      flush=True)
            if "load" in phases:
                results["load"] = summary(run_clients(server, args.clients, args.seconds, known_users,
                                                      args.known_share, args.seed), args.seconds)
                print(f"load: {results['load']['requests_per_second']:.1f} req/s, errors "
                      f"{results['load']['errors']}", flush=True)
                results["rss_mb_after_load"] = server.rss_mb()
            if "swap" in phases:
                results["swap"] = swap_phase(server, base, version_dir, args, known_users)
                swap = results["swap"]
                print(f"swap: version {swap['pushed_version']} committed {args.push_after:.0f} s in "
                      f"(publish {swap['publish_seconds']:.1f} s), first answered "
                      f"{swap['new_version_first_answer_after_commit_s']:.2f} s after its commit; "
                      f"{swap['requests']:,} requests, {swap['errors']} failed; answers by version "
                      f"{swap['answers_by_version']}; RSS {swap['rss_mb_before_push']:.0f} -> "
                      f"{swap['rss_mb_end']:.0f} MB", flush=True)
            if "soak" in phases and args.soak_seconds:
                results["soak"] = soak_phase(server, args, known_users, base, version_dir)
                soak = results["soak"]
                print(f"soak: {soak['requests']:,} requests, {soak['errors']} failed; RSS first minute "
                      f"{soak['rss_mb_first_minute']:.0f} MB, last minute {soak['rss_mb_last_minute']:.0f} MB "
                      f"({soak['rss_growth']:+.1%}), max {soak['rss_mb_max']:.0f} MB; pushes {soak['pushes']}",
                      flush=True)
            results["server_metrics"] = server_counts(server)
            results["server_events"] = [line for line in server.output().splitlines()
                                        if line.startswith(("serving version", "warning", "listening"))]
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(tables(results))
    failures = []
    for phase in ("single_client", "load", "swap", "soak"):
        if phase in results and results[phase]["errors"]:
            failures.append(f"{phase}: {results[phase]['errors']} failed requests {results[phase]['error_examples']}")
    delay = results["swap"]["new_version_first_answer_after_commit_s"] if "swap" in results else 0
    if delay is None or delay > SWAP_BOUND_SECONDS:
        failures.append(f"swap: the new version answered {delay} s after its commit (bound {SWAP_BOUND_SECONDS} s)")
    results["failures"] = failures
    print(f"wrote {common.write_results(args.name, results)}")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
