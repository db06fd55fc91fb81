"""`sparrow-tfx download movielens`: fetch a GroupLens MovieLens release, verify its checksum, unpack it."""
import os
import sys

from pipeline import configs
from pipeline.cli.commands import arguments
from pipeline.datasets import movielens


def register(subparsers) -> None:
    parser = subparsers.add_parser("download", help="download a public dataset")
    datasets = parser.add_subparsers(dest="dataset", required=True)
    release = datasets.add_parser(
        "movielens", help="a MovieLens release from GroupLens (raw ratings.csv and movies.csv)",
        description="Supported variants: " + ", ".join(f"{v.name} ({v.ratings} ratings)"
                                                       for v in movielens.VARIANTS.values())
                    + ". ml-100k, ml-1m and ml-10m use other file formats and are not supported.")
    release.add_argument("--variant", default="ml-latest-small", choices=list(movielens.VARIANTS))
    release.add_argument("--output", default=os.path.join(configs.LocalPaths(configs.DEFAULT_WORK_DIR).data_dir,
                                                          "movielens"),
                         help="directory to unpack <variant>/ into (default: .work/data/movielens)")
    release.add_argument("--sha256", help="the zip's expected SHA-256, instead of the pinned one")
    release.add_argument("--base-url", default=movielens.BASE_URL, help="a mirror of GroupLens' MovieLens files")
    release.set_defaults(handler=handle)


def handle(args) -> int:
    arguments.output_dir("--output", args.output)
    from pipeline.cli import progress

    try:
        with progress.command_steps(len(movielens.DOWNLOAD_STEPS), args.verbose) as shown:
            path = movielens.download(args.variant, args.output, base_url=args.base_url, sha256=args.sha256,
                                      step=shown.step)
    except movielens.DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.variant}: {path}\nrun the pipeline on it: sparrow-tfx run --movielens {path}")
    return 0
