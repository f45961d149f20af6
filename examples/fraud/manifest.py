"""Write examples/fraud/manifest.yaml from the hold-out rows and xgboost's own
predictions for them (holdout.csv, expected.txt, both written by train.py).

    python3 examples/fraud/manifest.py > examples/fraud/manifest.yaml

The reference score distribution is a histogram of expected.txt with the bucket
bounds of scorestream_model_score (0.05, 0.10, ..., 1.0); the golden rows are
hold-out rows with xgboost's predictions, which `scorestream model check` and the
hot reloader require a model to reproduce before it serves. The profile (the
drift reference: quantile bins of the score and of every feature, missing
rates, category shares) is examples/profile.py run on the hold-out rows and
their scores; run this with the project's venv (it needs numpy):

    $(scripts/pyenv.sh)/bin/python examples/fraud/manifest.py > examples/fraud/manifest.yaml
"""
import csv
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from profile import profile, write_yaml  # noqa: E402  examples/profile.py
GOLDEN = 5

with open(here / "holdout.csv") as f:
    rows = list(csv.reader(f))
header, rows = rows[0], rows[1:]
scores = [float(s) for s in (here / "expected.txt").read_text().split()]
assert len(scores) == len(rows), (len(scores), len(rows))

bounds = [i / 20 for i in range(1, 21)]
counts = [0] * len(bounds)
for s in scores:
    for i, b in enumerate(bounds):
        if s <= b:
            counts[i] += 1
            break
shares = [c / len(scores) for c in counts]

# Golden rows: the first rows with a missing value, the highest scores and the first rows.
missing = [i for i, r in enumerate(rows) if "" in r][:1]
top = sorted(range(len(rows)), key=lambda i: -scores[i])[:2]
pick = []
for i in missing + top + list(range(len(rows))):
    if i not in pick:
        pick.append(i)
    if len(pick) == GOLDEN:
        break

types = {"channel_idx": "categorical"}
out = sys.stdout
out.write("# The fraud example model's manifest: written by examples/fraud/manifest.py from\n")
out.write("# holdout.csv and expected.txt (xgboost's own predictions); do not edit by hand.\n")
out.write("name: fraud\nversion: \"1\"\nformat: xgboost\nmodel: model.json\n")
out.write("features:\n")
for h in header:
    out.write(f"  - {{name: {h}, type: {types.get(h, 'numeric')}}}\n")
out.write("thresholds:\n  - {decision: review, min_score: 0.5}\n  - {decision: block, min_score: 0.9}\n")
out.write("reference:\n")
out.write(f"  source: \"xgboost predictions on the {len(scores)} hold-out rows (expected.txt)\"\n")
out.write(f"  count: {len(scores)}\n")
out.write("  buckets: [" + ", ".join(repr(b) for b in bounds) + "]\n")
out.write("  shares: [" + ", ".join(repr(s) for s in shares) + "]\n")
cols = {h: [float(r[j]) if r[j] != "" else float("nan") for r in rows] for j, h in enumerate(header)}
write_yaml(profile(cols, scores, bins=10, categorical=[h for h in header if types.get(h) == "categorical"],
                   source=f"the {len(scores)} hold-out rows and xgboost's predictions for them"), out)
out.write("golden:\n")
for i in pick:
    feats = ", ".join(f"{h}: {v if v != '' else 'null'}" for h, v in zip(header, rows[i]))
    out.write(f"  - features: {{{feats}}}\n    score: {scores[i]!r}  # holdout.csv row {i + 1}\n")
