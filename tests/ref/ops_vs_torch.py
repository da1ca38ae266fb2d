#!/usr/bin/python3
"""Every op of the backend interface (kernels/backend.h) against PyTorch.

usage: ops_vs_torch.py [BIQA [HELPERS]] [--backend ref|cpu]
       (or env BIQA, BIQA_HELPERS; default: both the ref and cpu backends)

For each case: random float32 inputs (odd sizes, batch 1, stride 2, 1x1 /
3x3 / 7x7 kernels with ResNet's padding, channel counts that are not
multiples of 8), the expected forward outputs and gradients from PyTorch in
float64 on the same float32 values (torch.nn.functional with autograd, and
torch.optim for the optimiser steps), the case written as safetensors, the
op run on a backend by the op_run helper (tests/helpers/op_run.c), and every
output compared by the normalised error max|a - b| / max(1, max|b|), which
must be <= 1e-5 (float32 arithmetic); max pool indices must match exactly.
Parameter gradients start from a random dw_init so that accumulation (+=)
is checked, written outputs start as NaN in op_run so that an element an op
forgets is caught. op_run's own errors (unknown op, missing tensor) are
checked too.

Run it with Debian's /usr/bin/python3 (torch 1.13). Prints one line per case
and backend with its max error, a per-op summary and the runtime; exits 1
naming every case that failed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

TOL = 1e-5
EXACT = {"argmax"}
SEED = 20230601

# ---- helpers ---------------------------------------------------------------


def f32(v):
    """A scalar rounded to float32, so that C's (float)strtod sees the same value."""
    return float(np.float32(v))


def t64(a):
    """A float64 tensor holding the (float32) array a."""
    return torch.tensor(np.asarray(a, dtype=np.float64))


def leaf(a):
    """A float64 leaf tensor (requiring grad) holding the float32 array a."""
    return t64(a).requires_grad_()


def npy(t):
    return t.detach().numpy()


class Case:
    def __init__(self, name, op, meta, inputs, expected):
        self.name, self.op = name, op
        self.meta = {"op": op, **{k: repr(v) if isinstance(v, float) else str(v)
                                  for k, v in meta.items()}}
        self.inputs = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
        self.expected = {k: np.asarray(v, dtype=np.float64) for k, v in expected.items()}


class Gen:
    """Seeded float32 random arrays, one generator per case."""

    def __init__(self, index):
        self.rng = np.random.default_rng([SEED, index])

    def normal(self, *shape, scale=1.0, mean=0.0):
        return (mean + scale * self.rng.standard_normal(shape)).astype(np.float32)

    def uniform(self, lo, hi, *shape):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)


CASES = []


def case(fn):
    """Registers a case builder; called with (Gen, *args) per parameter set."""
    def add(name, *args, **kw):
        CASES.append(lambda g: fn(g, name, *args, **kw))
    return add


# ---- elementwise -------------------------------------------------------------

@case
def c_add(g, name, shape, inplace):
    a, b = g.normal(*shape), g.normal(*shape)
    y = t64(a) + t64(b)
    return Case(name, "add", {"inplace": int(inplace)}, {"a": a, "b": b}, {"y": y.numpy()})


@case
def c_axpy(g, name, shape, alpha):
    x, y = g.normal(*shape), g.normal(*shape)
    alpha = f32(alpha)
    out = t64(y).add(t64(x), alpha=alpha)
    return Case(name, "axpy", {"alpha": alpha}, {"x": x, "y": y}, {"y": out.numpy()})


@case
def c_fill(g, name, shape, value):
    x, value = g.normal(*shape), f32(value)
    return Case(name, "fill", {"value": value}, {"x": x},
                {"y": torch.full(shape, value, dtype=torch.float64).numpy()})


@case
def c_copy(g, name, shape):
    x = g.normal(*shape)
    return Case(name, "copy", {}, {"x": x}, {"y": t64(x).clone().numpy()})


