"""`sparrow-tfx report`: one run's review as a self-contained HTML page (metrics per slice, plots, gate, data)."""
import os
import time

from pipeline.cli.commands import arguments
from pipeline.report import store


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="write an offline HTML review of a pipeline run")
    parser.add_argument("--run", default="latest", help="`latest` or a run id from `sparrow-tfx runs`")
    parser.add_argument("--output", default="report.html", help="HTML file to write (default: report.html)")
    parser.add_argument("--replay", action="store_true",
                        help="write the replay page of the work dir's replay.json (`sparrow-tfx replay`) instead: "
                             "served vs. each baseline per period, pushes marked")
    store.add_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    arguments.output_file("--output", args.output)
    if args.replay:
        return write_replay_page(args)
    from pipeline.cli import progress
    from pipeline.report import page, review

    started = time.monotonic()
    with progress.command_steps(3, args.verbose) as shown:
        with shown.step("read the run"):
            record = review.select_run(store.load_runs(args), args.run)
            loaded = review.load(record)
        with shown.step("render"):
            html = page.render(loaded)
        with shown.step("write"):
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(html)
    print(f"wrote {args.output} (run {record.run_id}, {len(html.encode()) / 1024:.0f} KiB) "
          f"in {time.monotonic() - started:.1f} s")
    return 0


def write_replay_page(args) -> int:
    from pipeline.report import replay_page
    from pipeline.runners import replay

    if args.metadata:
        raise SystemExit("error: --replay reads <work dir>/replay.json: give --work-dir, not --metadata")
    state = replay.load(os.path.abspath(args.work_dir))
    if state is None:
        raise SystemExit(f"error: no {replay.REPLAY_FILE} in {args.work_dir}: run `sparrow-tfx replay` there first")
    html = replay_page.render(state)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(html)
    print(f"wrote {args.output} (replay of {len(state['periods'])} period(s), {len(html.encode()) / 1024:.0f} KiB)")
    return 0
