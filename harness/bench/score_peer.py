#!/usr/bin/python3
"""Peer of `biqa bench score`: the same predictions file scored the way a
Python IQA codebase does it (NumPy to read, SciPy for the metrics: spearmanr,
pearsonr, kendalltau, curve_fit of the VQEG logistic, then PLCC and RMSE),
timed best of --repeat. Prints one JSON object.

usage: score_peer.py CSV [--repeat R]
"""
import json
import sys
import time
import warnings

import numpy as np
import scipy
from scipy import optimize, stats


def logistic(x, b1, b2, b3, b4):
    return (b1 - b2) / (1 + np.exp(-(x - b3) / np.abs(b4))) + b2


def metrics(mos, pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srcc = stats.spearmanr(pred, mos).correlation
        plcc = stats.pearsonr(pred, mos)[0]
        krcc = stats.kendalltau(pred, mos).correlation
        p0 = [mos.max(), mos.min(), pred.mean(), pred.std()]
        b, _ = optimize.curve_fit(logistic, pred, mos, p0=p0, maxfev=10000)
        mapped = logistic(pred, *b)
        return srcc, plcc, krcc, stats.pearsonr(mapped, mos)[0], np.sqrt(np.mean((mapped - mos) ** 2))


def main():
    path = sys.argv[1]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    total, only = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        data = np.loadtxt(path, delimiter=",", skiprows=1)
        t1 = time.perf_counter()
        values = metrics(data[:, 0], data[:, 1])
        t2 = time.perf_counter()
        total.append(t2 - t0)
        only.append(t2 - t1)
    print(json.dumps({"peer": f"NumPy {np.__version__} loadtxt + SciPy {scipy.__version__}",
                      "total_s": min(total), "metrics_s": min(only),
                      "srcc": values[0], "plcc_logistic": values[3]}))


if __name__ == "__main__":
    main()
