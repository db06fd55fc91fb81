"""`sparrow-tfx compile`: the pipeline as a Kubeflow Pipelines 2.x PipelineSpec YAML (schema 2.1)."""
import os

from pipeline.cli.commands import arguments, sample_options
from pipeline.runners import beam
from pipeline.runners import image as pipeline_image


def register(subparsers) -> None:
    parser = subparsers.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines (YAML)")
    parser.add_argument("--output", default="pipeline.yaml", help="the PipelineSpec YAML to write")
    parser.add_argument("--image", help="the pipeline image (default: the Dockerfile's, "
                                        "sparrow-tfx:<version>-tfx<TFX version>)")
    parser.add_argument("--pipeline-root", help="gs:// or s3:// root of the artifacts (the spec's default; "
                                                "without it, `submit --pipeline-root` gives it)")
    parser.add_argument("--serving-dir", help="where blessed models are pushed (default: <pipeline root>/serving)")
    source = parser.add_mutually_exclusive_group()  # the input kinds of `run`; default: raw MovieLens
    source.add_argument("--data", metavar="URI",
                        help="sample CSVs with train/ and eval/ (CsvExampleGen), the default of the data_root "
                             "run-time parameter; default: raw MovieLens files (ratings.csv, movies.csv) through "
                             "SampleGen")
    source.add_argument("--samples", action="store_true",
                        help="sample CSVs as --data, with data_root given by every run")
    source.add_argument("--movielens", metavar="URI",
                        help="default of the data_root run-time parameter: a raw MovieLens directory; without it "
                             "(nor --data) every run must give data_root")
    sample_options.add_arguments(parser)  # the defaults of SampleGen's run-time parameters
    arguments.add_training_and_gate_arguments(parser, compiled=True)
    parser.add_argument("--no-cache", action="store_true", help="compile with KFP caching off for every task")
    beam.add_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    if not args.output.endswith((".yaml", ".yml")):
        raise SystemExit(f"error: --output must be a .yaml file, got {args.output!r}")
    arguments.output_file("--output", args.output)
    sample_gen = sample_options.from_args(args, "--data" if args.data else "--samples" if args.samples else None)
    image = args.image or pipeline_image.default_image()
    beam_pipeline_args = beam.cli_pipeline_args(args, image)  # a misfit flag fails before TFX loads
    from pipeline.runners import kubeflow

    compile_settings = kubeflow.CompileSettings(
        image=image, pipeline_root=args.pipeline_root, serving_dir=args.serving_dir,
        settings=arguments.settings(args, args.data or args.movielens or "", sample_gen, beam_pipeline_args))
    try:
        spec = kubeflow.compile_spec(compile_settings)
        kubeflow.write_spec(spec, args.output)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    parameters = spec.root.input_definitions.parameters
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes): {len(spec.root.dag.tasks)} tasks, "
          f"executors {kubeflow.executor_kinds(spec)}, image {image}")
    print(f"input: {'sample CSVs (CsvExampleGen)' if sample_gen is None else 'raw MovieLens (SampleGen)'}; tasks: "
          + ", ".join(kubeflow.task_order(spec)))
    print("run-time parameters: " + ", ".join(
        f"{name}{'' if parameters[name].is_optional else ' (required)'}" for name in sorted(parameters)))
    print(f"pipeline root: {spec.default_pipeline_root or 'none; give it with submit --pipeline-root'}")
    return 0
