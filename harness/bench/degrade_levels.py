"""The degradation table of paper/QPT.md (kernels/image/degrade.c holds it in C):
the parameters of levels 1..5 of every type, by the type's chain name. Shared by
the OpenCV peer of `biqa bench degrade` and tests/ref/degrade_vs_opencv.py, which
write the ops independently of biqa but read the same levels."""

LEVELS = {
    "sharpen": [0.5, 0.7, 0.9, 1.1, 1.3],
    "gblur": [0.5, 1.0, 1.5, 2.0, 2.5],
    "mblur": [1.2, 2.4, 3.6, 4.8, 6.0],
    "median": [3, 5, 7, 9, 11],
    "glass": [(0.1, 1), (0.3, 2), (0.5, 3), (0.7, 4), (0.9, 5)],
    "ggblur": [0.5, 1.0, 1.5, 2.0, 2.5],
    "defocus": [3, 4, 5, 6, 7],
    "zoom": [1.02, 1.04, 1.06, 1.08, 1.10],
    "iso": [(0.01, 0.1), (0.015, 0.3), (0.02, 0.5), (0.025, 0.7), (0.03, 0.9)],
    "noise": [4, 8, 12, 16, 18],
    "grey_noise": [4, 8, 12, 16, 18],
    "speckle": [0.05, 0.10, 0.15, 0.20, 0.25],
    "bright+": [1.05, 1.10, 1.15, 1.20, 1.25],
    "bright-": [0.95, 0.90, 0.85, 0.80, 0.75],
    "contrast+": [1.05, 1.10, 1.15, 1.20, 1.25],
    "contrast-": [0.95, 0.90, 0.85, 0.80, 0.75],
    "gamma+": [1.025, 1.05, 1.075, 1.10, 1.125],
    "gamma-": [0.95, 0.925, 0.90, 0.875, 0.85],
    "hue+": [3.6, 7.2, 10.8, 14.4, 18],
    "hue-": [-3.6, -7.2, -10.8, -14.4, -18],
    "sat+": [1.1, 1.2, 1.3, 1.4, 1.5],
    "sat-": [0.9, 0.8, 0.7, 0.6, 0.5],
    "jpeg": [90, 70, 50, 30, 10],
    "resize_nearest": [2.0, 2.5, 3.0, 3.5, 4.0],
    "resize_bilinear": [2.0, 2.5, 3.0, 3.5, 4.0],
    "resize_bicubic": [2.0, 2.5, 3.0, 3.5, 4.0],
}
