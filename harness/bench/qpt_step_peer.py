#!/usr/bin/python3
"""Peer of the QPT row of `biqa bench train-step --backend cuda`: one QPT
pretraining step in PyTorch on the GPU, as methods/moco.c and qpt.c run it
(paper/QPT.md):

- VIEWS views = items x 2 variants x 2 patches; views 2i and 2i + 1 are the
  two patches of one degraded image (datasets/loader.h's order);
- key encoder (backbone + MLP D-H-P, batch norm in train mode, no gradient)
  on every view, keys L2-normalised;
- query encoder forward on every view, queries L2-normalised; logits
  [q . k_partner, q . keys_of_the_batch, q . queue] / tau with the two keys
  of the query's own degraded image masked to -inf; cross-entropy against
  column 0; backward; SGD (momentum 0.9, weight decay 1e-4);
- momentum update of the key encoder (torch._foreach ops), the batch's keys
  enqueued into the ring of QUEUE past keys.
Eager, channels_last, bf16 autocast for PRECISION bf16 (tf32: allow_tf32),
cudnn.benchmark; each step timed between torch.cuda.synchronize() calls,
best of STEPS after WARMUP. Prints one JSON object: views per second.

usage: qpt_step_peer.py BACKBONE SIZE VIEWS STEPS WARMUP QUEUE TAU KEY_MOMENTUM HIDDEN DIM PRECISION
"""
import copy
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import resnet  # noqa: E402


def encoder(backbone, hidden, dim):
    net = resnet(backbone, 1000)
    width = net.fc.in_features
    net.fc = torch.nn.Identity()
    head = torch.nn.Sequential(torch.nn.Linear(width, hidden or width), torch.nn.ReLU(),
                               torch.nn.Linear(hidden or width, dim))
    return torch.nn.Sequential(net, head)


def main():
    a = sys.argv[1:]
    if len(a) != 11 or a[10] not in ("fp32", "tf32", "bf16"):
        sys.exit(__doc__)
    backbone = a[0]
    size, views, steps, warmup, queue_size = map(int, a[1:6])
    tau, m = float(a[6]), float(a[7])
    hidden, dim, precision = int(a[8]), int(a[9]), a[10]
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    bf16 = precision == "bf16"
    dev = torch.device("cuda")

    query = encoder(backbone, hidden, dim).to(dev).to(memory_format=torch.channels_last).train()
    key = copy.deepcopy(query).train()
    for p in key.parameters():
        p.requires_grad_(False)
    qparams, kparams = list(query.parameters()), list(key.parameters())
    opt = torch.optim.SGD(qparams, lr=0.03, momentum=0.9, weight_decay=1e-4)
    queue = F.normalize(torch.randn(queue_size, dim, device=dev), dim=1)
    x = torch.randn(views, 3, size, size, device=dev).to(memory_format=torch.channels_last)
    group = torch.arange(views, device=dev) // 2
    partner = torch.arange(views, device=dev) ^ 1
    own = group[:, None] == group[None, :]  # the query's own two keys among the batch's
    labels = torch.zeros(views, dtype=torch.long, device=dev)
    state = {"ptr": 0}

    def step():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            k = F.normalize(key(x).float(), dim=1)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            q = F.normalize(query(x).float(), dim=1)
            pos = (q * k[partner]).sum(1, keepdim=True)
            neg = q @ torch.cat([k, queue]).T
        neg = neg.float()
        neg[:, :views] = neg[:, :views].masked_fill(own, float("-inf"))
        loss = F.cross_entropy(torch.cat([pos.float(), neg], 1) / tau, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(kparams, m)
            torch._foreach_add_(kparams, qparams, alpha=1 - m)
            ptr = state["ptr"]
            rows = min(views, queue_size - ptr)
            queue[ptr:ptr + rows] = k[:rows]
            if rows < views:
                queue[:views - rows] = k[rows:]
            state["ptr"] = (ptr + views) % queue_size
        return loss.detach()

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    best, loss = float("inf"), None
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        if i >= warmup:
            best = min(best, time.perf_counter() - t0)
    print(json.dumps({"peer": f"PyTorch {torch.__version__} eager QPT step on "
                              f"{torch.cuda.get_device_name()} ({precision})",
                      "images_per_s": views / best, "loss": float(loss),
                      "peak_bytes": torch.cuda.max_memory_allocated()}))


if __name__ == "__main__":
    main()
