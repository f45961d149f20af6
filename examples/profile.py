"""Reference profile of a model's inputs and scores, for the manifest's
`profile:` section: what scorestream compares the live distributions with
(drift metrics, generated recording rules and alerts: `scorestream rules`).

Run it on the training or, better, the validation data the model was checked
on, with the model's scores for those rows:

    import numpy as np, sys
    sys.path.insert(0, "examples")
    from profile import profile, write_yaml

    p = profile(df, model.predict(X), bins=10, categorical=["channel_idx"],
                source="validation set 2026-01")
    write_yaml(p, sys.stdout)      # paste under the manifest's top level

`df` is anything that maps a column name to a 1-d array (a pandas DataFrame, a
dict of numpy arrays); NaN (or None) is a missing value. Only numpy is needed.

The rules, identical to scorestream's Go twin (drift.Build):

- numeric inputs and the score: inner bin edges at the k/bins quantiles
  (k = 1..bins-1, numpy.quantile's default linear method) of the non-missing
  values, repeated edges merged (numpy.unique); bin i is (edges[i-1], edges[i]],
  bin 0 from -inf, the last to +inf, so numpy.searchsorted(edges, x, "left")
  is the bin of x; proportions are the shares of the non-missing values;
- categorical inputs: the distinct values seen and their shares; a live value
  not among them counts as unseen;
- missing: the share of rows where the input is missing.
"""
import json
import math

import numpy as np


def _present(x):
    a = np.asarray(x, dtype=float)
    ok = ~np.isnan(a)
    return a[ok], float((~ok).sum()) / len(a) if len(a) else 0.0


def numeric(x, bins=10):
    """The quantile-binned distribution of one numeric column."""
    vals, missing = _present(x)
    if len(vals) == 0:
        return {"proportions": [1.0], "missing": missing}
    qs = [k / bins for k in range(1, bins)]
    edges = np.unique(np.quantile(vals, qs)) if qs else np.array([])
    counts = np.bincount(np.searchsorted(edges, vals, side="left"), minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges], "proportions": [float(c) / len(vals) for c in counts],
            "missing": missing}


def categorical(x):
    """The category shares of one categorical column (values as numbers, as
    scorestream's category transform feeds them to the model)."""
    vals, missing = _present(x)
    if len(vals) == 0:
        return {"proportions": [1.0], "missing": missing}
    values, counts = np.unique(vals, return_counts=True)
    return {"values": [float(v) for v in values], "proportions": [float(c) / len(vals) for c in counts],
            "missing": missing}


def profile(df, scores, bins=10, categorical=(), features=None, source=""):
    """The manifest's profile for the model inputs `features` (default: every
    column of df) and the model's `scores` of the same rows."""
    names = list(features if features is not None else df.keys())
    scores = np.asarray(scores, dtype=float)
    if np.isnan(scores).any():
        raise ValueError("scores: NaN is not a score")
    out = {"source": source, "count": int(len(scores)), "score": numeric(scores, bins), "features": []}
    out["score"].pop("missing")
    for name in names:
        col = df[name]
        if len(col) != len(scores):
            raise ValueError(f"{name}: {len(col)} rows for {len(scores)} scores")
        d = globals()["categorical"](col) if name in categorical else numeric(col, bins)
        out["features"].append({"name": name, **d})
    return out


def write_yaml(p, out):
    """Write p as the manifest's `profile:` section (YAML flow style; floats
    printed with repr, so they read back exactly)."""
    def flow(d):
        parts = []
        for k, v in d.items():
            if k == "missing" and v == 0:
                continue
            if isinstance(v, list):
                v = "[" + ", ".join(repr(float(x)) for x in v) + "]"
            elif isinstance(v, float):
                v = repr(v)
            elif isinstance(v, str):
                v = json.dumps(v)
            parts.append(f"{k}: {v}")
        return "{" + ", ".join(parts) + "}"

    out.write("profile:\n")
    out.write(f"  source: {json.dumps(p['source'])}\n")
    out.write(f"  count: {p['count']}\n")
    out.write(f"  score: {flow(p['score'])}\n")
    out.write("  features:\n")
    for f in p["features"]:
        out.write(f"    - {flow(f)}\n")


if __name__ == "__main__":
    assert math.isclose(sum(numeric([1, 2, 3, 4, float("nan")], 2)["proportions"]), 1)
