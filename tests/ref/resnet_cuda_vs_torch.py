#!/usr/bin/env python3
"""biqa's cuda backend against PyTorch on the same GPU, at fp32, tf32 and bf16.

usage: resnet_cuda_vs_torch.py BIQA HELPERS

Needs a CUDA device and a PyTorch built with CUDA (the GPU machine's
python3, not Debian's); tools/gpu/run.sh runs it through the GPU suite.

The oracle is torchvision's model in float64 on the GPU with the same
weights and inputs (as tests/ref/resnet_vs_torch.py on the CPU). For each
precision P, PyTorch's own error in P against the oracle sets the bar:
  fp32  float32, TF32 off for cuDNN and matmul;
  tf32  float32 with TF32 on;
  bf16  channels_last with torch.autocast(bfloat16), as a PyTorch user
        trains in bf16;
biqa (through tests/helpers/model_check with backend cuda:P) must be at
most max(FLOOR[P], 2 x PyTorch's error): as accurate as PyTorch in the same
precision, with floors 1e-4 (fp32, resnet_vs_torch.py's tolerance), 1e-3
(tf32) and 1e-2 (bf16). Relative error of a tensor: max|a - b| / max|b|.

Cases:
- resnet50, 8 x 3 x 224 x 224, eval mode (batch-norm gammas 0.2..0.5) and
  train mode: features, logits, every parameter gradient of
  sum(logits * dlogits), and in train mode the running statistics;
- 20 SGD steps of resnet18-w0.25 on a fixed batch (momentum, weight decay
  off for batch-norm parameters and biases): the loss curve, max absolute
  difference against float64 within max(10 FLOOR, 2 x PyTorch's) (1e-3 at
  fp32, as resnet_vs_torch.py holds the CPU backends).
Exits 1 naming every failed check.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "harness", "bench")]
import st  # noqa: E402
import resnet_vs_torch as cpu_ref  # noqa: E402  (its model and weight helpers)

FLOOR = {"fp32": 1e-4, "tf32": 1e-3, "bf16": 1e-2}
PRECISIONS = ("fp32", "tf32", "bf16")
DEV = torch.device("cuda")
failures = []


def check(name, err, tol):
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: err {err:.2e} (tol {tol:.2e})", flush=True)
    if not ok:
        failures.append(name)


def rel(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def torch_setup(precision):
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def torch_model(name, seed, mode, gamma, precision):
    """make_model's weights on the GPU: float64 for the oracle, else float32
    (channels_last for bf16)."""
    m = cpu_ref.make_model(name, 10, seed, gamma)
    m = m.to(DEV, torch.float64 if precision == "f64" else torch.float32)
    if precision == "bf16":
        m = m.to(memory_format=torch.channels_last)
    m.train(mode == "train")
    return m


def torch_grads(name, seed, mode, gamma, x, dl, precision):
    """Features, logits, {name: grad}, state dict after forward + backward."""
    torch_setup(precision)
    m = torch_model(name, seed, mode, gamma, precision)
    dtype = torch.float64 if precision == "f64" else torch.float32
    xin = x.to(DEV, dtype)
    if precision == "bf16":
        xin = xin.to(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
        f, logits = cpu_ref.features_and_logits(m, xin)
    (logits.to(dtype) * dl.to(DEV, dtype)).sum().backward()
    grads = {k: p.grad.detach().double().cpu().numpy() for k, p in m.named_parameters()}
    state = {k: v.detach().double().cpu().numpy() for k, v in m.state_dict().items()}
    return (f.detach().double().cpu().numpy(), logits.detach().double().cpu().numpy(), grads,
            state)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")


def backend(precision):
    return "cuda" if precision == "fp32" else f"cuda:{precision}"


def grad_cases(helpers, tmp):
    for mode, gamma in (("eval", (0.2, 0.5)), ("train", (0.5, 1.5))):
        name, n, size, seed = "resnet50", 8, 224, 3
        wpath = os.path.join(tmp, f"g-{mode}.safetensors")
        cpu_ref.save_weights(cpu_ref.make_model(name, 10, seed, gamma), wpath)
        gen = torch.Generator().manual_seed(4)
        x = torch.randn(n, 3, size, size, generator=gen)
        dl = torch.randn(n, 10, generator=gen)
        truth = torch_grads(name, seed, mode, gamma, x, dl, "f64")
        case = os.path.join(tmp, "gcase.safetensors")
        st.save(case, {"input": x.numpy(), "dlogits": dl.numpy()}, {"mode": mode})
        for p in PRECISIONS:
            theirs = torch_grads(name, seed, mode, gamma, x, dl, p)
            out = os.path.join(tmp, f"gout-{p}.safetensors")
            run([os.path.join(helpers, "model_check"), "grad", backend(p), name, wpath, case,
                 out])
            got, _ = st.load(out)
            label = f"{name} {mode} {n}x3x{size}x{size} {p}"
            for key, idx in (("features", 0), ("logits", 1)):
                bar = max(FLOOR[p], 2 * rel(theirs[idx], truth[idx]))
                check(f"{label} {key}", rel(got[key], truth[idx]), bar)
            worst, where, bar = 0.0, "", 0.0
            for k, g in truth[2].items():
                e = rel(got["grad." + k], g)
                b = max(FLOOR[p], 2 * rel(theirs[2][k], g))
                if e / b > (worst / bar if bar else -1):
                    worst, where, bar = e, k, b
            check(f"{label} every parameter gradient (closest to its bar: {where})", worst, bar)
            if mode != "train":
                continue
            state, _ = st.load(out + ".state.safetensors")
            keys = [k for k in truth[3] if k.endswith("running_mean") or k.endswith("running_var")]
            err = max(rel(state[k], truth[3][k]) for k in keys)
            bar = max(FLOOR[p], 2 * max(rel(theirs[3][k], truth[3][k]) for k in keys))
            check(f"{label} running statistics", err, bar)


def torch_losses(name, x, labels, steps, lr, momentum, wd, precision):
    torch_setup(precision)
    m = torch_model(name, 5, "train", (0.5, 1.5), precision)
    dtype = torch.float64 if precision == "f64" else torch.float32
    decay = [p for k, p in m.named_parameters() if p.ndim > 1]
    no_decay = [p for k, p in m.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": wd},
                           {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=momentum)
    xin = x.to(DEV, dtype)
    if precision == "bf16":
        xin = xin.to(memory_format=torch.channels_last)
    y = labels.to(DEV)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = torch.nn.functional.cross_entropy(m(xin).to(dtype), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def train_cases(helpers, tmp):
    name, n, size, steps = "resnet18-w0.25", 8, 64, 20
    lr, momentum, wd = 0.01, 0.9, 1e-4
    wpath = os.path.join(tmp, "t.safetensors")
    cpu_ref.save_weights(cpu_ref.make_model(name, 5, 5), wpath)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(n, 3, size, size, generator=gen)
    labels = torch.randint(0, 5, (n,), generator=gen)
    truth = torch_losses(name, x, labels, steps, lr, momentum, wd, "f64")
    case = os.path.join(tmp, "tcase.safetensors")
    st.save(case, {"input": x.numpy(), "labels": labels.numpy().astype(np.int32)},
            {"steps": steps, "lr": lr, "momentum": momentum, "weight_decay": wd, "nesterov": 0})
    for p in PRECISIONS:
        theirs = torch_losses(name, x, labels, steps, lr, momentum, wd, p)
        out = os.path.join(tmp, f"trained-{p}.safetensors")
        run([os.path.join(helpers, "model_check"), "train", backend(p), name, wpath, case, out])
        _, meta = st.load(out)
        ours = np.array([float(v) for v in meta["losses"].split(",")])
        bar = max(FLOOR[p] * 10, 2 * float(np.max(np.abs(theirs - truth))))
        check(f"train {name} {p} {steps} SGD steps loss curve (max abs diff; "
              f"{truth[0]:.4f} -> {truth[-1]:.4f})", float(np.max(np.abs(ours - truth))), bar)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    if not torch.cuda.is_available():
        sys.exit("resnet_cuda_vs_torch.py: this PyTorch sees no CUDA device")
    helpers = sys.argv[2]
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="biqa-resnet-cuda-") as tmp:
        grad_cases(helpers, tmp)
        train_cases(helpers, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
