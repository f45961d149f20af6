"""Train the fraud example's model: the notebook-to-production path in one file.

    go run ./examples/fraud/trainset --events 200000 --seed 42 > /tmp/train.csv
    $(scripts/pyenv.sh)/bin/python examples/fraud/train.py /tmp/train.csv

Trains an XGBoost binary:logistic model on the feature vectors the pipeline itself
computes (same feature spec, same state code), reports hold-out AUC, and writes

  examples/fraud/model.json      the model (xgboost save_model JSON)
  demo/model.json                the same file, embedded in `scorestream demo`
  examples/fraud/holdout.csv     200 hold-out rows (features only, empty = missing)
  examples/fraud/expected.txt    xgboost's own predictions for them

so that `scorestream model predict --model examples/fraud/model.json --features
examples/fraud/holdout.csv` can be checked against expected.txt before serving.

    $(scripts/pyenv.sh)/bin/python examples/fraud/train.py /tmp/train.csv --no-velocity

trains the same way on the event's own fields only (no state features: no counts,
sums, means, distinct merchants or time since the last payment) and writes
examples/fraud/model-novelocity.json and demo/model-novelocity.json: the second
model of the demo's replay report, to compare the demo model with.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

here = Path(__file__).resolve().parent
root = here.parent.parent


# The event's own fields; every other feature of demo/config.yaml reads state.
STATELESS = ["amount", "log_amount", "hour", "channel_idx", "device_age_days"]


def main(path: str, no_velocity: bool = False) -> None:
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values="", filling_values=np.nan)
    names = header[:-1]
    X, y = data[:, :-1], data[:, -1]
    if no_velocity:
        keep = [names.index(n) for n in STATELESS]
        X, names = X[:, keep], STATELESS
    n = len(y)
    split = int(n * 0.8)  # time order: train on the past, test on the future
    dtrain = xgb.DMatrix(X[:split], label=y[:split], feature_names=names, missing=np.nan)
    dtest = xgb.DMatrix(X[split:], label=y[split:], feature_names=names, missing=np.nan)
    params = {
        "objective": "binary:logistic",
        "max_depth": 5,
        "eta": 0.1,
        "subsample": 0.9,
        "eval_metric": "auc",
        "seed": 1,
        "tree_method": "hist",
        "nthread": 2,
    }
    bst = xgb.train(params, dtrain, num_boost_round=120, evals=[(dtest, "holdout")], verbose_eval=False)
    p = bst.predict(dtest)
    auc = roc_auc_score(y[split:], p)
    print(f"rows {n}, fraud share {y.mean():.4f}, hold-out AUC {auc:.4f}")
    if no_velocity:
        model = here / "model-novelocity.json"
        bst.save_model(str(model))
        shutil.copy(model, root / "demo" / "model-novelocity.json")
        print(f"wrote {model}, demo/model-novelocity.json")
        return
    model = here / "model.json"
    bst.save_model(str(model))
    shutil.copy(model, root / "demo" / "model.json")
    rows = X[split:split + 200]
    with open(here / "holdout.csv", "w") as f:
        f.write(",".join(names) + "\n")
        for r in rows:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in r) + "\n")
    pred = bst.predict(xgb.DMatrix(rows, feature_names=names, missing=np.nan))
    with open(here / "expected.txt", "w") as f:
        for v in pred:
            f.write("%.17g\n" % v)
    print(f"wrote {model}, demo/model.json, holdout.csv, expected.txt")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--no-velocity"]
    main(args[0] if args else "/tmp/train.csv", "--no-velocity" in sys.argv[1:])
