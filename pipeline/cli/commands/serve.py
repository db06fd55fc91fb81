"""`sparrow-tfx serve`: a long-running HTTP server answering top-N requests from the newest pushed version, swapping
to each new one as it is committed (serving/server.py)."""
import argparse
import os
import socket
import sys

from pipeline import configs
from pipeline.cli.commands import arguments


def _port(text: str) -> int:
    value = arguments.non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = arguments.non_negative_float(text)
    if value < 0.05:
        raise argparse.ArgumentTypeError(f"must be at least 0.05, got {text!r}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="HTTP server: /recommend, /score, health, readiness and Prometheus metrics; follows new pushes",
        description="Serves top-N recommendations over HTTP from the newest committed version of a serving "
                    "directory and swaps to each new version once it is loaded and warm. Endpoints: GET "
                    "/recommend?user=ID&top=K[&candidates=ID,...], /score?user=ID&movies=ID,..., /healthz, "
                    "/readyz, /v2/health/live, /v2/health/ready, /metrics. See docs/serving.md.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--serving-dir", help="serving base directory (<dir>/<version>/saved_model.pb); local, gs:// "
                                             "or s3://")
    where.add_argument("--work-dir", default=configs.DEFAULT_WORK_DIR,
                       help="work directory of `sparrow-tfx run`; its serving/ is used (default: .work)")
    parser.add_argument("--port", type=_port, default=8080, help="TCP port (default 8080; 0: any free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 in a container)")
    parser.add_argument("--threads", type=arguments.positive_int, default=None,
                        help="requests worked on at once, in one process (default 4: see docs/serving.md)")
    parser.add_argument("--intra-op-threads", type=arguments.non_negative_int, default=0,
                        help="TensorFlow's threads within one model call (default 0: TensorFlow's, one per core; "
                             "1 gave ~7%% more requests/s under load, slower single requests)")
    parser.add_argument("--poll-seconds", type=_seconds, default=None,
                        help="how often the serving directory is checked for a new version (default 1)")
    parser.set_defaults(handler=handle)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before TensorFlow is imported: a port in use is one error line at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP; with proto 0 a
    # response's headers and body, two writes, each waited for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def handle(args) -> int:
    base = args.serving_dir or configs.LocalPaths(os.path.abspath(args.work_dir)).serving_dir
    try:
        sock = bind(args.host, args.port)
    except (OSError, UnicodeError) as error:  # in use, not an address of this machine, a bad name
        print(f"error: cannot listen on {args.host}:{args.port}: {getattr(error, 'strerror', None) or error}",
              file=sys.stderr)
        return 1
    from serving import server

    if args.intra_op_threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)  # before any op runs
    # The server's own events (versions loaded and swapped, load failures) go to the terminal as they happen.
    server.run(base, sock, args.threads or server.DEFAULT_THREADS, args.poll_seconds or server.DEFAULT_POLL_SECONDS,
               lambda line: print(line, flush=True))
    return 0
