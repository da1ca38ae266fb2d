#!/usr/bin/python3
"""Peer of `biqa bench train-step`: the same training step in PyTorch on the
CPU (eager, NCHW float32, as torchvision trains): forward, cross-entropy,
backward, SGD with momentum 0.9 and weight decay 1e-4, on a fixed random
batch, with torch.set_num_threads(threads). Prints one JSON object with the
best images/s over the timed steps.

usage: train_step_peer.py BACKBONE SIZE BATCH THREADS STEPS WARMUP CLASSES
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import resnet  # noqa: E402


def main():
    backbone, size, batch, threads, steps, warmup, classes = sys.argv[1:8]
    size, batch, threads, steps, warmup, classes = map(int, (size, batch, threads, steps, warmup, classes))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = resnet(backbone, classes).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, classes, (batch,))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"peer": f"PyTorch {torch.__version__} CPU eager, {threads} threads",
                      "images_per_s": batch / min(times), "loss": loss.item()}))


if __name__ == "__main__":
    main()
