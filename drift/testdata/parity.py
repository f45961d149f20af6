"""Goldens for drift's PSI and KS (drift/parity_test.go): numpy on the same bins.

    $(scripts/pyenv.sh)/bin/python drift/testdata/parity.py > drift/testdata/parity.json

PSI = sum((a - e) * ln(a / e)) with a (live share) and e (reference share)
floored at 1e-4 (drift.PSIFloor); KS = max |cumsum(a) - cumsum(e)| on the bins.
"""
import json

import numpy as np

FLOOR = 1e-4
rng = np.random.default_rng(10)
cases = []
for i in range(40):
    k = int(rng.integers(2, 15))
    ref = rng.dirichlet(np.ones(k) * (0.3 if i % 4 == 0 else 2.0))
    if i % 5 == 0:
        ref[int(rng.integers(k))] = 0.0
        ref = ref / ref.sum()
    counts = rng.poisson(rng.dirichlet(np.ones(k)) * float(rng.integers(10, 100000))).astype(float)
    if i % 7 == 0:
        counts[0] = 0.0
    if counts.sum() == 0:
        counts[0] = 1.0
    a = np.maximum(counts / counts.sum(), FLOOR)
    e = np.maximum(ref, FLOOR)
    psi = float(np.sum((a - e) * np.log(a / e)))
    ks = float(np.max(np.abs(np.cumsum(counts / counts.sum()) - np.cumsum(ref))))
    cases.append({"ref": [float(x) for x in ref], "counts": [float(x) for x in counts], "psi": psi, "ks": ks})
print(json.dumps({"floor": FLOOR, "numpy": np.__version__, "cases": cases}, indent=1))
