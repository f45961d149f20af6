#!/usr/bin/env python3
"""Measures xgboost's own per-row predict cost, to compare with BenchmarkScore.

    $(scripts/pyenv.sh)/bin/python model/testdata/bench_python.py [--save DIR]

Trains binary:logistic models of 100, 300 and 1000 trees of max_depth 6 on 20
standard-normal features (5% NaN) — the shape BenchmarkScore/xgboost builds — then
times, with nthread=1 so that it compares with one Go goroutine:
  single: Booster.inplace_predict on one row (a 1x20 array) per call, as a per-event
          scorer written in Python would call it;
  batch:  Booster.inplace_predict on 10000 rows in one call, divided by the rows.
With --save DIR the models are written to DIR/xgb_<trees>.ubj, and
SCORESTREAM_BENCH_MODELS=DIR go test ./model -run '^$' -bench Score times the same
models in Go. Keep it short on a shared machine: training takes ~20 s.
"""

import argparse
import os

import numpy as np
import xgboost as xgb

from pybench import per_row_ns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", help="directory to write xgb_<trees>.ubj models to")
    args = ap.parse_args()

    rng = np.random.default_rng(1)
    n, f = 10000, 20
    X = rng.normal(size=(n, f))
    logit = X[:, 0] * X[:, 1] + np.sin(3 * X[:, 2]) + X[:, 3:8].sum(axis=1) * 0.3
    y = (logit + rng.normal(size=n) > 0).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan
    d = xgb.DMatrix(X, label=y)
    rows = rng.normal(size=(10000, f))
    rows[rng.random(rows.shape) < 0.05] = np.nan
    print("xgboost %s, nthread=1, 20 features, max_depth=6" % xgb.__version__)
    print("%-6s %6s %14s %14s" % ("trees", "nodes", "single ns/row", "batch ns/row"))
    for trees in (100, 300, 1000):
        b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.05,
                       "min_child_weight": 0, "nthread": 1, "seed": 1}, d, trees)
        if args.save:
            os.makedirs(args.save, exist_ok=True)
            b.save_model(os.path.join(args.save, "xgb_%d.ubj" % trees))
        nodes = sum(int(t.count("\n")) for t in b.get_dump())
        b.set_param({"nthread": 1})
        single, batch = per_row_ns(b.inplace_predict, rows, 2000)
        print("%-6d %6d %14.0f %14.0f" % (trees, nodes, single, batch))


if __name__ == "__main__":
    main()
