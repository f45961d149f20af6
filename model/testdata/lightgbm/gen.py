#!/usr/bin/env python3
"""Generates the LightGBM parity goldens for model/lightgbm_test.go.

Run from the repository root:

    $(scripts/pyenv.sh)/bin/python model/testdata/lightgbm/gen.py

For every case it trains a small model with the real lightgbm library on seeded numpy
data, saves it with Booster.save_model (<name>.txt), writes the rows to score
(<name>.rows.csv: header = feature names, empty cell = missing, values printed with
repr so they round-trip exactly) and the library's own predictions for them, made by a
Booster loaded back from the saved file (<name>.expected.txt: %.17g, one row per line;
multiclass rows hold the class probabilities separated by commas).

The rows mix held-out data with edge cases the evaluator must get right: every
feature missing, exact zeros, values within +-kZeroThreshold (1e-35f) of zero, values
equal to a split threshold of the model, negative, fractional, huge and out-of-range
categories, and infinities.

The v3 case: LightGBM 4.x always writes version=v4. The only difference between v3
and v4 is the optional trailing "parser:" section (LightGBM commit b0137debe, "Add
customized parser support"), so binary_v3.txt is binary_nan.txt with its header line
edited to version=v3; the library loads it and its predictions are recomputed from it.
"""

import os
import re
import sys

import lightgbm as lgb
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["amount", "age", "balance", "merchant_cat", "visits", "noise"]
CAT = 3  # index of the categorical feature
K_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float literal)


def make_x(rng, n, nan_rate=0.1, zero_rate=0.0):
    x = np.empty((n, len(FEATURES)))
    x[:, 0] = rng.lognormal(3.0, 1.0, n)
    x[:, 1] = rng.integers(18, 90, n).astype(float)
    x[:, 2] = rng.normal(0.0, 100.0, n)
    x[:, 3] = rng.integers(0, 12, n).astype(float)
    x[:, 4] = rng.poisson(3.0, n).astype(float)
    x[:, 5] = rng.uniform(-1.0, 1.0, n)
    if nan_rate:
        for j in (0, 2, 3, 4):
            x[rng.random(n) < nan_rate, j] = np.nan
    if zero_rate:
        for j in (0, 2, 4, 5):
            x[rng.random(n) < zero_rate, j] = 0.0
    return x


def signal(x):
    a = np.nan_to_num(np.log1p(np.nan_to_num(x[:, 0], nan=20.0)), nan=0.0)
    cat = np.nan_to_num(x[:, 3], nan=-1.0)
    s = (
        0.8 * (a - 3.0)
        - 0.03 * (x[:, 1] - 50.0)
        + 0.01 * np.nan_to_num(x[:, 2], nan=-50.0)
        + np.where(np.isin(cat, [1, 4, 7]), 1.2, -0.4)
        + 0.3 * np.nan_to_num(x[:, 4], nan=6.0)
        - 0.9 * (x[:, 0] == 0)
    )
    return s


def thresholds(booster):
    """Numerical split thresholds per feature, read from the library's own dump."""
    out = {}

    def walk(node):
        if "split_index" not in node:
            return
        if node["decision_type"] == "<=":
            out.setdefault(node["split_feature"], set()).add(float(node["threshold"]))
        walk(node["left_child"])
        walk(node["right_child"])

    for t in booster.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    return out


def edge_rows(rng, booster, base):
    rows = []
    n = len(FEATURES)
    rows.append([np.nan] * n)
    rows.append([0.0] * n)
    rows.append([-0.0] * n)
    for v in (K_ZERO, -K_ZERO, 1e-36, -1e-36, np.nextafter(K_ZERO, 1.0), -np.nextafter(K_ZERO, 1.0)):
        rows.append([v] * n)
    rows.append([np.inf] * n)
    rows.append([-np.inf] * n)
    rows.append([1e300] * n)
    rows.append([-1e300] * n)
    # Categorical oddities on top of ordinary rows.
    for c in (-1.0, -0.5, 0.0, 0.99, 1.0, 1.5, 4.0, 7.9, 11.0, 31.0, 32.0, 33.0, 100.0,
              2147483647.0, 2147483648.0, 1e10, np.nan, np.inf, -np.inf):
        r = list(base[rng.integers(len(base))])
        r[CAT] = c
        rows.append(r)
    # Values exactly on, just below and just above numerical thresholds.
    th = thresholds(booster)
    for j, ts in sorted(th.items()):
        ts = sorted(ts)
        pick = [ts[i] for i in rng.choice(len(ts), size=min(6, len(ts)), replace=False)]
        for t in pick:
            for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
                r = list(base[rng.integers(len(base))])
                r[j] = v
                rows.append(r)
    return np.array(rows, dtype=np.float64)


def fmt(v):
    if np.isnan(v):
        return ""
    return repr(float(v))


def write_case(name, booster, rows, multi=False):
    model_path = os.path.join(HERE, name + ".txt")
    booster.save_model(model_path)
    write_expected(name, rows, multi)


