#!/usr/bin/env python3
"""Generates the parity goldens for package model from the real libraries.

Trains small models with xgboost and scikit-learn on seeded synthetic data and writes,
for each case NAME, into model/testdata/parity/:

  NAME.json | NAME.ubj   the model file as the library saves it
  NAME.rows.csv          rows to score: header = feature names, empty cell = missing
  NAME.expected.txt      the library's predictions, one row per line (%.17g); a
                         multiclass case has one space-separated probability per class

TestParity (model/parity_test.go) requires |go - python| <= 1e-6 on every row.

Rerun (from the repo root):
  PY=$(scripts/pyenv.sh)/bin/python; $PY model/testdata/gen_parity.py
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "parity")
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
from sklearn_export import export_logistic  # noqa: E402

FEATURES = ["amount", "hour", "merchant_age", "distance_km", "tx_count_1h"]
N_TRAIN = 600
N_ROWS = 40


def data(seed, n, missing=0.1):
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.lognormal(3.0, 1.0, n),          # amount
        rng.integers(0, 24, n).astype(float),  # hour
        rng.exponential(300.0, n),           # merchant_age (days)
        rng.gamma(2.0, 20.0, n),             # distance_km
        rng.poisson(2.0, n).astype(float),   # tx_count_1h
    ])
    z = (0.02 * X[:, 0] - 0.004 * X[:, 2] + 0.03 * X[:, 3] + 0.4 * X[:, 4]
         - 0.1 * np.abs(X[:, 1] - 3) + rng.normal(0, 1, n))
    if missing > 0:
        X[rng.random(X.shape) < missing] = np.nan
    return X, z


def write_rows(name, X, names):
    with open(os.path.join(OUT, name + ".rows.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def write_expected(name, pred):
    pred = np.asarray(pred, dtype=np.float64)
    with open(os.path.join(OUT, name + ".expected.txt"), "w") as f:
        for p in pred:
            if np.ndim(p) == 0:
                f.write("%.17g\n" % p)
            else:
                f.write(" ".join("%.17g" % v for v in p) + "\n")


def save_xgb(name, booster, X, names, ext="json", iteration_range=(0, 0), ftypes=None,
             pred=None):
    booster.save_model(os.path.join(OUT, name + "." + ext))
    if pred is None:
        d = xgb.DMatrix(X, feature_names=names, feature_types=ftypes,
                        enable_categorical=ftypes is not None)
        pred = booster.predict(d, iteration_range=iteration_range)
    write_rows(name, X, names)
    write_expected(name, pred)


def logistic_cases():
    X, z = data(1, N_TRAIN, missing=0)
    y = (z > np.median(z)).astype(int)
    Xt, _ = data(2, N_ROWS, missing=0)
    pipe = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(C=0.5))])
    pipe.fit(X, y)
    with open(os.path.join(OUT, "logistic_pipeline.json"), "w") as f:
        json.dump(export_logistic(pipe, FEATURES), f, indent=2)
    write_rows("logistic_pipeline", Xt, FEATURES)
    write_expected("logistic_pipeline", pipe.predict_proba(Xt)[:, 1])

    lr = LogisticRegression(max_iter=5000).fit(X[:, :3] / 100.0, y)
    with open(os.path.join(OUT, "logistic_plain.json"), "w") as f:
        json.dump(export_logistic(lr, FEATURES[:3]), f, indent=2)
    # the plain model was trained on x/100; score rows on the same scale
    write_rows("logistic_plain", Xt[:, :3] / 100.0, FEATURES[:3])
    write_expected("logistic_plain", lr.predict_proba(Xt[:, :3] / 100.0)[:, 1])


def xgb_cases():
    X, z = data(3, N_TRAIN)
    Xt, _ = data(4, N_ROWS)
    ybin = (z > np.median(z)).astype(int)
    d = xgb.DMatrix(X, label=ybin, feature_names=FEATURES)

    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 1},
                  d, 20)
    save_xgb("xgb_binary", b, Xt, FEATURES, "json")
    save_xgb("xgb_binary_ubj", b, Xt, FEATURES, "ubj")

    # base_score as a plain string ("5E-1"), as xgboost 1.x-2.x writes it; the
    # library reads it back and its predictions are the goldens.
    raw = json.loads(b.save_raw("json"))
    lmp = raw["learner"]["learner_model_param"]
    lmp["base_score"] = "3E-1"
    old = xgb.Booster(model_file=bytearray(json.dumps(raw).encode()))
    with open(os.path.join(OUT, "xgb_binary_scalar_base.json"), "w") as f:
        json.dump(raw, f)
    write_rows("xgb_binary_scalar_base", Xt, FEATURES)
    write_expected("xgb_binary_scalar_base",
                   old.predict(xgb.DMatrix(Xt, feature_names=FEATURES)))

    b = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "seed": 1},
                  xgb.DMatrix(X, label=z, feature_names=FEATURES), 15)
    save_xgb("xgb_reg", b, Xt, FEATURES, "json")

    b = xgb.train({"objective": "count:poisson", "max_depth": 3, "seed": 1},
                  xgb.DMatrix(X, label=np.floor(np.abs(z)), feature_names=FEATURES), 10)
    save_xgb("xgb_poisson", b, Xt, FEATURES, "ubj")

    rel = np.clip(np.floor(z - z.min()) // 2, 0, 4)
    for obj, ext in (("rank:pairwise", "json"), ("rank:ndcg", "ubj")):
        dr = xgb.DMatrix(X, label=rel, feature_names=FEATURES)
        dr.set_group([100] * (N_TRAIN // 100))
        b = xgb.train({"objective": obj, "max_depth": 3, "seed": 1}, dr, 10)
        save_xgb("xgb_" + obj.replace(":", "_"), b, Xt, FEATURES, ext)

    ycls = np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))
    dm = xgb.DMatrix(X, label=ycls, feature_names=FEATURES)
    b = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3,
                   "seed": 1}, dm, 8)
    save_xgb("xgb_multi_softprob", b, Xt, FEATURES, "json")
    b = xgb.train({"objective": "multi:softmax", "num_class": 3, "max_depth": 3,
                   "seed": 1}, dm, 8)
    margin = b.predict(xgb.DMatrix(Xt, feature_names=FEATURES), output_margin=True)
    margin = margin.astype(np.float64)
    e = np.exp(margin - margin.max(axis=1, keepdims=True))
    save_xgb("xgb_multi_softmax", b, Xt, FEATURES, "ubj", pred=e / e.sum(axis=1, keepdims=True))

    # random forest: 3 parallel trees per round
    b = xgb.train({"objective": "binary:logistic", "max_depth": 3, "num_parallel_tree": 3,
                   "subsample": 0.8, "colsample_bynode": 0.8, "seed": 1}, d, 4)
    save_xgb("xgb_forest", b, Xt, FEATURES, "json")

    b = xgb.train({"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3,
                   "skip_drop": 0.0, "max_depth": 3, "seed": 1}, d, 12)
    save_xgb("xgb_dart", b, Xt, FEATURES, "json")
    save_xgb("xgb_dart_ubj", b, Xt, FEATURES, "ubj")

    Xv, zv = data(5, 300)
    dv = xgb.DMatrix(Xv, label=(zv > np.median(z)).astype(int), feature_names=FEATURES)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.8, "seed": 1},
                  d, 200, evals=[(dv, "valid")], early_stopping_rounds=3,
                  verbose_eval=False)
    assert b.num_boosted_rounds() > b.best_iteration + 1, "no early stop happened"
    save_xgb("xgb_early_stop", b, Xt, FEATURES, "json",
             iteration_range=(0, b.best_iteration + 1))

    # categorical: feature "mcc" (merchant category) as type 'c'
    rng = np.random.default_rng(6)
    cat = rng.integers(0, 12, N_TRAIN).astype(float)
    cat[rng.random(N_TRAIN) < 0.05] = np.nan
    Xc = np.column_stack([X[:, :3], cat])
    zc = z + np.where(np.isin(cat, [1, 4, 7, 9]), 2.0, 0.0)
    names = FEATURES[:3] + ["mcc"]
    ftypes = ["q", "q", "q", "c"]
    dc = xgb.DMatrix(Xc, label=(zc > np.median(zc)).astype(int), feature_names=names,
                     feature_types=ftypes, enable_categorical=True)
    tcat = np.array([0, 1, 2, 3, 4, 5, 7, 9, 11, np.nan, 13, 40] * 4, dtype=float)[:N_ROWS]
    Xtc = np.column_stack([Xt[:, :3], tcat])
    for name, onehot, ext in (("xgb_categorical", 1, "json"),
                              ("xgb_categorical_onehot", 64, "ubj")):
        b = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 1,
                       "max_cat_to_onehot": onehot}, dc, 10)
        save_xgb(name, b, Xtc, names, ext, ftypes=ftypes)


def main():
    os.makedirs(OUT, exist_ok=True)
    logistic_cases()
    xgb_cases()
    print("xgboost %s: wrote %s" % (xgb.__version__, OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
