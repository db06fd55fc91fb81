"""Argument types and path checks shared by the subcommands: a value a user can get wrong fails in one line
naming the flag, before anything heavy is imported, never as a traceback."""
from __future__ import annotations

import argparse
import os

from pipeline import configs
from pipeline.runners import beam


def positive_int(text: str) -> int:
    value = _number(int, text, "an integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(int, text, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(float, text, "a number")
    if not value >= 0.0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def unit_fraction(text: str) -> float:
    """A number from 0 to 1: an AUC, an AUC difference, a share of recall@10 (--max-catalogue-regression)."""
    value = _number(float, text, "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def add_training_and_gate_arguments(parser: argparse.ArgumentParser, compiled: bool) -> None:
    """The Trainer's and the gate's flags of `run`, and of `compile`/`submit` as their run-time defaults."""
    where = lambda parameter: f" (the default of the {parameter} run-time parameter)" if compiled else ""
    defaults = configs.Settings()
    parser.add_argument("--train-steps", type=non_negative_int, default=defaults.train_steps,
                        help="cap on training steps (0: epochs decide)" + where("train_args"))
    parser.add_argument("--min-auc", type=unit_fraction, default=defaults.min_auc,
                        help="blessing needs eval ROC AUC above this" + where("eval_config"))
    parser.add_argument("--max-auc-regression", type=unit_fraction, default=defaults.max_auc_regression,
                        help="blessing allows at most this AUC drop against the serving model"
                        + where("eval_config"))
    parser.add_argument("--min-catalogue-ratio", type=non_negative_float,
                        default=defaults.min_catalogue_ratio,
                        help="blessing also needs recall@10 over the catalogue (all eval users) at least this "
                             "times the most-rated list's (0: no popularity gate)")
    parser.add_argument("--max-catalogue-regression", type=unit_fraction,
                        default=defaults.max_catalogue_regression,
                        help="when a version serves, blessing also needs recall@10 over the catalogue at most this "
                             "fraction below that version's, ranked as it serves (1: no serving-version gate)")
    parser.add_argument("--catalogue-eval-users", type=non_negative_int, default=defaults.catalogue_eval_users,
                        help="the catalogue gate ranks at most this many eval users, a seeded sample when there "
                             "are more, its figures with 90%% bootstrap intervals (0: every one)")
    parser.add_argument("--stop-on-drift", action="store_true", default=defaults.stop_on_drift,
                        help="stop the run at the data gate when its training data drifted from the serving "
                             "version's above the schema's thresholds (default: drift is reported only)")
    parser.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE",
                        help="a Trainer hyperparameter, e.g. batch_size=512 (repeatable)")


def add_local_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of a local run (`run`, and `replay` for each of its runs): training, gates, cache, Beam."""
    add_training_and_gate_arguments(parser, compiled=False)
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    parser.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=configs.Settings().warm_start,
                        help="initialise the Trainer from the version serving now: known ids keep their "
                             "embeddings, new ids start fresh; cold when nothing serves or the shapes differ")
    parser.add_argument("--allow-anomalies", action="store_true",
                        help="train on data that breaks the schema (a warning instead of stopping the run)")
    beam.add_arguments(parser)


def settings(args, data_root: str, sample_gen, beam_pipeline_args=None) -> configs.Settings:
    """The run's settings from the flags `add_training_and_gate_arguments` and the command added."""
    return configs.Settings(
        data_root=data_root, sample_gen=sample_gen, train_steps=args.train_steps, hparams=hparams(args.hparam),
        min_auc=args.min_auc, max_auc_regression=args.max_auc_regression,
        min_catalogue_ratio=args.min_catalogue_ratio, max_catalogue_regression=args.max_catalogue_regression,
        catalogue_eval_users=args.catalogue_eval_users,
        allow_anomalies=getattr(args, "allow_anomalies", False), stop_on_drift=args.stop_on_drift,
        warm_start=getattr(args, "warm_start", configs.Settings().warm_start),
        enable_cache=not args.no_cache, beam_pipeline_args=beam_pipeline_args)


def _number(kind, text: str, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects {what}, got {text!r}") from None


def output_file(flag: str, path: str) -> None:
    """Creates the parent directory of a file the command will write, or stops with why it cannot."""
    output_dir(flag, os.path.dirname(os.path.abspath(path)))


def output_dir(flag: str, path: str) -> None:
    """Creates a directory the command will write into, or stops with why it cannot."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"error: {flag}: cannot create {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SystemExit(f"error: {flag}: {path} is not writable")


def key_values(pairs, flag: str) -> dict:
    """KEY=VALUE pairs; a value is JSON where it parses (numbers, lists), text otherwise."""
    import json

    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: {flag} expects KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    return values


def hparams(pairs, flag: str = "--hparam") -> dict:
    """Trainer hyperparameters from KEY=VALUE pairs, checked against models.model.HParams (the Trainer would
    reject an unknown or mistyped one only after the data steps have run)."""
    import dataclasses

    from models import model

    values = key_values(pairs, flag)
    fields = {field.name: field for field in dataclasses.fields(model.HParams)}
    for key, value in values.items():
        if key not in fields:
            raise SystemExit(f"error: {flag}: unknown hyperparameter {key!r}; known: {', '.join(sorted(fields))}")
        expected = type(fields[key].default)
        ok = (isinstance(value, (list, tuple)) if expected is tuple
              else isinstance(value, (int, float)) and not isinstance(value, bool) if expected is float
              else isinstance(value, expected) and not (expected is int and isinstance(value, bool)))
        if not ok:
            raise SystemExit(f"error: {flag} {key}: expects {expected.__name__}, got {value!r}")
    return values