@case
def c_relu(g, name, shape, inplace):
    x = g.normal(*shape)
    x.reshape(-1)[::7] = 0  # exact zeros: the gradient there is 0, as PyTorch's
    X = leaf(x)
    Y = F.relu(X)
    dy = g.normal(*shape)
    Y.backward(t64(dy))
    return Case(name, "relu", {"inplace": int(inplace)}, {"x": x, "dy": dy},
                {"y": npy(Y), "dx": npy(X.grad)})


# ---- convolution -----------------------------------------------------------

@case
def c_conv2d(g, name, n, c, h, w, o, k, stride, pad, bias=True):
    x = g.normal(n, c, h, w)
    wt = g.normal(o, c, k, k, scale=1 / np.sqrt(c * k * k))
    inputs = {"x": x, "w": wt}
    X, W = leaf(x), leaf(wt)
    B = None
    if bias:
        inputs["b"] = g.normal(o, scale=0.5)
        B = leaf(inputs["b"])
    Y = F.conv2d(X, W, B, stride=stride, padding=pad)
    dy = g.normal(*Y.shape)
    Y.backward(t64(dy))
    inputs["dy"] = dy
    inputs["dw_init"] = g.normal(*wt.shape)
    exp = {"y": npy(Y), "dx": npy(X.grad), "dw": inputs["dw_init"] + npy(W.grad)}
    if bias:
        inputs["db_init"] = g.normal(o)
        exp["db"] = inputs["db_init"] + npy(B.grad)
    return Case(name, "conv2d", {"stride": stride, "pad": pad}, inputs, exp)


# ---- batch norm --------------------------------------------------------------

def bn_inputs(g, n, c, h, w):
    """Per-channel offsets and scales, so that a one-pass variance would show."""
    x = (g.normal(1, c, 1, 1, scale=2.0) + g.uniform(0.5, 2.0, 1, c, 1, 1)
         * g.normal(n, c, h, w)).astype(np.float32)
    return {"x": x, "gamma": g.normal(c, scale=0.3, mean=1.0), "beta": g.normal(c, scale=0.3),
            "running_mean": g.normal(c, scale=0.5), "running_var": g.uniform(0.5, 2.0, c),
            "dy": g.normal(n, c, h, w), "dgamma_init": g.normal(c), "dbeta_init": g.normal(c)}


@case
def c_bn_train(g, name, n, c, h, w, momentum, eps):
    i = bn_inputs(g, n, c, h, w)
    momentum, eps = f32(momentum), f32(eps)
    X, G, B = leaf(i["x"]), leaf(i["gamma"]), leaf(i["beta"])
    rm = t64(i["running_mean"])
    rv = t64(i["running_var"])
    Y = F.batch_norm(X, rm, rv, G, B, training=True, momentum=momentum, eps=eps)
    Y.backward(t64(i["dy"]))
    x64 = i["x"].astype(np.float64)
    exp = {"y": npy(Y), "save_mean": x64.mean(axis=(0, 2, 3)),
           "save_invstd": 1 / np.sqrt(x64.var(axis=(0, 2, 3)) + eps),
           "running_mean": rm.numpy(), "running_var": rv.numpy(), "dx": npy(X.grad),
           "dgamma": i["dgamma_init"] + npy(G.grad), "dbeta": i["dbeta_init"] + npy(B.grad)}
    return Case(name, "bn_train", {"momentum": momentum, "eps": eps}, i, exp)


@case
def c_bn_eval(g, name, n, c, h, w, eps):
    i = bn_inputs(g, n, c, h, w)
    eps = f32(eps)
    i["invstd"] = (1 / np.sqrt(i["running_var"].astype(np.float64) + eps)).astype(np.float32)
    X, G, B = leaf(i["x"]), leaf(i["gamma"]), leaf(i["beta"])
    Y = F.batch_norm(X, t64(i["running_mean"]),
                     t64(i["running_var"]), G, B,
                     training=False, eps=eps)
    Y.backward(t64(i["dy"]))
    exp = {"y": npy(Y), "dx": npy(X.grad), "dgamma": i["dgamma_init"] + npy(G.grad),
           "dbeta": i["dbeta_init"] + npy(B.grad)}
    return Case(name, "bn_eval", {"eps": eps}, i, exp)


