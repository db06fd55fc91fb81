"""A gradient-boosted trees baseline on the Embedding+MLP's features: the bar any deep model should clear.

Genres are categorical (ordinal codes over the genre vocabulary); ids stay numeric, since HistGradientBoosting
caps categorical cardinality at 255 and there are ~1,000 movies and ~30,000 users. Empty cells stay missing (NaN):
trees route missing values natively, where the MLP reference has to read them as 0 or "".
"""
from __future__ import annotations

import os
import sys
from typing import Dict, Mapping, Sequence, Union

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from bench import common
from models import features

FEATURE_KEYS = (features.MOVIE_KEY, features.USER_KEY, *common.GENRE_KEYS, *common.NUMERIC_KEYS)
MAX_ITER = 1000  # an upper bound only: early stopping picks the number of trees


def feature_frame(rows: Union[pd.DataFrame, Sequence[Mapping]]) -> pd.DataFrame:
    """The trees' inputs from sample-like rows; genres as float codes into features.GENRES, NaN where empty."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows, columns=list(FEATURE_KEYS))
    x = frame[list(FEATURE_KEYS)].copy()
    for key in common.GENRE_KEYS:
        codes = pd.Categorical(x[key], categories=features.GENRES).codes.astype(float)
        x[key] = pd.Series(codes, index=x.index).where(codes >= 0)
    return x.astype(float)


def load(path: os.PathLike) -> tuple:
    """(features, labels) of a sample CSV."""
    frame = pd.read_csv(path, usecols=[*FEATURE_KEYS, features.LABEL_KEY])
    return feature_frame(frame), frame[features.LABEL_KEY].to_numpy()


def fit(x: pd.DataFrame, y, seed: int) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(
        max_iter=MAX_ITER, early_stopping=True, categorical_features=list(common.GENRE_KEYS), random_state=seed)
    return model.fit(x, y)


def train_and_evaluate(train_csv: os.PathLike, eval_csv: os.PathLike, seed: int) -> Dict[str, float]:
    (x_train, y_train), (x_eval, y_eval) = load(train_csv), load(eval_csv)
    model = fit(x_train, y_train, seed)
    return {**common.binary_metrics(y_eval, model.predict_proba(x_eval)[:, 1]),
            "train_examples": len(y_train), "trees": model.n_iter_}


if __name__ == "__main__":
    common.seeds_cli("tree_baseline", train_and_evaluate, sys.argv[1:])
