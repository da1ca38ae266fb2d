"""biqa's augmentation ops (datasets/augment.h) against torchvision 0.14's
functional ops on tensors, on the same crop boxes and factors:
resized_crop (bilinear, antialias=False), adjust_brightness / contrast /
saturation / hue, rgb_to_grayscale (3 channels), gaussian_blur (the kernel
size the helper prints). Each case: a random photo-like PNG, a box, a chain
of ops; max |biqa - torchvision| over the float image in [0, 1] must stay
below 5e-6 (float32 rounding; hue goes through HSV, blur is separable in
biqa and 2-D in torchvision).

usage: augment_vs_torchvision.py BIQA HELPERS_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

TOL = 5e-6


def torchvision_ops(img, box, size, ops, ksize):
    x, y, w, h = box
    t = F.to_tensor(img)
    t = F.resized_crop(t, y, x, h, w, [size, size], InterpolationMode.BILINEAR, antialias=False)
    for op, v in ops:
        if op == "brightness":
            t = F.adjust_brightness(t, v)
        elif op == "contrast":
            t = F.adjust_contrast(t, v)
        elif op == "saturation":
            t = F.adjust_saturation(t, v)
        elif op == "hue":
            t = F.adjust_hue(t, v)
        elif op == "gray":
            t = F.rgb_to_grayscale(t, 3)
        elif op == "blur":
            t = F.gaussian_blur(t, [ksize, ksize], [v, v])
    return t.numpy()


def main():
    helpers = sys.argv[2]
    run = os.path.join(helpers, "augment_run")
    rng = np.random.default_rng(5)
    cases = [
        ((7, 5, 40, 31), 24, []),                       # shrink
        ((3, 2, 9, 12), 32, []),                        # enlarge
        ((0, 0, 64, 48), 64, [("brightness", 1.37)]),
        ((10, 4, 30, 30), 24, [("contrast", 0.62)]),
        ((10, 4, 30, 30), 24, [("contrast", 1.4)]),
        ((5, 5, 33, 20), 24, [("saturation", 1.33)]),
        ((5, 5, 33, 20), 24, [("saturation", 0.61)]),
        ((1, 2, 50, 40), 24, [("hue", 0.093)]),
        ((1, 2, 50, 40), 24, [("hue", -0.1)]),
        ((1, 2, 50, 40), 24, [("gray", 0)]),
        ((2, 2, 40, 40), 32, [("blur", 0.1)]),
        ((2, 2, 40, 40), 32, [("blur", 1.3)]),
        ((2, 2, 40, 40), 16, [("blur", 2.0)]),          # kernel capped below S
        ((4, 6, 44, 33), 32, [("hue", 0.05), ("contrast", 1.2), ("brightness", 0.7),
                              ("saturation", 1.4), ("gray", 0), ("blur", 0.8)]),
    ]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        # Smooth colour gradients plus noise and a few saturated blocks (hue sectors).
        yy, xx = np.mgrid[0:48, 0:64]
        base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.float64)
        base += rng.normal(0, 25, base.shape)
        base[10:20, 30:40] = [255, 0, 0]
        base[30:40, 5:15] = [0, 0, 255]
        base[25:35, 45:60] = [128, 128, 128]
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        path = os.path.join(tmp, "in.png")
        img.save(path)
        for i, (box, size, ops) in enumerate(cases):
            out = os.path.join(tmp, "out%d.f32" % i)
            args = [run, path, out, str(size)] + [str(v) for v in box]
            for op, v in ops:
                args += [op, repr(v)]
            r = subprocess.run(args, capture_output=True, text=True)
            if r.returncode != 0:
                print("case %d: helper failed: %s" % (i, r.stderr))
                failed += 1
                continue
            ksize = 0
            for line in r.stdout.splitlines():
                ksize = int(line.split()[1])
            ours = np.fromfile(out, dtype=np.float32).reshape(3, size, size)
            ref = torchvision_ops(img, box, size, ops, ksize)
            err = float(np.abs(ours - ref).max())
            ok = err <= TOL
            failed += not ok
            print("%s case %2d box %s -> %d, ops %s: max |diff| %.2e" %
                  ("ok  " if ok else "FAIL", i, box, size,
                   ",".join("%s %g" % o for o in ops) or "crop only", err))
    print("%d of %d cases differ by more than %g" % (failed, len(cases), TOL))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
