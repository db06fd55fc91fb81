"""`sparrow-tfx run`: the whole pipeline locally (BeamDagRunner, SQLite ML Metadata)."""
import os

from pipeline import beam_runners, configs


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run the pipeline locally with Beam")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="sample CSV directory with train/ and eval/ (SparrowRecSys format); "
                                       "default: the embedded synthetic dataset")
    parser.add_argument("--size", type=int, default=configs.DEFAULT_DATA_SIZE,
                        help="ratings in the synthetic dataset (without --data)")
    parser.add_argument("--seed", type=int, default=configs.DEFAULT_DATA_SEED, help="synthetic dataset seed")
    parser.add_argument("--work-dir", default=configs.DEFAULT_WORK_DIR,
                        help="pipeline root, ML Metadata, serving directory and generated data (default: .work)")
    parser.add_argument("--min-auc", type=float, default=configs.DEFAULT_MIN_AUC,
                        help="blessing needs eval ROC AUC above this")
    parser.add_argument("--max-auc-regression", type=float, default=configs.DEFAULT_MAX_AUC_REGRESSION,
                        help="blessing allows at most this AUC drop against the serving model")
    parser.add_argument("--train-steps", type=int, default=0, help="cap on training steps (0: epochs decide)")
    parser.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE",
                        help="a Trainer hyperparameter, e.g. batch_size=512 (repeatable)")
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    beam_runners.add_arguments(parser)
    parser.set_defaults(handler=handle)


def parse_hparams(pairs):
    import json

    hparams = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --hparam expects KEY=VALUE, got {pair!r}")
        try:
            hparams[key] = json.loads(value)
        except json.JSONDecodeError:
            hparams[key] = value
    return hparams


def handle(args) -> int:
    beam_pipeline_args = beam_runners.cli_pipeline_args(args)  # a misfit flag fails before TFX loads
    from pipeline import local_runner, summary
    from pipeline.datasets import synthetic

    paths = configs.LocalPaths(os.path.abspath(args.work_dir))
    if args.data:
        data_root = args.data
    else:
        generated = synthetic.ensure_generated(paths.data_dir, args.size, args.seed)
        data_root = os.path.join(generated, "samples")
    record = local_runner.run(
        data_root=data_root, paths=paths, min_auc=args.min_auc, max_auc_regression=args.max_auc_regression,
        train_steps=args.train_steps, hparams=parse_hparams(args.hparam), enable_cache=not args.no_cache,
        beam_pipeline_args=beam_pipeline_args)
    result = summary.RunSummary.from_record(record)
    print("\n".join(result.lines()))
    if not result.succeeded:
        return 1
    return 0 if result.blessed else 2
