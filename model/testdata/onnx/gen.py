#!/usr/bin/env python3
"""Generates the ONNX parity goldens for package model from the real libraries.

Trains small scikit-learn models on seeded synthetic data, converts them with
skl2onnx and scores the rows with the real onnxruntime (pinned in requirements.txt to
the C library version scripts/onnxruntime.sh fetches). For each case NAME it writes
into this directory:

  NAME.onnx            the converted model (classifiers with zipmap=False, so the
                       probabilities are a float tensor [N, classes])
  NAME.rows.csv        rows to score: header = feature names, empty cell = missing
  NAME.expected.txt    onnxruntime's output for each row (%.17g): the positive-class
                       probability (binary), the value (regression) or one
                       space-separated probability per class (multiclass)

Feature names are written as the model's metadata_props entry "feature_names" (a JSON
array of strings); the case without it checks the f0..fN-1 fallback. zipmap.onnx is
a classifier exported with skl2onnx's default ZipMap output, which the Go side must
reject with a clear error.

TestONNXParity (model/onnx_test.go, build tag onnx) requires |go - python| <= 1e-5.

Rerun (from the repo root):
  PY=$(scripts/pyenv.sh)/bin/python
  $PY -m pip install -r model/testdata/onnx/requirements.txt
  $PY model/testdata/onnx/gen.py
"""
import json
import os

import numpy as np
import onnxruntime as ort
import skl2onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import (GradientBoostingClassifier,
                              GradientBoostingRegressor,
                              RandomForestClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

OUT = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["amount", "hour", "merchant_age", "distance_km", "tx_count_1h"]
N_TRAIN = 800
N_ROWS = 60
OPSET = {"": 17, "ai.onnx.ml": 3}


def data(seed, n, missing=0.0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.lognormal(3.0, 1.0, n),          # amount
        rng.integers(0, 24, n).astype(float),  # hour
        rng.exponential(400.0, n),           # merchant_age
        rng.gamma(2.0, 30.0, n),             # distance_km
        rng.poisson(2.0, n).astype(float),   # tx_count_1h
    ])
    z = (0.02 * X[:, 0] - 0.08 * np.abs(X[:, 1] - 12) + 0.01 * X[:, 3]
         + 0.4 * X[:, 4] - 0.002 * X[:, 2] - 1.0)
    y = (z + rng.normal(0, 1.0, n) > 0).astype(int)
    # Three classes for the multiclass case: split the positives by distance.
    y3 = np.where(y == 0, 0, np.where(X[:, 3] > 60, 2, 1))
    yreg = z + rng.normal(0, 0.3, n)
    if missing:
        X = X.copy()
        X[rng.random(X.shape) < missing] = np.nan
    return X, y, y3, yreg


def convert(est, nfeat, names, zipmap=False):
    options = None
    if hasattr(est, "predict_proba") and not zipmap:
        options = {id(est): {"zipmap": False}}
    onx = to_onnx(est, initial_types=[("input", FloatTensorType([None, nfeat]))],
                  options=options, target_opset=OPSET)
    if names is not None:
        p = onx.metadata_props.add()
        p.key = "feature_names"
        p.value = json.dumps(names)
    return onx


def write_rows(path, names, X):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join("" if np.isnan(v) else "%.17g" % v for v in row) + "\n")


def case(name, est, X_train, y_train, X_rows, names_meta, kind):
    est.fit(X_train, y_train)
    onx = convert(est, X_train.shape[1], names_meta)
    blob = onx.SerializeToString()
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(blob)
    names = names_meta or ["f%d" % i for i in range(X_train.shape[1])]
    write_rows(os.path.join(OUT, name + ".rows.csv"), names, X_rows)

    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    out = "probabilities" if kind != "regression" else "variable"
    # The rows as the Go side sees them: %.17g round-trips float64 exactly, then
    # both sides round to float32 for the float tensor input.
    got = sess.run([out], {"input": X_rows.astype(np.float32)})[0]
    with open(os.path.join(OUT, name + ".expected.txt"), "w") as f:
        for r in got:
            if kind == "binary":
                f.write("%.17g\n" % float(r[1]))
            elif kind == "regression":
                f.write("%.17g\n" % float(r[0]))
            else:
                f.write(" ".join("%.17g" % float(v) for v in r) + "\n")
    # Sanity: onnxruntime agrees with scikit-learn to float32 precision.
    if kind == "regression":
        ref = est.predict(X_rows)
        diff = np.max(np.abs(ref - got[:, 0]))
    else:
        ref = est.predict_proba(X_rows)
        diff = np.max(np.abs(ref - got))
    print("%-22s rows=%d max|onnxruntime - sklearn|=%.3g" % (name, len(X_rows), diff))


def main():
    print("onnxruntime", ort.__version__, "skl2onnx", skl2onnx.__version__)
    X, y, y3, yreg = data(1, N_TRAIN)
    Xr, _, _, _ = data(2, N_ROWS)
    Xm, ym, _, _ = data(3, N_TRAIN, missing=0.1)
    Xmr, _, _, _ = data(4, N_ROWS, missing=0.15)

    case("gbc_binary", GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0),
         X, y, Xr, FEATURES, "binary")
    case("logreg_imputer",
         Pipeline([("impute", SimpleImputer(strategy="median")),
                   ("scale", StandardScaler()),
                   ("lr", LogisticRegression(C=0.5, max_iter=1000))]),
         Xm, ym, Xmr, FEATURES, "binary")
    case("gbr_nonames", GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0),
         X, yreg, Xr, None, "regression")
    case("rf_multiclass", RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0),
         X, y3, Xr, FEATURES, "multiclass")

    lr = LogisticRegression(max_iter=1000).fit(X, y)
    with open(os.path.join(OUT, "zipmap.onnx"), "wb") as f:
        f.write(convert(lr, X.shape[1], FEATURES, zipmap=True).SerializeToString())


if __name__ == "__main__":
    main()
