#!/usr/bin/python3
"""biqa's metrics against SciPy/NumPy, computed independently.

usage: metrics_vs_scipy.py [BIQA [HELPERS]]   (or env BIQA, BIQA_HELPERS)

`biqa score --json` on generated predictions files, with and without ties,
positively and negatively correlated, n = 3 .. 10^6, against
scipy.stats.spearmanr / pearsonr / kendalltau (tau-b) to 1e-9 and a
scipy.optimize.curve_fit of the VQEG logistic from the same initial values
(then PLCC and RMSE of the mapped predictions) to 1e-6. Degenerate files
must be flagged. (Speed is not checked here: `biqa bench score` measures it
against SciPy side by side.)
The median bootstrap of results/aggregate.h (through the aggregate_cli
helper) against a NumPy mirror of it and of core/rng.h, to 1e-12.

Run it with Debian's /usr/bin/python3 (NumPy 1.24, SciPy 1.10). Prints one
line per check; exits 1 naming every case that failed.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from scipy import optimize, stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rng as biqa_rng  # noqa: E402  (tests/ref/rng.py: the mirror of core/rng.h)

METRIC_TOL = 1e-9
LOGISTIC_TOL = 1e-6
AGGREGATE_TOL = 1e-12

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


# ---- biqa score ------------------------------------------------------------

def logistic(x, b1, b2, b3, b4):
    """The VQEG 4-parameter logistic exactly as results/metrics.h defines it."""
    return (b1 - b2) / (1 + np.exp(-(x - b3) / np.abs(b4))) + b2


def write_csv(path, columns):
    """columns: list of (name, values); values written with repr (round-trip exact)."""
    names = [c[0] for c in columns]
    cols = [[v if isinstance(v, str) else repr(float(v)) for v in c[1]] for c in columns]
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        f.write("\n".join(",".join(row) for row in zip(*cols)))
        f.write("\n")


def run_score(biqa, path, extra=()):
    r = subprocess.run([biqa, "score", "--csv", path, "--json", *extra],
                       capture_output=True, text=True)
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError:
        out = None
    return r.returncode, out, r.stderr


def make_data(n, seed, sign, ties):
    """A logistic relation plus noise (the regime the VQEG mapping is for).
    Tiny sets are noise-free so that their four-parameter fit is well posed;
    ties come from rounding to a few levels."""
    rng = np.random.default_rng(seed)
    b = (80.0, 20.0, 0.5, 1.2) if sign > 0 else (15.0, 85.0, -0.4, 0.9)
    while True:
        pred = rng.uniform(-4, 4, n)
        noise = 0.0 if n <= 10 else 4.0
        if ties:
            pred = np.round(pred * 2) / 2  # 17 levels
        mos = logistic(pred, *b) + rng.normal(0, noise, n)
        if ties and n > 10:
            mos = np.round(mos / 5) * 5  # 21 levels
        if np.ptp(pred) > 0 and np.ptp(mos) > 0:
            return mos, pred


def scipy_reference(mos, pred, fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = {
            "srcc": stats.spearmanr(pred, mos).correlation,
            "plcc": stats.pearsonr(pred, mos)[0],
            "krcc": stats.kendalltau(pred, mos).correlation,  # tau-b is the default
        }
        if fit:
            p0 = [mos.max(), mos.min(), pred.mean(), pred.std()]
            b, _ = optimize.curve_fit(logistic, pred, mos, p0=p0, maxfev=20000)
            mapped = logistic(pred, *b)
            ref["plcc_logistic"] = stats.pearsonr(mapped, mos)[0]
            ref["rmse"] = float(np.sqrt(np.mean((mapped - mos) ** 2)))
    return ref


def compare_scores(case, status, out, ref, expect_flags):
    """One line for the metrics (every |biqa - scipy|), one for flags and
    exit status unless expect_flags is None."""
    if out is None:
        check(case, False, "no JSON from biqa score")
        return
    diffs, bad = [], []
    for key, want in ref.items():
        got = out.get(key)
        tol = LOGISTIC_TOL if key in ("plcc_logistic", "rmse") else METRIC_TOL
        diff = abs(got - want) if got is not None else float("inf")
        diffs.append(f"{key} {diff:.1e}")
        if not diff <= tol:
            bad.append(f"{key}: biqa {got!r} vs scipy {want!r}")
    check(case, not bad, f"n={out.get('n')} |diff| " + " ".join(diffs) +
          ("; " + "; ".join(bad) if bad else ""))
    if expect_flags is not None:
        check(f"{case} flags", out.get("flags") == expect_flags and
              status == (1 if expect_flags else 0), f"{out.get('flags')}, exit {status}")


def score_cases(biqa, tmp):
    sizes = [3, 4, 10, 100, 1000, 10**4, 10**5, 10**6]
    seed = 0
    for n in sizes:
        for sign in (1, -1):
            for ties in (False, True):
                seed += 1
                case = f"score n={n} {'neg' if sign < 0 else 'pos'}{' ties' if ties else ''}"
                mos, pred = make_data(n, seed, sign, ties)
                path = os.path.join(tmp, f"case{seed}.csv")
                write_csv(path, [("mos", mos), ("pred", pred)])
                status, out, err = run_score(biqa, path)
                # Four parameters need four points (curve_fit refuses fewer);
                # four points with tied predictions do not determine them.
                fit = n > 4 or (n == 4 and not ties)
                ref = scipy_reference(mos, pred, fit)
                compare_scores(case, status, out, ref,
                               [] if fit else ["fit_failed"] if n < 4 else None)
                if n == 3 and out is not None:
                    check(f"{case} unfitted", out.get("plcc_logistic") is None and
                          out.get("rmse") is None and out.get("logistic") == [None] * 4)


def renamed_columns_case(biqa, tmp):
    mos, pred = make_data(1000, 101, 1, False)
    path = os.path.join(tmp, "renamed.csv")
    write_csv(path, [("image", [f"img{i:04d}.png" for i in range(len(mos))]),
                     ("MOS", mos), ("score", pred)])
    status, out, err = run_score(biqa, path, ("--mos", "MOS", "--pred", "score"))
    compare_scores("score --mos MOS --pred score", status, out,
                   scipy_reference(mos, pred, True), [])
    check("score --mos MOS --pred score columns",
          out is not None and out.get("mos_column") == "MOS" and out.get("pred_column") == "score",
          f"{out and out.get('mos_column')}, {out and out.get('pred_column')}")


def degenerate_cases(biqa, tmp):
    path = os.path.join(tmp, "constant.csv")
    write_csv(path, [("mos", [1.0, 2.0, 3.0, 4.0, 5.0]), ("pred", [0.5] * 5)])
    status, out, err = run_score(biqa, path)
    check("degenerate constant pred",
          status == 1 and out is not None and "constant_pred" in out["flags"] and
          out["srcc"] is None and out["plcc"] is None and out["krcc"] is None,
          f"exit {status}, {out and out.get('flags')}, srcc {out and out.get('srcc')}")

    path = os.path.join(tmp, "nan.csv")
    with open(path, "w") as f:
        f.write("mos,pred\n1,0.1\n2,0.2\nnan,0.3\n4,0.4\n5,0.5\n")
    status, out, err = run_score(biqa, path)
    check("degenerate nan cell",
          status == 1 and out is not None and "nonfinite" in out["flags"] and
          out["n_nonfinite"] == 1 and out["n"] == 5 and out["srcc"] is None,
          f"exit {status}, {out and out.get('flags')}, n_nonfinite {out and out.get('n_nonfinite')}")


def unbounded_cases(biqa, tmp):
    """Near-linear data: the logistic family's least-squares optimum lies at
    infinite parameters, so neither fit has a unique end point; SciPy's
    curve_fit stops by its ftol test somewhere along the valley. biqa must
    not fail there, and its mapping must fit at least as well as SciPy's."""
    cases = [("5 rows", np.array([1, 2, 3, 4, 5.0]), np.array([1.5, 2.5, 2.9, 4.4, 4.8]))]
    rng = np.random.default_rng(7)
    for n in (50, 1000):
        mos = rng.uniform(1, 5, n)
        cases.append((f"{n} rows", mos, 0.8 * mos + rng.normal(0, 0.3, n)))
    for name, mos, pred in cases:
        path = os.path.join(tmp, "linear.csv")
        write_csv(path, [("mos", mos), ("pred", pred)])
        status, out, err = run_score(biqa, path)
        ref = scipy_reference(mos, pred, True)
        exact = {k: ref[k] for k in ("srcc", "plcc", "krcc")}
        compare_scores(f"near-linear {name}", status, out, exact, [])
        ok = out is not None and out["rmse"] is not None and \
            out["rmse"] <= ref["rmse"] * (1 + 1e-6) and out["plcc_logistic"] >= out["plcc"] - 1e-12
        check(f"near-linear {name} fit at least as good as scipy's", ok,
              f"rmse biqa {out and out['rmse']!r} scipy {ref['rmse']!r}; plcc_logistic biqa "
              f"{out and out['plcc_logistic']!r} scipy {ref['plcc_logistic']!r}")


