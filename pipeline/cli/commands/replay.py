"""`sparrow-tfx replay`: the continuous-training loop over a MovieLens directory's history, scored on the future."""
import datetime
import functools
import os
import sys

from pipeline import configs
from pipeline.cli.commands import arguments, sample_options
from pipeline.runners import beam


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay", help="run the pipeline as of each period's start in one work dir and score what serves on the "
                       "period's ratings")
    parser.add_argument("--movielens", metavar="DIR", required=True,
                        help="raw MovieLens directory (ratings.csv, movies.csv)")
    parser.add_argument("--start", required=True, metavar="YYYY-MM-DD",
                        help="the first period's start (UTC): its run reads the ratings before it")
    parser.add_argument("--every", default="90d", metavar="Nd", help="the period length in days (default: 90d)")
    parser.add_argument("--periods", type=arguments.positive_int, required=True, help="how many periods")
    parser.add_argument("--work-dir", default=configs.DEFAULT_WORK_DIR,
                        help="one ML Metadata store, serving directory and replay.json for the whole loop; a "
                             "replay run again in it resumes after its last finished period")
    sample_options.add_arguments(parser)
    arguments.add_local_run_arguments(parser)
    parser.set_defaults(handler=handle)


def _start(text: str) -> int:
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise SystemExit(f"error: --start expects a date YYYY-MM-DD (UTC), got {text!r}") from None
    return int(moment.timestamp())


def handle(args) -> int:
    from pipeline.cli.commands.run import check_movielens_dir
    from pipeline.runners import replay

    beam_pipeline_args = beam.cli_pipeline_args(args)
    if args.as_of:
        raise SystemExit("error: --as-of is set per period by replay (its --start and --every); drop it")
    sample_gen = sample_options.from_args(args, None)
    settings = arguments.settings(args, args.movielens, sample_gen, beam_pipeline_args)
    check_movielens_dir(args.movielens, sample_gen.span_window)
    try:
        plan = replay.Plan(args.movielens, _start(args.start), replay.parse_every(args.every), args.periods)
        plan.check(replay.time_range(replay.read_raw_ratings(args.movielens)))
    except replay.ReplayError as error:
        raise SystemExit(f"error: {error}") from None
    arguments.output_dir("--work-dir", os.path.abspath(args.work_dir))
    from pipeline.runners import work_dir_lock

    try:
        with work_dir_lock.hold(os.path.abspath(args.work_dir)):
            return _replay_locked(args, plan, settings)
    except work_dir_lock.WorkDirBusy as busy:
        print(f"error: {busy}", file=sys.stderr)
        return 1


def _replay_locked(args, plan, settings) -> int:
    from pipeline.cli.progress import Progress
    from pipeline.runners import replay

    paths = configs.LocalPaths(os.path.abspath(args.work_dir))
    try:
        replay.replay(plan, settings, paths, print_line=functools.partial(print, flush=True),
                      progress=functools.partial(Progress, stream=sys.stdout, live=False if args.verbose else None))
    except replay.ReplayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {os.path.join(paths.work_dir, replay.REPLAY_FILE)}")
    return 0
