"""`sparrow-tfx generate`: write the embedded synthetic dataset (MovieLens files and sample splits)."""
from pipeline import configs
from pipeline.cli.commands import arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="write the deterministic synthetic dataset")
    parser.add_argument("--output", required=True, help="directory to write raw/ and samples/{train,eval}/ into")
    parser.add_argument("--size", type=arguments.positive_int, default=configs.DEFAULT_DATA_SIZE,
                        help="number of ratings")
    parser.add_argument("--seed", type=arguments.non_negative_int, default=configs.DEFAULT_DATA_SEED)
    parser.add_argument("--span-days", type=arguments.positive_int, metavar="N",
                        help="write the raw ratings as span files raw/ratings-{SPAN}.csv, one per N days, instead "
                             "of raw/ratings.csv")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    arguments.output_dir("--output", args.output)
    from pipeline.cli import progress
    from pipeline.datasets import synthetic

    with progress.command_steps(len(synthetic.GENERATE_STEPS), args.verbose) as shown:
        counts = synthetic.generate(args.output, args.size, args.seed, step=shown.step, span_days=args.span_days or 0)
    print(f"wrote {args.output}: samples train={counts['train']} eval={counts['eval']}")
    return 0