def write_expected(name, rows, multi=False):
    model_path = os.path.join(HERE, name + ".txt")
    loaded = lgb.Booster(model_file=model_path)
    pred = loaded.predict(rows)
    with open(os.path.join(HERE, name + ".rows.csv"), "w") as f:
        f.write(",".join(FEATURES) + "\n")
        for r in rows:
            f.write(",".join(fmt(v) for v in r) + "\n")
    with open(os.path.join(HERE, name + ".expected.txt"), "w") as f:
        for p in pred:
            if multi:
                f.write(",".join("%.17g" % v for v in p) + "\n")
            else:
                f.write("%.17g\n" % p)
    for suffix in (".txt", ".rows.csv", ".expected.txt"):
        size = os.path.getsize(os.path.join(HERE, name + suffix))
        assert size < 300_000, (name + suffix, size)
    print(f"{name}: {loaded.num_trees()} trees, {len(rows)} rows", file=sys.stderr)


BASE_PARAMS = dict(
    verbose=-1,
    num_leaves=15,
    learning_rate=0.1,
    min_data_in_leaf=5,
    num_threads=1,
    deterministic=True,
    seed=7,
    min_data_per_group=5,
    cat_smooth=1.0,
    max_cat_to_onehot=4,
)


def train(params, x, y, rounds, group=None, categorical=True):
    ds = lgb.Dataset(
        x, label=y, group=group, feature_name=FEATURES,
        categorical_feature=[CAT] if categorical else "auto", free_raw_data=False,
    )
    p = dict(BASE_PARAMS)
    p.update(params)
    return lgb.train(p, ds, num_boost_round=rounds)


def main():
    rng = np.random.default_rng(20240601)

    # binary: NaN missing values, a categorical feature, default sigmoid.
    x = make_x(rng, 2000)
    y = (signal(x) + rng.logistic(0, 1, len(x)) > 0).astype(float)
    b = train({"objective": "binary"}, x, y, 40)
    xt = make_x(rng, 150)
    rows = np.vstack([xt, edge_rows(rng, b, xt)])
    write_case("binary_nan", b, rows)

    # The same model with the header edited to version=v3 (see module docstring).
    with open(os.path.join(HERE, "binary_nan.txt")) as f:
        text = f.read()
    assert text.startswith("tree\nversion=v4\n"), text[:40]
    with open(os.path.join(HERE, "binary_v3.txt"), "w") as f:
        f.write(text.replace("version=v4\n", "version=v3\n", 1))
    write_expected("binary_v3", rows)

    # binary with a non-default sigmoid parameter and one-hot style categorical splits.
    b = train({"objective": "binary", "sigmoid": 0.7, "max_cat_to_onehot": 16}, x, y, 25)
    write_case("binary_sigmoid", b, np.vstack([xt, edge_rows(rng, b, xt)]))

    # regression with zero_as_missing: zeros (and NaN) are the missing value.
    x = make_x(rng, 2000, nan_rate=0.05, zero_rate=0.2)
    y = 3.0 * signal(x) + rng.normal(0, 0.5, len(x))
    b = train({"objective": "regression", "zero_as_missing": True}, x, y, 40)
    xt = make_x(rng, 150, nan_rate=0.05, zero_rate=0.2)
    write_case("regression_zero", b, np.vstack([xt, edge_rows(rng, b, xt)]))

    # regression without missing-value handling (use_missing=false: missing type None).
    b = train({"objective": "regression_l1", "use_missing": False}, x, y, 20, categorical=False)
    write_case("regression_nomissing", b, np.vstack([xt, edge_rows(rng, b, xt)]))

    # A split between the negatives and zero of a feature gets the threshold
    # -kZeroThreshold; at x = -kZeroThreshold the library reads 0 and goes right.
    xz = make_x(rng, 2000, nan_rate=0.0)
    xz[rng.random(len(xz)) < 0.3, 5] = 0.0
    yz = 5.0 * (xz[:, 5] >= 0) + 0.1 * rng.normal(size=len(xz))
    b = train({"objective": "regression", "use_missing": False}, xz, yz, 5, categorical=False)
    assert "-1.0000000180025095e-35" in b.model_to_string(), "no -kZeroThreshold split"
    xzt = make_x(rng, 100, nan_rate=0.0)
    xzt[rng.random(len(xzt)) < 0.3, 5] = 0.0
    write_case("zero_band", b, np.vstack([xzt, edge_rows(rng, b, xzt)]))

    # poisson: exp of the raw score.
    yp = rng.poisson(np.exp(np.clip(0.3 * signal(x), -3, 3))).astype(float)
    b = train({"objective": "poisson"}, x, yp, 25)
    write_case("poisson", b, np.vstack([xt, edge_rows(rng, b, xt)]))

    # lambdarank with query groups: raw scores.
    x = make_x(rng, 2000)
    rel = np.clip(np.round(signal(x) + rng.normal(0, 0.7, len(x)) + 1.5), 0, 4)
    group = [20] * 100
    b = train({"objective": "lambdarank"}, x, rel, 30, group=group)
    xt = make_x(rng, 150)
    write_case("lambdarank", b, np.vstack([xt, edge_rows(rng, b, xt)]))

    # multiclass softmax, 3 classes.
    x = make_x(rng, 2400)
    s = signal(x) + rng.normal(0, 0.6, len(x))
    y = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3])).astype(float)
    b = train({"objective": "multiclass", "num_class": 3}, x, y, 20)
    xt = make_x(rng, 150)
    write_case("multiclass", b, np.vstack([xt, edge_rows(rng, b, xt)]), multi=True)

    # multiclass one-vs-all, 3 classes.
    b = train({"objective": "multiclassova", "num_class": 3}, x, y, 15)
    write_case("multiclassova", b, np.vstack([xt, edge_rows(rng, b, xt)]), multi=True)


if __name__ == "__main__":
    main()
