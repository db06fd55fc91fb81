"""SampleGen's options on the command line, the same for `run`, `compile` and `submit`: --features and
--sample-option KEY=VALUE, checked against components.sample_gen.config.SampleGenConfig before TFX loads."""
from __future__ import annotations

import dataclasses
from typing import Optional

from components.sample_gen import config as sample_gen_config
from pipeline.cli.commands import arguments

OPTION_NAMES = tuple(field.name for field in dataclasses.fields(sample_gen_config.SampleGenConfig))


def add_arguments(parser) -> None:
    parser.add_argument("--features", choices=(sample_gen_config.POINT_IN_TIME, sample_gen_config.LEAKY),
                        default=sample_gen_config.POINT_IN_TIME,
                        help="SampleGen's movie statistics: from earlier ratings only, or leaky (from all ratings, "
                             "as SparrowRecSys' Spark job; to measure the leak)")
    parser.add_argument("--sample-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a SampleGen option, e.g. split_mode=user_last (any field of "
                             "components.sample_gen.config.SampleGenConfig; repeatable)")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD[THH:MM]",
                        help="the data as of this moment (UTC), as if it were now: ratings at or after it are not "
                             "read (the as_of SampleGen option)")


def unknown(options, flag: str = "--sample-option") -> Optional[str]:
    """Why some of these option names are wrong; None when SampleGen has them all."""
    names = sorted(set(options) - set(OPTION_NAMES))
    if names:
        return f"{flag} {', '.join(names)}: no such SampleGen option; the options are {', '.join(OPTION_NAMES)}"
    return None


def config(options: dict) -> sample_gen_config.SampleGenConfig:
    """The SampleGenConfig of these options; ValueError naming the option a value does not fit."""
    problem = unknown(options)
    if problem:
        raise ValueError(problem)
    try:
        return sample_gen_config.SampleGenConfig(**options)
    except TypeError as error:
        raise ValueError(str(error)) from None


def from_args(args, samples_flag: Optional[str]) -> Optional[sample_gen_config.SampleGenConfig]:
    """SampleGen's options from --features and --sample-option; None when the input is sample CSVs (samples_flag:
    the flag that chose them, None when the input is raw MovieLens)."""
    if samples_flag:
        if args.sample_option or args.features != sample_gen_config.POINT_IN_TIME or args.as_of:
            raise SystemExit(f"error: --features, --sample-option and --as-of apply to raw MovieLens input, not to "
                             f"{samples_flag}")
        return None
    options = {"features_mode": args.features, **arguments.key_values(args.sample_option, "--sample-option")}
    if args.as_of:
        if "as_of" in options:
            raise SystemExit("error: give the as-of time once: --as-of or --sample-option as_of=..., not both")
        options["as_of"] = args.as_of
    try:
        return config(options)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
