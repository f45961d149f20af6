"""Generates eval/testdata/parity.json: datasets and what scikit-learn computes on them.

Run with the project's venv (scripts/test.sh does, in its "parity against the
live Python libraries" step, and then runs the Go test against the result):

    $(scripts/pyenv.sh)/bin/python eval/testdata/gen_parity.py

Each dataset lists rows (label -1/0/1, one score per model or null for a model
that failed, segment, event time) and the options the Go report is built with;
"want" holds sklearn's values for every model overall and per segment, on the
labelled rows that model scored, and for each challenger ΔAUC (from sklearn's
roc_auc_score) with DeLong's 95% interval (a numpy implementation of the
paper, independent of the Go one) (unlabeled rows become negatives when
options.unlabeled is "negative"). The Go test (eval/parity_test.go) feeds the
rows to eval.Accumulator and compares its report.json numbers to 1e-9.
"""

import json
import math
import os
import statistics

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import (average_precision_score, brier_score_loss,
                             log_loss, roc_auc_score)

N_BINS = 10
T0 = 1793491200000  # 2026-11-01T00:00:00Z in Unix ms


def metrics(y, p):
    """sklearn's values on labelled, scored rows; None where undefined."""
    out = {"n": int(len(y)), "positives": int(y.sum())}
    if len(y) == 0:
        return out
    out["base_rate"] = float(y.mean())
    both = len(np.unique(y)) == 2
    out["roc_auc"] = float(roc_auc_score(y, p)) if both else None
    out["pr_auc"] = float(average_precision_score(y, p)) if y.sum() > 0 else None
    out["log_loss"] = float(log_loss(y, p, labels=[0, 1]))
    out["brier"] = float(brier_score_loss(y, p, pos_label=1))
    prob_true, prob_pred = calibration_curve(y, p, n_bins=N_BINS, strategy="uniform", pos_label=1)
    bins = np.linspace(0.0, 1.0, N_BINS + 1)
    counts = np.bincount(np.searchsorted(bins[1:-1], p), minlength=N_BINS)
    nz = counts[counts != 0]
    out["calibration_true"] = [float(v) for v in prob_true]
    out["calibration_pred"] = [float(v) for v in prob_pred]
    out["calibration_count"] = [int(v) for v in nz]
    out["ece"] = float(np.sum(nz / len(y) * np.abs(prob_true - prob_pred)))
    return out


def delong(a, b, y):
    """DeLong's variance of auc(b) - auc(a), from the 1988 paper's pairwise
    definition, O(m*n) (the Go code uses midranks, O(n log n))."""
    pos, neg = y == 1, y == 0
    m, n = pos.sum(), neg.sum()
    v10, v01 = [], []
    for s in (a, b):
        x, z = s[pos], s[neg]
        # psi(x_i, z_j): 1 if x_i > z_j, 1/2 if tied, 0 otherwise
        v10.append(np.array([(np.sum(z < xi) + 0.5 * np.sum(z == xi)) / n for xi in x]))
        v01.append(np.array([(np.sum(x > zj) + 0.5 * np.sum(x == zj)) / m for zj in z]))
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return float(max(var, 0.0))


def compare(y_all, scores):
    """Champion (model 0) against each challenger on the labelled rows both scored."""
    out = []
    z = statistics.NormalDist().inv_cdf(0.975)
    for m in range(1, len(scores)):
        keep = (y_all != -1) & ~np.isnan(scores[0]) & ~np.isnan(scores[m])
        y, a, b = y_all[keep], scores[0][keep], scores[m][keep]
        if len(np.unique(y)) < 2:
            out.append({"paired": int(keep.sum()), "delta_auc": None})
            continue
        d = float(roc_auc_score(y, b) - roc_auc_score(y, a))
        sd = math.sqrt(delong(a, b, y))
        out.append({"paired": int(keep.sum()), "delta_auc": d,
                    "delong_ci_low": d - z * sd, "delong_ci_high": d + z * sd})
    return out