# ---- aggregate: a NumPy mirror of results/aggregate.h (over tests/ref/rng.py) ----

def aggregate_reference(v, seed, resamples, level):
    v = np.asarray(v, dtype=np.float64)
    n = len(v)
    if n == 0 or not np.all(np.isfinite(v)):
        return dict(median=None, mean=None, std=None, ci_lo=None, ci_hi=None)
    idx = biqa_rng.below(seed, biqa_rng.stream_id("bootstrap"), np.arange(resamples * n, dtype=np.uint64), n)
    medians = np.median(v[idx.astype(np.int64)].reshape(resamples, n), axis=1)
    lo, hi = np.quantile(medians, [(1 - level) / 2, (1 + level) / 2])
    return dict(median=np.median(v), mean=np.mean(v), std=np.std(v, ddof=1) if n > 1 else None,
                ci_lo=lo, ci_hi=hi)


def aggregate_cases(helpers):
    tool = os.path.join(helpers, "aggregate_cli")
    rng = np.random.default_rng(7)
    cases = [
        ("10 splits", 0.85 + 0.1 * rng.random(10), 0, 10000, 0.95),
        # Larger sets: their interval moves with every draw, so it tests the
        # draws themselves (that of 10 values rests on a few distinct medians).
        ("50 values, even count", rng.normal(size=50), 12345, 3000, 0.95),
        ("odd with ties", [0.9, 0.8, 0.9, 0.7, 0.9], 3, 2000, 0.9),
        ("100 values, 64-bit seed", rng.normal(size=100), (1 << 63) + 5, 1000, 0.99),
        ("two values", [0.5, 0.75], 1, 500, 0.95),
        ("one value", [0.5], 1, 100, 0.95),
        ("a NaN", [0.5, float("nan"), 0.7], 1, 100, 0.95),
    ]
    for name, values, seed, resamples, level in cases:
        text = "\n".join(repr(float(x)) for x in values) + "\n"
        r = subprocess.run([tool, str(seed), str(resamples), repr(level)], input=text,
                           capture_output=True, text=True)
        case = f"aggregate {name}"
        if r.returncode != 0:
            check(case, False, f"exit {r.returncode}: {r.stderr.strip()}")
            continue
        got = json.loads(r.stdout)
        want = aggregate_reference(values, seed, resamples, level)
        bad = [k for k, w in want.items()
               if (w is None) != (got[k] is None) or (w is not None and not abs(got[k] - w) <= AGGREGATE_TOL)]
        diff = max((abs(got[k] - w) for k, w in want.items() if w is not None and got[k] is not None),
                   default=0.0)
        check(case, not bad, f"max |diff| {diff:.1e}" + (f"; differs: {bad} {got} vs {want}" if bad else ""))


def main():
    biqa = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BIQA")
    helpers = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("BIQA_HELPERS")
    if not biqa or not helpers:
        sys.exit("usage: metrics_vs_scipy.py BIQA HELPERS_DIR (or env BIQA, BIQA_HELPERS)")
    with tempfile.TemporaryDirectory(prefix="biqa-ref-") as tmp:
        score_cases(biqa, tmp)
        renamed_columns_case(biqa, tmp)
        degenerate_cases(biqa, tmp)
        unbounded_cases(biqa, tmp)
    aggregate_cases(helpers)
    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
