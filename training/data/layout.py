"""File and folder names of Planet's layout, shared by the writer and the loader (and free of heavy imports,
so that worker processes that only write files do not load torch)."""

from __future__ import annotations

CSV_NAME = "train_v2.csv"
IMAGE_DIR = "train-jpg"
MASK_DIR = "train-mask"
MANIFEST_NAME = "dataset.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
