#!/usr/bin/python3
"""Peer of `biqa bench train-step`: the same training step in PyTorch,
forward, cross-entropy, backward, SGD with momentum 0.9 and weight decay
1e-4, on a fixed random batch. Prints one JSON object.

usage: train_step_peer.py BACKBONE SIZE BATCH THREADS STEPS WARMUP CLASSES [cuda PRECISION]

On the CPU (eager, NCHW float32, as torchvision trains) with
torch.set_num_threads(THREADS): the best images/s over the timed steps.

With `cuda PRECISION` (fp32, tf32 or bf16) on the GPU, the two setups a
PyTorch user would reach for: eager with channels_last and, for bf16,
torch.autocast(bfloat16) (tf32: allow_tf32 on for cuDNN and matmul), with
cudnn.benchmark; and the same model under torch.compile (default mode).
Each step is timed between torch.cuda.synchronize() calls, best of STEPS
after WARMUP (compilation happens in the warm-up). Also reports each
setup's peak memory (torch.cuda.max_memory_allocated). A torch.compile
failure is reported in compile_error with null rates, not hidden.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import resnet  # noqa: E402


def cpu(backbone, size, batch, threads, steps, warmup, classes):
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
    return {"peer": f"PyTorch {torch.__version__} CPU eager, {threads} threads",
            "images_per_s": batch / min(times), "loss": loss.item()}


def timed_gpu(step, batch, steps, warmup):
    """Best images/s, the last loss and the peak memory of STEPS steps."""
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
    return batch / best, float(loss), torch.cuda.max_memory_allocated()


def gpu(backbone, size, batch, steps, warmup, classes, precision):
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device("cuda")
    model = resnet(backbone, classes).to(dev).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=dev)
    bf16 = precision == "bf16"

    def make_step(net):
        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return loss.detach()
        return step

    out = {"peer": f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}: eager "
                   f"channels_last{' + bf16 autocast' if bf16 else ''} ({precision}), and "
                   f"torch.compile"}
    rate, loss, peak = timed_gpu(make_step(model), batch, steps, warmup)
    out.update(images_per_s=rate, loss=loss, peak_bytes=peak)
    try:
        compiled = torch.compile(model)
        rate, loss, peak = timed_gpu(make_step(compiled), batch, steps, warmup)
        out.update(compile_images_per_s=rate, compile_loss=loss, compile_peak_bytes=peak)
    except Exception as e:  # reported, never hidden: the bench prints a null rate
        out.update(compile_images_per_s=None, compile_error=f"{type(e).__name__}: {e}"[:500])
    return out


def main():
    a = sys.argv[1:]
    if len(a) not in (7, 9):
        sys.exit(__doc__)
    backbone, size, batch, threads, steps, warmup, classes = a[0], *map(int, a[1:7])
    if len(a) == 9:
        if a[7] != "cuda" or a[8] not in ("fp32", "tf32", "bf16"):
            sys.exit(__doc__)
        out = gpu(backbone, size, batch, steps, warmup, classes, a[8])
    else:
        out = cpu(backbone, size, batch, threads, steps, warmup, classes)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
