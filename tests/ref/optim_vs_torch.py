#!/usr/bin/python3
"""biqa's optimisers and learning-rate schedules (methods/optim.h) against
torch.optim and torch.optim.lr_scheduler.

usage: optim_vs_torch.py [BIQA [HELPERS]]   (or env BIQA, BIQA_HELPERS)

For each case (SGD plain, with momentum, with Nesterov momentum; AdamW with
two sets of betas/eps; weight decay with a no-decay param group; constant,
cosine and step schedules, with and without linear warm-up) it writes the
initial parameters and 20 steps of random gradients to a safetensors file,
runs the optim_run helper on the `ref` and `cpu` (2 threads) backends, and
compares:
- the learning rate of every step with the one torch's schedulers give
  (LinearLR for the warm-up, then CosineAnnealingLR / StepLR / constant on a
  fresh optimiser; after CosineAnnealingLR's T_max biqa holds eta_min, where
  torch's cosine would rise again), relative error <= 1e-12;
- the parameter trajectory with torch.optim.SGD / AdamW (foreach=False)
  driven by torch's learning rates, relative error <= 1e-5 per step and
  parameter: max |biqa - torch| / max |torch|.
The hyper-parameters and learning rates torch gets are the float32 values
biqa's config holds, so only the arithmetic differs. Two checks keep the
comparison from passing vacuously: every trajectory moves from its start by
far more than the tolerance, and with weight decay, decaying the no-decay
group too changes torch's trajectory by more than 10x the tolerance.

Run it with Debian's /usr/bin/python3 (torch 1.13). Prints one line per
check; exits 1 naming every check that failed.
"""
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

TOL = 1e-5
LR_TOL = 1e-12
STEPS = 20
BACKENDS = ("ref", "cpu")

# A miniature network's parameters: conv, batch norm, linear; sizes from 4
# to 1152 elements, odd ones among them, so vectorised loops and their tails
# both run.
SHAPES = {"conv.weight": (16, 8, 3, 3), "bn.weight": (16,), "bn.bias": (16,),
          "fc.weight": (7, 143), "fc.bias": (7,), "head.weight": (4, 3, 1, 1)}
NO_DECAY = ("bn.weight", "bn.bias", "fc.bias")

DEFAULTS = dict(momentum=0.0, nesterov=0, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8,
                total_steps=STEPS, warmup_steps=0, min_lr=0.0, step_size=1, gamma=1.0)
CASES = [
    dict(name="sgd_plain_constant_warmup3", optim="sgd", schedule="constant", base_lr=0.1,
         warmup_steps=3),
    dict(name="sgd_momentum_wd_cosine_warmup4", optim="sgd", momentum=0.9, weight_decay=1e-2,
         schedule="cosine", base_lr=0.1, warmup_steps=4, total_steps=16, min_lr=1e-3),
    dict(name="sgd_nesterov_wd_step_warmup2", optim="sgd", momentum=0.9, nesterov=1,
         weight_decay=5e-3, schedule="step", base_lr=0.05, warmup_steps=2, step_size=5,
         gamma=0.5),
    dict(name="sgd_momentum_cosine_nowarmup", optim="sgd", momentum=0.5, weight_decay=1e-3,
         schedule="cosine", base_lr=0.2, total_steps=20, min_lr=0.0),
    dict(name="adamw_wd_cosine_warmup5", optim="adamw", weight_decay=0.05, schedule="cosine",
         base_lr=1e-2, warmup_steps=5, total_steps=20, min_lr=1e-4),
    dict(name="adamw_betas_step_nowarmup", optim="adamw", beta1=0.8, beta2=0.95, eps=1e-6,
         weight_decay=0.1, schedule="step", base_lr=3e-2, step_size=4, gamma=0.3),
    dict(name="adamw_constant_warmup2", optim="adamw", beta1=0.5, beta2=0.9, eps=1e-3,
         schedule="constant", base_lr=2e-2, warmup_steps=2),
]

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


def f32(x):
    """x as biqa holds it (a float in biqa_optim_config, the float lr passed to a step)."""
    return float(np.float32(x))


def make_data(seed):
    rng = np.random.default_rng(seed)
    init = {n: (rng.standard_normal(s) * 0.5 + (1.0 if n == "bn.weight" else 0.0))
            .astype(np.float32) for n, s in SHAPES.items()}
    # Gradients of varied scale per parameter, as in a real network.
    scale = {n: 10.0 ** rng.uniform(-1, 0.5) for n in SHAPES}
    grads = {n: (rng.standard_normal((STEPS,) + s) * scale[n]).astype(np.float32)
             for n, s in SHAPES.items()}
    return init, grads


