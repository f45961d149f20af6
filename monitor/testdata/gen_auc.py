"""Writes auc_golden.json: score-bin counts per class and what scikit-learn
computes from them, the reference of monitor's TestAUCParity (to 1e-9).

Each case is a pair of count vectors pos[i], neg[i] over equal-width score bins.
scikit-learn sees one sample per (bin, class) with the bin index as its score and
the count as its sample weight, which is what the bins say and nothing more.

    $(scripts/pyenv.sh)/bin/python monitor/testdata/gen_auc.py
"""
import json
import os

import numpy as np
from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score


def case(name, pos, neg):
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    bins = len(pos)
    score = np.concatenate([np.arange(bins), np.arange(bins)])
    y = np.concatenate([np.ones(bins), np.zeros(bins)])
    w = np.concatenate([pos, neg])
    keep = w > 0
    score, y, w = score[keep], y[keep], w[keep]
    prec, rec = [], []
    for k in range(bins):
        flagged = (score >= k).astype(int)
        if w[flagged == 1].sum() == 0:
            prec.append(None)  # nothing flagged: NaN in Go
        else:
            prec.append(float(precision_score(y, flagged, sample_weight=w, zero_division=np.nan)))
        rec.append(float(recall_score(y, flagged, sample_weight=w)))
    return {
        "name": name,
        "pos": pos.tolist(),
        "neg": neg.tolist(),
        "roc_auc": float(roc_auc_score(y, score, sample_weight=w)),
        "pr_auc": float(average_precision_score(y, score, sample_weight=w)),
        "precision": prec,
        "recall": rec,
    }


def main():
    rng = np.random.default_rng(20261203)
    cases = [
        case("tiny", [0, 1, 0, 1], [2, 1, 1, 0]),
        case("separable", [0, 0, 0, 5], [7, 3, 0, 0]),
        case("inverted", [4, 0, 0, 0], [0, 0, 1, 9]),
        case("one_bin_tied", [0, 3, 0], [0, 5, 0]),
    ]
    for i in range(12):
        bins = int(rng.choice([5, 10, 20, 50]))
        # a fraud model's shape: negatives pile up at low scores, positives spread high
        edges = (np.arange(bins) + 0.5) / bins
        neg = rng.poisson(20000 * np.exp(-8 * edges) / bins * 5)
        pos = rng.poisson(300 * edges**2 * 5 / bins * 10)
        if i % 4 == 3:
            pos = rng.integers(0, 3, bins)  # sparse positives, zero bins
        if pos.sum() == 0:
            pos[-1] = 1
        cases.append(case("random_%d_bins%d" % (i, bins), pos, neg))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "auc_golden.json")
    with open(out, "w") as f:
        # one case a line: readable diffs when the pinned scikit-learn changes
        f.write('{"generator": "monitor/testdata/gen_auc.py", "cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")
    print("wrote %d cases to %s" % (len(cases), out))


if __name__ == "__main__":
    main()