# ---- pooling -------------------------------------------------------------------

@case
def c_maxpool(g, name, n, c, h, w, k, stride, pad, ties=False):
    if ties:  # few distinct values: the first maximum in the window must win
        x = g.rng.integers(0, 3, (n, c, h, w)).astype(np.float32)
    else:
        x = g.normal(n, c, h, w)
    X = leaf(x)
    Y, idx = F.max_pool2d(X, k, stride, pad, return_indices=True)
    dy = g.normal(*Y.shape)
    Y.backward(t64(dy))
    return Case(name, "maxpool", {"kernel": k, "stride": stride, "pad": pad}, {"x": x, "dy": dy},
                {"y": npy(Y), "argmax": idx.numpy().astype(np.float64), "dx": npy(X.grad)})


@case
def c_avgpool(g, name, n, c, h, w):
    x = g.normal(n, c, h, w)
    X = leaf(x)
    Y = F.adaptive_avg_pool2d(X, 1)
    dy = g.normal(n, c, 1, 1)
    Y.backward(t64(dy))
    return Case(name, "avgpool", {}, {"x": x, "dy": dy}, {"y": npy(Y), "dx": npy(X.grad)})


# ---- linear, l2 normalisation, InfoNCE ------------------------------------------

@case
def c_linear(g, name, xshape, out, bias=True):
    x = g.normal(*xshape)
    n, fan_in = xshape[0], int(np.prod(xshape[1:]))
    wt = g.normal(out, fan_in, scale=1 / np.sqrt(fan_in))
    inputs = {"x": x, "w": wt}
    X, W = leaf(x), leaf(wt)
    B = None
    if bias:
        inputs["b"] = g.normal(out, scale=0.5)
        B = leaf(inputs["b"])
    Y = F.linear(X.reshape(n, -1), W, B)
    dy = g.normal(n, out)
    Y.backward(t64(dy))
    inputs["dy"] = dy
    inputs["dw_init"] = g.normal(*wt.shape)
    exp = {"y": npy(Y), "dx": npy(X.grad), "dw": inputs["dw_init"] + npy(W.grad)}
    if bias:
        inputs["db_init"] = g.normal(out)
        exp["db"] = inputs["db_init"] + npy(B.grad)
    return Case(name, "linear", {}, inputs, exp)


@case
def c_l2norm(g, name, n, d, eps, row_scales=None):
    x = g.normal(n, d)
    if row_scales is not None:  # rows on both sides of eps
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        x = (unit * np.array(row_scales)[:, None]).astype(np.float32)
    eps = f32(eps)
    X = leaf(x)
    Y = F.normalize(X, dim=1, eps=eps)
    dy = g.normal(n, d)
    Y.backward(t64(dy))
    return Case(name, "l2norm", {"eps": eps}, {"x": x, "dy": dy}, {"y": npy(Y), "dx": npy(X.grad)})


@case
def c_infonce(g, name, n, m, d, tau, normalized):
    q, k, neg = g.normal(n, d), g.normal(n, d), g.normal(m, d)
    if normalized:  # as MoCo feeds it: unit rows
        q, k, neg = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (q, k, neg))
        q, k, neg = q.astype(np.float32), k.astype(np.float32), neg.astype(np.float32)
    tau = f32(tau)
    Q, K, N = leaf(q), leaf(k), leaf(neg)
    Y = torch.cat([(Q * K).sum(1, keepdim=True), Q @ N.T], 1) / tau
    dy = g.normal(n, 1 + m)
    Y.backward(t64(dy))
    return Case(name, "infonce", {"tau": tau}, {"q": q, "k": k, "neg": neg, "dy": dy},
                {"y": npy(Y), "dq": npy(Q.grad), "dk": npy(K.grad), "dneg": npy(N.grad)})


# ---- losses --------------------------------------------------------------------