def torch_lrs(c):
    """The learning rate of each step from torch's own schedulers."""
    dummy = torch.nn.Parameter(torch.zeros(1))
    sched = torch.optim.lr_scheduler
    w, lrs = c["warmup_steps"], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if w > 0:
            opt = torch.optim.SGD([dummy], lr=c["base_lr"])
            # LinearLR from base/W, reaching base at step W-1: lr(s) = base (s+1)/W.
            s = sched.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0,
                               total_iters=max(w - 1, 1))
            for _ in range(min(w, STEPS)):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                s.step()
        opt = torch.optim.SGD([dummy], lr=c["base_lr"])
        span = c["total_steps"] - w
        s = None
        if c["schedule"] == "cosine":
            s = sched.CosineAnnealingLR(opt, T_max=span, eta_min=c["min_lr"])
        elif c["schedule"] == "step":
            s = sched.StepLR(opt, step_size=c["step_size"], gamma=c["gamma"])
        for k in range(STEPS - len(lrs)):
            if c["schedule"] == "cosine" and k >= span:
                lrs.append(c["min_lr"])  # biqa clamps where CosineAnnealingLR would rise again
            else:
                lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if s:
                s.step()
    return lrs


def torch_run(c, init, grads, lrs, no_decay=NO_DECAY):
    """The trajectory of torch.optim on the same gradients: {name: (STEPS+1, *shape)}."""
    p = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in init.items()}
    groups = [{"params": [p[n] for n in SHAPES if n not in no_decay],
               "weight_decay": f32(c["weight_decay"])},
              {"params": [p[n] for n in SHAPES if n in no_decay], "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if c["optim"] == "sgd":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=f32(c["momentum"]),
                              nesterov=bool(c["nesterov"]), foreach=False)
    else:
        opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(f32(c["beta1"]), f32(c["beta2"])),
                                eps=f32(c["eps"]), foreach=False)
    traj = {n: [v.copy()] for n, v in init.items()}
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = f32(lrs[step])
        for n in SHAPES:
            p[n].grad = torch.tensor(grads[n][step])
        opt.step()
        for n in SHAPES:
            traj[n].append(p[n].detach().numpy().copy())
    return {n: np.stack(v) for n, v in traj.items()}


def rel_err(a, b):
    """Worst over steps of max |a - b| / max |b| (per step and parameter)."""
    worst = 0.0
    for t in range(b.shape[0]):
        worst = max(worst, float(np.max(np.abs(a[t].astype(np.float64) - b[t])) /
                                 max(np.max(np.abs(b[t])), 1e-30)))
    return worst


def write_case(path, c, init, grads):
    tensors = {}
    for n in SHAPES:
        tensors["init." + n] = init[n]
        tensors["grads." + n] = grads[n]
    meta = {k: repr(v) if isinstance(v, float) else str(v) for k, v in c.items() if k != "name"}
    meta.update(steps=str(STEPS), params=",".join(SHAPES), no_decay=",".join(NO_DECAY))
    st.save(path, tensors, meta)


def run_case(helpers, tmp, idx, c):
    c = {**DEFAULTS, **c}
    init, grads = make_data(1000 + idx)
    lrs = torch_lrs(c)
    ref = torch_run(c, init, grads, lrs)

    moved = min(rel_err(np.broadcast_to(init[n], ref[n].shape), ref[n]) for n in SHAPES)
    check(f"{c['name']}: torch trajectory moves", moved > 1000 * TOL,
          f"min relative change {moved:.2e}")
    if c["weight_decay"] > 0:
        all_decay = torch_run(c, init, grads, lrs, no_decay=())
        d = max(rel_err(all_decay[n], ref[n]) for n in NO_DECAY)
        check(f"{c['name']}: no-decay group matters", d > 10 * TOL, f"difference {d:.2e}")

    case = os.path.join(tmp, f"case{idx}.safetensors")
    write_case(case, c, init, grads)
    for be in BACKENDS:
        out = os.path.join(tmp, f"out{idx}_{be}.safetensors")
        start = time.perf_counter()
        r = subprocess.run([os.path.join(helpers, "optim_run"), be, case, out],
                           capture_output=True, text=True)
        wall = time.perf_counter() - start
        name = f"{c['name']} [{be}]"
        if r.returncode != 0:
            check(name, False, f"optim_run exit {r.returncode}: {r.stderr.strip()}")
            continue
        got, meta = st.load(out)
        got_lrs = [float(x) for x in meta["lr"].split(",")]
        lr_err = max(abs(a - b) / (b if b else 1.0) for a, b in zip(got_lrs, lrs))
        check(f"{name} lr", len(got_lrs) == STEPS and lr_err <= LR_TOL,
              f"max relative error {lr_err:.2e} over {len(got_lrs)} steps")
        errs = {n: rel_err(got["traj." + n], ref[n]) for n in SHAPES}
        worst = max(errs, key=errs.get)
        check(f"{name} params", errs[worst] <= TOL,
              f"max relative error {errs[worst]:.2e} ({worst}), {wall * 1000:.0f} ms")


def main():
    helpers = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("BIQA_HELPERS")
    if not helpers:
        sys.exit("usage: optim_vs_torch.py BIQA HELPERS (or env BIQA_HELPERS)")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for idx, c in enumerate(CASES):
            run_case(helpers, tmp, idx, c)
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all optimiser checks passed")


if __name__ == "__main__":
    main()
