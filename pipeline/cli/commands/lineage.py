"""`sparrow-tfx lineage MODEL_VERSION`: the data, schema, transform graph and trainer run behind a pushed model."""
from pipeline.report import store


def register(subparsers) -> None:
    parser = subparsers.add_parser("lineage", help="show what produced a pushed model version")
    parser.add_argument("version", metavar="MODEL_VERSION", help="a pushed version (the serving directory's name)")
    store.add_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from pipeline.report import lineage

    print("\n".join(lineage.trace(store.metadata_path(args), args.version).lines()))
    return 0
