#!/usr/bin/env python3
"""Export a scikit-learn logistic regression to scorestream's logistic JSON format.

Supported estimators:
  * LogisticRegression (binary) on raw features;
  * Pipeline([... StandardScaler ..., LogisticRegression]) — the scaler's mean_ and
    scale_ go into "standardize", so scorestream applies (x - mean) / std itself.

Usage as a library (in the notebook where the model was trained):

    from sklearn_export import export_logistic
    doc = export_logistic(pipe, feature_names=["amount", "hour", "merchant_age"])
    json.dump(doc, open("model.json", "w"), indent=2)

Usage from the command line, with a pickled estimator:

    python examples/sklearn_export.py model.pkl model.json --features amount,hour,merchant_age

Then check it and score a CSV offline:

    scorestream model check model.json
    scorestream model predict --model model.json --features rows.csv

The score is sigmoid(intercept + sum_i coef_i * (x_i - mean_i) / std_i), the same as
the estimator's predict_proba(X)[:, 1].
"""
import argparse
import json
import pickle
import sys


def _unwrap(estimator):
    """Returns (scaler or None, logistic regression) from an estimator or pipeline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = None
    if isinstance(estimator, Pipeline):
        steps = [s for _, s in estimator.steps if s is not None and s != "passthrough"]
        if not steps or not isinstance(steps[-1], LogisticRegression):
            raise ValueError("pipeline must end with LogisticRegression")
        for s in steps[:-1]:
            if isinstance(s, StandardScaler):
                if scaler is not None:
                    raise ValueError("pipeline has more than one StandardScaler")
                scaler = s
            else:
                raise ValueError(
                    "unsupported pipeline step %s: only StandardScaler can precede "
                    "LogisticRegression" % type(s).__name__)
        estimator = steps[-1]
    if not isinstance(estimator, LogisticRegression):
        raise ValueError("unsupported estimator %s" % type(estimator).__name__)
    return scaler, estimator


def export_logistic(estimator, feature_names=None):
    """Returns the logistic JSON document (a dict) for a fitted binary estimator."""
    scaler, lr = _unwrap(estimator)
    if lr.coef_.shape[0] != 1:
        raise ValueError("only binary logistic regression is supported (got %d classes)"
                         % len(lr.classes_))
    if feature_names is None:
        names = getattr(estimator, "feature_names_in_", None)
        if names is None:
            raise ValueError("feature_names is required: the estimator was fitted "
                             "without named columns")
        feature_names = [str(n) for n in names]
    feature_names = list(feature_names)
    coef = [float(c) for c in lr.coef_[0]]
    if len(coef) != len(feature_names):
        raise ValueError("%d feature names for %d coefficients"
                         % (len(feature_names), len(coef)))
    if len(set(feature_names)) != len(feature_names):
        raise ValueError("duplicate feature names")
    doc = {
        "format": "logistic",
        "version": 1,
        "features": feature_names,
        "intercept": float(lr.intercept_[0]),
        "coefficients": dict(zip(feature_names, coef)),
    }
    if scaler is not None:
        mean = scaler.mean_ if scaler.with_mean and scaler.mean_ is not None else None
        scale = scaler.scale_ if scaler.with_std and scaler.scale_ is not None else None
        std = {}
        if mean is not None:
            std["mean"] = {n: float(v) for n, v in zip(feature_names, mean)}
        if scale is not None:
            std["std"] = {n: float(v) for n, v in zip(feature_names, scale)}
        if std:
            doc["standardize"] = std
    return doc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pickle", help="pickled fitted LogisticRegression or Pipeline")
    p.add_argument("out", help="output JSON path")
    p.add_argument("--features", help="comma-separated feature names in column order "
                   "(default: the estimator's feature_names_in_)")
    a = p.parse_args(argv)
    with open(a.pickle, "rb") as f:
        est = pickle.load(f)  # only load pickles you trust
    names = a.features.split(",") if a.features else None
    doc = export_logistic(est, names)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("wrote %s (%d features)" % (a.out, len(doc["features"])), file=sys.stderr)


if __name__ == "__main__":
    main()