@case
def c_xent(g, name, n, k, dloss, scale=3.0):
    z = g.normal(n, k, scale=scale)
    labels = g.rng.integers(0, k, n).astype(np.int32)
    dloss = f32(dloss)
    Z = leaf(z)
    loss = F.cross_entropy(Z, torch.tensor(labels, dtype=torch.int64))
    (dloss * loss).backward()
    return Case(name, "xent", {"dloss": dloss}, {"logits": z, "labels": labels},
                {"loss": [loss.item()], "loss_only": [loss.item()], "dlogits": npy(Z.grad)})


REGRESS_KIND = {"l1": 0, "smooth_l1": 1, "mse": 2}


@case
def c_regress(g, name, kind, shape, beta, dloss):
    pred, target = g.normal(*shape, scale=1.5), g.normal(*shape, scale=1.5)
    pred.reshape(-1)[::5] = target.reshape(-1)[::5]  # d = 0 exactly: the subgradient 0
    beta, dloss = f32(beta), f32(dloss)
    P, T = leaf(pred), t64(target)
    # beta = 0 is L1 (F.smooth_l1_loss since torch 2.1, pytorch/pytorch#96813;
    # 1.13's kernel gives the gradient -1 instead of 0 where pred == target).
    if kind == "l1" or (kind == "smooth_l1" and beta == 0):
        loss = F.l1_loss(P, T)
    elif kind == "smooth_l1":
        loss = F.smooth_l1_loss(P, T, beta=beta)
    else:
        loss = F.mse_loss(P, T)
    (dloss * loss).backward()
    return Case(name, "regress", {"kind": REGRESS_KIND[kind], "beta": beta, "dloss": dloss},
                {"pred": pred, "target": target},
                {"loss": [loss.item()], "loss_only": [loss.item()], "dpred": npy(P.grad)})


# ---- optimisers ---------------------------------------------------------------

@case
def c_sgd(g, name, shape, lr, momentum, wd, nesterov, steps, warm):
    p, grads = g.normal(*shape), g.normal(steps, *shape)
    v = g.normal(*shape, scale=0.5) if warm else np.zeros(shape, np.float32)
    lr, momentum, wd = f32(lr), f32(momentum), f32(wd)
    P = leaf(p)
    opt = torch.optim.SGD([P], lr=lr, momentum=momentum, weight_decay=wd, nesterov=bool(nesterov))
    if warm:
        opt.state[P]["momentum_buffer"] = t64(v)
    for s in range(steps):
        P.grad = t64(grads[s])
        opt.step()
    exp = {"p": npy(P)}
    if momentum:  # torch keeps no buffer without momentum
        exp["velocity"] = opt.state[P]["momentum_buffer"].numpy()
    return Case(name, "sgd", {"lr": lr, "momentum": momentum, "weight_decay": wd,
                              "nesterov": int(nesterov)},
                {"p": p, "grads": grads.reshape(steps, -1), "velocity": v}, exp)


