"""`sparrow-tfx run`: the whole pipeline locally (BeamDagRunner, SQLite ML Metadata)."""
import dataclasses
import functools
import glob
import os
import sys

from pipeline import configs
from pipeline.cli import console
from pipeline.cli.commands import arguments, sample_options
from pipeline.runners import beam


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run the pipeline locally with Beam")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="sample CSV directory with train/ and eval/ (SparrowRecSys format); "
                                       "default: the embedded synthetic dataset's raw files, through SampleGen")
    source.add_argument("--movielens", metavar="DIR",
                        help="raw MovieLens directory (ratings.csv or span files ratings-{SPAN}.csv, movies.csv), "
                             "e.g. from `sparrow-tfx download movielens`; SampleGen makes the samples")
    sample_options.add_arguments(parser)
    parser.add_argument("--size", type=arguments.positive_int, default=configs.DEFAULT_DATA_SIZE,
                        help="ratings in the synthetic dataset (without --data or --movielens)")
    parser.add_argument("--seed", type=arguments.non_negative_int, default=configs.DEFAULT_DATA_SEED,
                        help="synthetic dataset seed")
    parser.add_argument("--work-dir", default=configs.DEFAULT_WORK_DIR,
                        help="pipeline root, ML Metadata, serving directory and generated data (default: .work)")
    arguments.add_local_run_arguments(parser)
    parser.set_defaults(handler=handle)


def parse_hparams(pairs, flag="--hparam"):
    return arguments.key_values(pairs, flag)


def check_movielens_dir(path: str, span_window: int = 0):
    """SampleGen would find a missing file or a wrong layout of span files only inside Beam, after TFX has
    loaded. Returns the ratings files SampleGen will read (raw_rows.RatingsFiles)."""
    from dataio import raw_rows

    layout = (f"a MovieLens directory has {raw_rows.RATINGS_FILE} and {raw_rows.MOVIES_FILE}; "
              "`sparrow-tfx download movielens` fetches one")
    for name, pattern in ((raw_rows.RATINGS_FILE, raw_rows.RATINGS_GLOB), (raw_rows.MOVIES_FILE, raw_rows.MOVIES_FILE)):
        if not glob.glob(os.path.join(glob.escape(path), pattern)):
            spans = f"nor span files {raw_rows.RATINGS_SPAN_PATTERN}; " if name == raw_rows.RATINGS_FILE else ""
            raise SystemExit(f"error: --movielens {path}: no {name} there ({spans}{layout})")
    try:
        ratings = raw_rows.local_ratings_files(path, span_window)
    except ValueError as error:
        raise SystemExit(f"error: --movielens {path}: {error}") from None
    if span_window and not ratings.spans:
        print(f"warning: --sample-option span_window={span_window} has no effect: {path} holds "
              f"{raw_rows.RATINGS_FILE}, not span files {raw_rows.RATINGS_SPAN_PATTERN}", file=sys.stderr)
    if ratings.missing():
        print(f"warning: --movielens {path}: ratings spans {raw_rows.span_ranges(ratings.missing())} are missing "
              f"between those read ({raw_rows.span_ranges(ratings.spans)}): not arrived yet? their ratings are not "
              "read", file=sys.stderr)
    return ratings


def check_as_of(ratings, as_of: str) -> None:
    """An as-of time must leave ratings on both sides: some to train on, and some it leaves out (ratings: the
    raw_rows.RatingsFiles SampleGen reads)."""
    from dataio import raw_rows

    found = raw_rows.rating_time_range(ratings.paths)
    moment = raw_rows.as_of_timestamp(as_of)
    where = ratings.paths[0] if not ratings.spans else (
        f"{os.path.join(os.path.dirname(ratings.paths[0]), raw_rows.RATINGS_SPAN_PATTERN)} {ratings.describe()}")
    if found is None:
        raise SystemExit(f"error: --movielens {os.path.dirname(ratings.paths[0])}: {where} holds no rating")
    span = f"{raw_rows.utc_time(found.earliest)} .. {raw_rows.utc_time(found.latest)}"
    if moment <= found.earliest:
        raise SystemExit(f"error: --as-of {as_of} is not after the first rating of {where} ({span}): nothing "
                         f"would be read; pick a later time")
    if moment > found.latest:
        raise SystemExit(f"error: --as-of {as_of} is after the last rating of {where} ({span}): it leaves nothing "
                         f"out; drop --as-of to read every rating, or pick an earlier time")


def handle(args) -> int:
    beam_pipeline_args = beam.cli_pipeline_args(args)  # a misfit flag fails before TFX loads
    sample_gen = sample_options.from_args(args, "--data" if args.data else None)
    settings = arguments.settings(args, "", sample_gen, beam_pipeline_args)  # flags checked before TFX loads
    if args.movielens:
        ratings = check_movielens_dir(args.movielens, sample_gen.span_window)
        if sample_gen.as_of:
            check_as_of(ratings, sample_gen.as_of)
    arguments.output_dir("--work-dir", os.path.abspath(args.work_dir))
    from pipeline.runners import work_dir_lock

    try:
        with work_dir_lock.hold(os.path.abspath(args.work_dir)):
            return run_locked(args, settings)
    except work_dir_lock.WorkDirBusy as busy:
        print(f"error: {busy}", file=sys.stderr)
        return 1


def run_locked(args, settings) -> int:
    from pipeline import pipeline as pipeline_lib
    from pipeline.cli.progress import Progress
    from pipeline.datasets import synthetic
    from pipeline.runners import local, preflight

    paths = configs.LocalPaths(os.path.abspath(args.work_dir))
    if args.data:
        data_root = args.data
    elif args.movielens:
        data_root = args.movielens
    else:
        generated = synthetic.ensure_generated(paths.data_dir, args.size, args.seed)
        data_root = os.path.join(generated, "raw")
    rows_read = {}  # SampleGen checks raw files itself and reports what it read
    if settings.sample_gen is None:
        try:
            rows_read = preflight.check_samples(
                data_root, {split.name: split.pattern for split in pipeline_lib.sample_splits().splits})
        except preflight.PreflightError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    try:
        record = local.run(
            dataclasses.replace(settings, data_root=data_root), paths,
            progress=functools.partial(Progress, stream=sys.stdout, live=False if args.verbose else None))
    except local.ComponentFailed as failure:
        console.log_failure(failure.__cause__ or failure)
        if failure.record:
            print_summary(failure.record, rows_read)
        print(f"error: {failure}\n{console.where_logged()}".rstrip(), file=sys.stderr)  # last, where the user looks
        return 1
    result, balanced = print_summary(record, rows_read)
    if not result.succeeded or not balanced:
        return 1
    return 0 if result.blessed else 2


def print_summary(record, rows_read):
    """Prints what the run did and its record accounting; returns the summary and whether every split balances."""
    from pipeline.report import accounting, summary

    result = summary.RunSummary.from_record(record)
    split_accounts = accounting.accounts(rows_read, record)
    print("\n".join(result.lines() + (accounting.lines(split_accounts) if split_accounts else [])
                    + sample_gen_lines(record)))
    return result, all(account.balanced for account in split_accounts)


def sample_gen_lines(record):
    """What SampleGen read and made, from its Examples' custom properties; none without SampleGen."""
    from components.sample_gen import report
    from pipeline.report import metadata

    node = record.node("SampleGen")
    examples = node.output("examples") if node else None
    if examples is None:
        return []
    return [report.summary_line({k: metadata.custom_property(examples, k) for k in examples.custom_properties})]
