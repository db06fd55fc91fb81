"""`sparrow-tfx runs`: the pipeline runs recorded in ML Metadata, one line each."""
from pipeline.report import store


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list the pipeline runs recorded in ML Metadata")
    store.add_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from pipeline.report import history

    print("\n".join(history.table(history.rows(store.load_runs(args)))))
    return 0
