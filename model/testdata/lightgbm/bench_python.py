#!/usr/bin/env python3
"""Measures lightgbm's own per-row predict cost, to compare with BenchmarkLightGBM.

    $(scripts/pyenv.sh)/bin/python model/testdata/lightgbm/bench_python.py [--save DIR]

Trains binary models of 100, 300 and 1000 trees with num_leaves=63 on 20
standard-normal features (5% NaN), the shape BenchmarkLightGBM builds, then times
  single: Booster.predict on one row (a 1x20 array) per call, as a per-event scorer
          written in Python would call it;
  batch:  Booster.predict on 10000 rows in one call, divided by the row count
          (num_threads=1, so it compares with one Go goroutine).
With --save DIR the models are written to DIR/bench_<trees>.txt, so that
LIGHTGBM_BENCH_DIR=DIR go test ./model/ -run '^$' -bench LightGBM times the same
models in Go. Training 1000 trees takes ~1 min of CPU.
"""

import argparse
import os
import sys

import lightgbm as lgb
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pybench import per_row_ns  # noqa: E402  (model/testdata/pybench.py)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", help="directory to write bench_<trees>.txt models to")
    args = ap.parse_args()

    rng = np.random.default_rng(1)
    n, f = 8000, 20
    x = rng.normal(size=(n, f))
    x[rng.random(x.shape) < 0.05] = np.nan
    logit = np.nan_to_num(x[:, 0] * x[:, 1] + np.sin(3 * x[:, 2]) + x[:, 3] ** 2 - 1)
    y = (logit + rng.logistic(size=n) > 0).astype(float)
    params = dict(objective="binary", num_leaves=63, learning_rate=0.05, min_data_in_leaf=5,
                  verbose=-1, num_threads=2, seed=1, max_bin=255)
    full = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=1000)

    rows = rng.normal(size=(10000, f))
    rows[rng.random(rows.shape) < 0.05] = np.nan
    print(f"lightgbm {lgb.__version__}, numpy {np.__version__}")
    print(f"{'trees':>6} {'leaves/tree':>11} {'single ns/row':>14} {'batch ns/row':>13}")
    for trees in (100, 300, 1000):
        text = full.model_to_string(num_iteration=trees)
        if args.save:
            os.makedirs(args.save, exist_ok=True)
            with open(os.path.join(args.save, f"bench_{trees}.txt"), "w") as fh:
                fh.write(text)
        b = lgb.Booster(model_str=text)
        assert b.num_trees() == trees
        leaves = np.mean([t["num_leaves"] for t in b.dump_model()["tree_info"]])
        calls = 2000 if trees < 1000 else 500
        single, batch = per_row_ns(lambda r: b.predict(r, num_threads=1), rows, calls)
        print(f"{trees:>6} {leaves:>11.1f} {single:>14.0f} {batch:>13.0f}")


if __name__ == "__main__":
    main()
