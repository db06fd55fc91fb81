"""`sparrow-tfx run`: the whole pipeline locally (BeamDagRunner, SQLite ML Metadata)."""
import dataclasses
import functools
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
                        help="raw MovieLens directory (ratings.csv, movies.csv), e.g. from `sparrow-tfx download "
                             "movielens`; SampleGen makes the samples")
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


def check_movielens_dir(path: str) -> None:
    """SampleGen would find a missing file only inside Beam, after TFX has loaded."""
    from components.sample_gen import spec

    for name in (spec.RATINGS_PATTERN, spec.MOVIES_PATTERN):
        if not os.path.isfile(os.path.join(path, name)):
            raise SystemExit(f"error: --movielens {path}: no {name} there (a MovieLens directory has ratings.csv "
                             "and movies.csv; `sparrow-tfx download movielens` fetches one)")


def check_as_of(movielens_dir: str, as_of: str) -> None:
    """An as-of time must leave ratings on both sides: some to train on, and some it leaves out."""
    from components.sample_gen import spec
    from dataio import raw_rows

    path = os.path.join(movielens_dir, spec.RATINGS_PATTERN)
    found = raw_rows.rating_time_range(path)
    moment = raw_rows.as_of_timestamp(as_of)
    if found is None:
        raise SystemExit(f"error: --movielens {movielens_dir}: {path} holds no rating")
    span = f"{raw_rows.utc_time(found.earliest)} .. {raw_rows.utc_time(found.latest)}"
    if moment <= found.earliest:
        raise SystemExit(f"error: --as-of {as_of} is not after the first rating of {path} ({span}): nothing "
                         f"would be read; pick a later time")
    if moment > found.latest:
        raise SystemExit(f"error: --as-of {as_of} is after the last rating of {path} ({span}): it leaves nothing "
                         f"out; drop --as-of to read every rating, or pick an earlier time")


def handle(args) -> int:
    beam_pipeline_args = beam.cli_pipeline_args(args)  # a misfit flag fails before TFX loads
    sample_gen = sample_options.from_args(args, "--data" if args.data else None)
    settings = arguments.settings(args, "", sample_gen, beam_pipeline_args)  # flags checked before TFX loads
    if args.movielens:
        check_movielens_dir(args.movielens)
        if sample_gen.as_of:
            check_as_of(args.movielens, sample_gen.as_of)
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
