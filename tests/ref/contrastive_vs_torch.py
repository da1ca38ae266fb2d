#!/usr/bin/python3
"""The contrastive losses of methods/contrastive.h against PyTorch.

usage: contrastive_vs_torch.py BIQA HELPERS

On random L2-normalised embeddings, the loss and its gradients w.r.t. the
queries, the positives and the negatives, computed by biqa (ref and cpu
backends, through the contrastive_run helper) and by PyTorch in float64
from the formulas (autograd):
- MoCo:   logits = [q.k+, q.queue^T] / tau, CE against 0;
- SimCLR: NT-Xent over 2N views, the partner as positive, all other views
          as negatives (the sample itself and its partner masked out of the
          negatives block);
- QPT:    B images x V degradation variants x 2 patches; a patch's positive
          is the other patch of its degraded image; negatives are every key
          of the batch (same content under other chains, other images) and
          a queue, with the two keys of the query's own degraded image
          masked out (QPT.md, "The loss").
Relative error max|biqa - torch| / max|torch| <= 1e-5. Exits 1 naming every
failed check.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

failures = []


def check(name, err, tol=1e-5):
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: rel err {err:.2e} (tol {tol:g})", flush=True)
    if not ok:
        failures.append(name)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def unit(gen, n, d):
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return (x / x.norm(dim=1, keepdim=True)).float()


def torch_loss(q, k, neg, rows, cols, tau):
    q, k, neg = (t.double().clone().requires_grad_(True) for t in (q, k, neg))
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ neg.T], dim=1) / tau
    if len(rows):
        logits = logits.index_put((torch.tensor(rows), torch.tensor(cols) + 1),
                                  torch.tensor(-float("inf"), dtype=torch.float64))
    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
    loss.backward()
    return loss.item(), q.grad.numpy(), k.grad.numpy(), neg.grad.numpy()


def cases():
    gen = torch.Generator().manual_seed(0)
    # MoCo: 6 queries, a queue of 19.
    q, k = unit(gen, 6, 16), unit(gen, 6, 16)
    yield "moco", q, k, unit(gen, 19, 16), [], [], 0.2
    # SimCLR: 2N = 8 views; view i's partner is (i + N) mod 2N.
    z = unit(gen, 8, 16)
    partner = [(i + 4) % 8 for i in range(8)]
    rows = [i for i in range(8) for _ in (0, 1)]
    cols = [c for i in range(8) for c in (i, partner[i])]
    yield "simclr", z, z[partner], z, rows, cols, 0.5
    # QPT: B=3 images x V=2 variants x 2 patches = 12 keys in the batch + a queue of 5.
    B, V = 3, 2
    qs, ks = unit(gen, B * V * 2, 16), unit(gen, B * V * 2, 16)
    pos = [i ^ 1 for i in range(B * V * 2)]  # the other patch of the same degraded image
    bank = torch.cat([ks, unit(gen, 5, 16)])
    rows = [i for i in range(B * V * 2) for _ in (0, 1)]
    cols = [c for i in range(B * V * 2) for c in (i, i ^ 1)]
    yield "qpt", qs, ks[pos], bank, rows, cols, 0.2


def main():
    biqa, helpers = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="biqa-contrastive-") as tmp:
        for name, q, k, neg, rows, cols, tau in cases():
            loss, dq, dk, dneg = torch_loss(q, k, neg, rows, cols, tau)
            case = os.path.join(tmp, f"{name}.safetensors")
            st.save(case, {"q": q.numpy(), "k": k.numpy(), "neg": neg.numpy(),
                           "mask_rows": np.array(rows, np.int32), "mask_cols": np.array(cols, np.int32)},
                    {"tau": repr(tau)})
            for be in ("ref", "cpu"):
                out = os.path.join(tmp, f"{name}-{be}.safetensors")
                r = subprocess.run([os.path.join(helpers, "contrastive_run"), be, case, out],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    check(f"{name} {be} ran ({r.stderr.strip()})", 1.0, 0)
                    continue
                got, _ = st.load(out)
                check(f"{name} {be} loss ({loss:.6f})", abs(float(got["loss"][0]) - loss) / abs(loss))
                check(f"{name} {be} d/dq", rel(got["dq"], dq))
                check(f"{name} {be} d/dpositive", rel(got["dk"], dk))
                check(f"{name} {be} d/dnegatives", rel(got["dneg"], dneg))
    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