def expected(rows, models, unlabeled):
    y_all = np.array([r["label"] for r in rows])
    if unlabeled == "negative":
        y_all = np.where(y_all == -1, 0, y_all)
    segs = np.array([r["segment"] for r in rows])
    want = {"models": [], "segments": {}}
    scores = [np.array([np.nan if r["scores"][m] is None else r["scores"][m] for r in rows]) for m in range(models)]
    want["compare"] = compare(y_all, scores)
    for m in range(models):
        s = scores[m]
        keep = (y_all != -1) & ~np.isnan(s)
        want["models"].append(metrics(y_all[keep], s[keep]))
        for seg in sorted(set(segs)):
            k = keep & (segs == seg)
            want["segments"].setdefault(seg, []).append(metrics(y_all[k], s[k]))
    return want


def rows_of(labels, scores, segments, times):
    rows = []
    for i in range(len(labels)):
        rows.append({
            "label": int(labels[i]),
            "scores": [None if math.isnan(s[i]) else float(s[i]) for s in scores],
            "segment": str(segments[i]),
            "time": int(times[i]),
        })
    return rows


def dataset(name, labels, scores, segments, times, unlabeled="exclude"):
    rows = rows_of(labels, scores, segments, times)
    return {"name": name, "options": {"unlabeled": unlabeled}, "rows": rows,
            "want": expected(rows, len(scores), unlabeled)}


def main():
    rng = np.random.default_rng(7)
    out = []

    # Ties: scores rounded to two decimals; segment C has negatives only,
    # segment D positives only.
    n = 600
    y = (rng.random(n) < 0.2).astype(int)
    seg = rng.choice(["A", "B"], n)
    seg[:40], y[:40] = "C", 0
    seg[40:60], y[40:60] = "D", 1
    champ = np.round(np.clip(0.3 * y + rng.beta(2, 5, n), 0, 1), 2)
    chall = np.round(np.clip(0.45 * y + rng.beta(2, 5, n), 0, 1), 2)
    times = T0 + np.sort(rng.integers(0, 36 * 3600_000, n))
    out.append(dataset("ties", y, [champ, chall], seg, times))

    # Imbalanced (1% positives), continuous scores, exact 0 and 1 (log loss
    # clipping), scores on the calibration bin edges (np.linspace values), and
    # a challenger that fails on some events (NaN).
    n = 4000
    y = (rng.random(n) < 0.01).astype(int)
    champ = np.clip(rng.beta(1, 12, n) + 0.25 * y * rng.random(n), 0, 1)
    chall = np.clip(rng.beta(1, 12, n) + 0.35 * y * rng.random(n), 0, 1)
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    champ[:11] = edges
    chall[11:22] = edges
    champ[22], champ[23], chall[24], chall[25] = 0.0, 1.0, 0.0, 1.0
    y[22], y[23], y[24], y[25] = 1, 0, 1, 0  # confidently wrong: clipped
    chall[rng.random(n) < 0.03] = np.nan
    seg = rng.choice(["web", "pos", "moto"], n, p=[0.6, 0.3, 0.1])
    times = T0 + np.sort(rng.integers(0, 9 * 86400_000, n))
    out.append(dataset("imbalanced", y, [champ, chall], seg, times))

    # Unlabeled events counted as negatives, three models, heavy ties (five
    # distinct scores for the third).
    n = 1000
    y = (rng.random(n) < 0.08).astype(int)
    y[rng.random(n) < 0.5] = -1
    m1 = rng.random(n) * 0.7 + 0.3 * (y == 1)
    m2 = np.clip(m1 + rng.normal(0, 0.1, n), 0, 1)
    m3 = np.floor(m1 * 5) / 5
    seg = np.array([""] * n)
    times = T0 + np.sort(rng.integers(0, 30 * 86400_000, n))
    out.append(dataset("unlabeled-negative", y, [m1, m2, m3], seg, times, unlabeled="negative"))

    # Same, unlabeled excluded.
    out.append(dataset("unlabeled-exclude", y, [m1, m2, m3], seg, times))

    # One class only: AUC and PR AUC undefined, the rest defined.
    n = 200
    y = np.zeros(n, dtype=int)
    s = rng.random(n)
    times = T0 + np.arange(n) * 60_000
    out.append(dataset("one-class", y, [s, s[::-1].copy()], np.array(["x"] * n), times))

    here = os.path.dirname(os.path.abspath(__file__))
    doc = {"generator": "eval/testdata/gen_parity.py", "sklearn": sklearn.__version__,
           "numpy": np.__version__, "datasets": out}
    with open(os.path.join(here, "parity.json"), "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