@case
def c_adamw(g, name, shape, lr, betas, eps, wd, steps, first_step):
    p, grads = g.normal(*shape), g.normal(steps, *shape)
    zero = np.zeros(shape, np.float32)
    m = g.normal(*shape, scale=0.3) if first_step > 1 else zero
    v = g.uniform(0.1, 1.0, *shape) if first_step > 1 else zero
    lr, b1, b2, eps, wd = f32(lr), f32(betas[0]), f32(betas[1]), f32(eps), f32(wd)
    P = leaf(p)
    opt = torch.optim.AdamW([P], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    if first_step > 1:  # resume: step counts the updates already made
        opt.state[P].update(step=torch.tensor(float(first_step - 1)),
                            exp_avg=t64(m),
                            exp_avg_sq=t64(v))
    for s in range(steps):
        P.grad = t64(grads[s])
        opt.step()
    st_ = opt.state[P]
    return Case(name, "adamw", {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps,
                                "weight_decay": wd, "step": first_step},
                {"p": p, "grads": grads.reshape(steps, -1), "m": m, "v": v},
                {"p": npy(P), "m": st_["exp_avg"].numpy(), "v": st_["exp_avg_sq"].numpy()})


@case
def c_ema(g, name, shape, momentum):
    dst, src = g.normal(*shape), g.normal(*shape)
    momentum = f32(momentum)
    D, S = t64(dst), t64(src)
    out = D * momentum + S * (1.0 - momentum)  # MoCo's key-encoder update
    return Case(name, "ema", {"momentum": momentum}, {"dst": dst, "src": src}, {"dst": out.numpy()})


# ---- the case list ------------------------------------------------------------

c_add("add", (3, 5, 7, 3), False)
c_add("add_inplace", (2, 9, 1, 1), True)
c_axpy("axpy", (4, 7, 5, 1), -0.37)
c_fill("fill", (3, 5, 2, 7), 0.731)
c_copy("copy", (5, 3, 3, 3))
c_relu("relu", (2, 5, 9, 7), False)
c_relu("relu_inplace", (1, 13, 3, 5), True)
c_conv2d("conv1x1_s1", 2, 5, 9, 11, 7, 1, 1, 0)
c_conv2d("conv1x1_s2_downsample", 3, 6, 9, 8, 10, 1, 2, 0, bias=False)
c_conv2d("conv3x3_s1", 2, 5, 10, 7, 6, 3, 1, 1)
c_conv2d("conv3x3_s2_batch1", 1, 4, 11, 13, 9, 3, 2, 1)
c_conv2d("conv3x3_s1_nobias", 2, 3, 6, 6, 5, 3, 1, 1, bias=False)
c_conv2d("conv7x7_s2_stem", 2, 3, 21, 19, 8, 7, 2, 3, bias=False)
c_conv2d("conv3x3_s1_wide", 2, 19, 6, 5, 13, 3, 1, 1)
c_conv2d("conv3x3_s1_c64", 2, 64, 14, 14, 64, 3, 1, 1, bias=False)
c_conv2d("conv1x1_s2_c64_to_c128", 2, 64, 13, 13, 128, 1, 2, 0, bias=False)
c_conv2d("conv7x7_s2_stem_33px", 2, 3, 33, 33, 16, 7, 2, 3, bias=False)
c_bn_train("bn_train", 3, 5, 7, 9, 0.1, 1e-5)
c_bn_train("bn_train_batch1", 1, 6, 5, 5, 0.01, 1e-3)
c_bn_train("bn_train_1x1", 7, 11, 1, 1, 0.1, 1e-5)
c_bn_train("bn_train_c64", 4, 64, 7, 7, 0.1, 1e-5)
c_bn_eval("bn_eval", 2, 5, 6, 7, 1e-5)
c_bn_eval("bn_eval_batch1", 1, 9, 3, 4, 1e-3)
c_maxpool("maxpool3x3_s2_p1", 2, 3, 11, 12, 3, 2, 1)
c_maxpool("maxpool3x3_s2_p1_even", 1, 5, 8, 8, 3, 2, 1)
c_maxpool("maxpool2x2_s2", 2, 4, 7, 9, 2, 2, 0)
c_maxpool("maxpool3x3_s1_p1_ties", 2, 3, 7, 6, 3, 1, 1, ties=True)
c_maxpool("maxpool3x3_s2_p1_ties", 1, 6, 9, 9, 3, 2, 1, ties=True)
c_maxpool("maxpool3x3_s2_p1_c16", 2, 16, 17, 17, 3, 2, 1)
c_avgpool("avgpool", 2, 7, 5, 3)
c_avgpool("avgpool_1x1", 1, 9, 1, 1)
c_avgpool("avgpool_7x7", 3, 11, 7, 7)
c_linear("linear", (4, 13), 5)
c_linear("linear_nobias_batch1", (1, 17), 3, bias=False)
c_linear("linear_from_nchw", (3, 6, 2, 2), 7)
c_linear("linear_head_256_128", (8, 256), 128)
c_l2norm("l2norm", 5, 17, 1e-12)
c_l2norm("l2norm_clamped_rows", 4, 6, 0.5, row_scales=[0.1, 0.45, 0.7, 2.0])
c_infonce("infonce", 4, 11, 8, 0.07, True)
c_infonce("infonce_raw_batch1", 1, 5, 9, 0.2, False)
c_infonce("infonce_queue", 8, 257, 128, 0.2, True)
c_xent("xent", 5, 7, 1.0)
c_xent("xent_batch1", 1, 3, 0.5)
c_xent("xent_large_logits", 4, 9, 1.0, scale=40.0)
c_regress("l1", "l1", (6, 1), 1.0, 1.0)
c_regress("l1_2d", "l1", (4, 3), 1.0, 0.5)
c_regress("smooth_l1", "smooth_l1", (9, 1), 1.0, 1.0)
c_regress("smooth_l1_beta03", "smooth_l1", (5, 3), 0.3, 2.0)
c_regress("smooth_l1_beta0", "smooth_l1", (7, 1), 0.0, 1.0)
c_regress("mse", "mse", (6, 1), 1.0, 1.0)
c_regress("mse_2d", "mse", (3, 5), 1.0, 0.25)
c_sgd("sgd_plain", (5, 3, 3, 3), 0.1, 0.0, 0.0, False, 2, False)
c_sgd("sgd_momentum", (7, 5), 0.05, 0.9, 0.0, False, 3, False)
c_sgd("sgd_momentum_wd_warm", (11,), 0.03, 0.9, 1e-4, False, 2, True)
c_sgd("sgd_nesterov_wd", (4, 3, 3, 3), 0.1, 0.9, 5e-4, True, 3, False)
c_sgd("sgd_nesterov_warm", (13,), 0.02, 0.8, 0.0, True, 2, True)
c_sgd("sgd_large", (64, 32, 3, 3), 0.1, 0.9, 1e-4, False, 2, True)
c_adamw("adamw", (6, 5), 1e-3, (0.9, 0.999), 1e-8, 0.05, 3, 1)
c_adamw("adamw_resume", (3, 3, 3, 2), 3e-4, (0.9, 0.999), 1e-8, 0.01, 2, 5)
c_adamw("adamw_no_wd", (9,), 0.01, (0.8, 0.99), 1e-6, 0.0, 2, 1)
c_adamw("adamw_large", (128, 257), 1e-3, (0.9, 0.999), 1e-8, 0.05, 2, 3)
c_ema("ema", (5, 4, 3, 3), 0.999)
c_ema("ema_half", (17,), 0.5)

# ---- running ---------------------------------------------------------------------


def norm_err(got, exp, exact):
    got, exp = np.asarray(got, np.float64).reshape(-1), exp.reshape(-1)
    if got.size != exp.size:
        return float("inf"), f"{got.size} elements, expected {exp.size}"
    if not np.all(np.isfinite(got)):
        return float("inf"), "non-finite values"
    if got.size == 0:
        return 0.0, ""
    diff = np.max(np.abs(got - exp))
    if exact:
        return diff, ""
    return diff / max(1.0, np.max(np.abs(exp))), ""


def run_case(helpers, backend, c, path, out):
    r = subprocess.run([os.path.join(helpers, "op_run"), backend, path, out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip() or f"exit {r.returncode}"
    got, _ = st.load(out)
    worst, notes = 0.0, []
    for key, exp in c.expected.items():
        if key not in got:
            return None, f"op_run wrote no '{key}'"
        err, why = norm_err(got[key], exp, key in EXACT)
        if key in EXACT and err != 0:
            err = float("inf")
            why = "indices differ"
        if why or err > TOL:
            notes.append(f"{key}: {why or f'{err:.2e}'}")
        worst = max(worst, err)
    return worst, "; ".join(notes)


def backend_error(helpers, backend, c, tmp):
    """The error creating `backend`, if any: op_run's message on a valid case
    when it does not name the case file (so the case was never opened)."""
    r = subprocess.run([os.path.join(helpers, "op_run"), backend, c.path,
                        os.path.join(tmp, "probe.out")], capture_output=True, text=True)
    if r.returncode != 0 and c.path not in r.stderr:
        return r.stderr.strip() or f"exit {r.returncode}"
    return None


def check_errors(helpers, backend, tmp):
    """op_run must refuse an unknown op and a missing tensor, naming them."""
    fails = []
    bad = os.path.join(tmp, "bad_op.safetensors")
    st.save(bad, {"x": np.zeros((2, 2), np.float32)}, {"op": "no_such_op"})
    r = subprocess.run([os.path.join(helpers, "op_run"), backend, bad, bad + ".out"],
                       capture_output=True, text=True)
    if r.returncode != 1 or bad not in r.stderr or "no_such_op" not in r.stderr:
        fails.append(f"unknown op: exit {r.returncode}, stderr {r.stderr.strip()!r}")
    miss = os.path.join(tmp, "missing.safetensors")
    st.save(miss, {"x": np.zeros((1, 1, 3, 3), np.float32)},
            {"op": "conv2d", "stride": "1", "pad": "0"})
    r = subprocess.run([os.path.join(helpers, "op_run"), backend, miss, miss + ".out"],
                       capture_output=True, text=True)
    if r.returncode != 1 or miss not in r.stderr or "'w'" not in r.stderr:
        fails.append(f"missing tensor: exit {r.returncode}, stderr {r.stderr.strip()!r}")
    return fails


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("biqa", nargs="?", default=os.environ.get("BIQA"))
    ap.add_argument("helpers", nargs="?", default=os.environ.get("BIQA_HELPERS"))
    ap.add_argument("--backend", choices=["ref", "cpu"], action="append",
                    help="backend to test (repeatable; default: ref and cpu)")
    args = ap.parse_args()
    if not args.helpers:
        ap.error("HELPERS (or env BIQA_HELPERS) must name the directory of op_run")
    backends = args.backend or ["ref", "cpu"]
    torch.manual_seed(SEED)
    start = time.perf_counter()
    failures, summary = [], {}
    with tempfile.TemporaryDirectory(prefix="biqa-ops-") as tmp:
        cases = [build(Gen(i)) for i, build in enumerate(CASES)]
        for i, c in enumerate(cases):
            c.path = os.path.join(tmp, f"{i:03d}_{c.name}.safetensors")
            st.save(c.path, c.inputs, c.meta)
        for backend in backends:
            unavailable = backend_error(args.helpers, backend, cases[0], tmp)
            if unavailable:
                print(f"FAIL {backend:4s} backend unavailable: {unavailable}", flush=True)
                failures.append(f"{backend}/unavailable")
                continue
            for msg in check_errors(args.helpers, backend, tmp):
                print(f"FAIL {backend} op_run errors: {msg}", flush=True)
                failures.append(f"{backend}/op_run_errors")
            for c in cases:
                out = os.path.join(tmp, f"{backend}_{c.name}.out.safetensors")
                err, note = run_case(args.helpers, backend, c, c.path, out)
                ok = err is not None and not note
                shown = "error" if err is None else f"{err:.2e}"
                print(f"{'ok  ' if ok else 'FAIL'} {backend:4s} {c.name:28s} max err {shown}"
                      f"{'  (' + note + ')' if note else ''}", flush=True)
                if not ok:
                    failures.append(f"{backend}/{c.name}")
                key = (backend, c.op)
                summary[key] = max(summary.get(key, 0.0), float("inf") if err is None else err)
    print("max normalised error per op:")
    for backend in backends:
        errs = [f"{op} {e:.1e}" for (b, op), e in summary.items() if b == backend]
        print(f"  {backend}: {', '.join(errs) if errs else 'not run'}")
    wall = time.perf_counter() - start
    print(f"{len(cases)} cases x {len(backends)} backends in {wall:.1f} s")
    if failures:
        print("failed: " + " ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
