"""Evaluate the explanations of a model in the store and write ``docs/explanations.md`` with its figures.

    python -m training.explanations [--store model_store --name roadnet | --model-dir DIR] [--tiles 96]
        [--out docs/explanations.md] [--figures docs/figures/explanations]

The report (``--out``) holds the tables, the figures and what the numbers mean for someone choosing a method; then
the road masks of ``POST /segment`` against the true masks, and the class-model images of ``GET /class-model``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from training.explanations.ci import ci_options
from training.explanations.class_models import class_model_images
from training.explanations.evaluate import evaluate, latest_version
from training.explanations.report import write_report
from training.explanations.results import Options
from training.explanations.segment_evaluate import SegmentOptions, evaluate_segmentation


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m training.explanations", description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="model store root")
    parser.add_argument("--name", default="roadnet", help="model name (its newest version is evaluated)")
    parser.add_argument("--model-dir", type=Path, default=None, help="an artifact folder (overrides --store/--name)")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the manifest's)")
    parser.add_argument("--tiles", type=int, default=96, help="road tiles scored")
    parser.add_argument("--sanity-tiles", type=int, default=16, help="tiles of the randomisation check")
    parser.add_argument("--curve-steps", type=int, default=16, help="steps of the deletion / insertion curves")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("docs/explanations.md"), help="Markdown report")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/explanations"), help="figure folder")
    parser.add_argument("--no-ci-run", action="store_true", help="skip the CI-sized run reported beside the bars")
    parser.add_argument("--segment-tiles", type=int, default=500, help="validation tiles per class for the masks")
    parser.add_argument("--calibration-tiles", type=int, default=150, help="calibration tiles per class")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Evaluate, then write the report and its figures."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model_dir = args.model_dir or latest_version(args.store, args.name)
    options = Options(model_dir, args.tiles, args.sanity_tiles, args.curve_steps, data=args.data)
    evaluation = evaluate(options)
    ci = None if args.no_ci_run else evaluate(ci_options(model_dir))
    masks = SegmentOptions(model_dir, args.segment_tiles, args.calibration_tiles, args.data)
    segmentation = evaluate_segmentation(masks)
    images = class_model_images(model_dir, [str(label) for label in evaluation.manifest["labels"]])
    write_report(evaluation, args.out, args.figures, ci, segmentation, images)
    seconds = evaluation.seconds + segmentation.seconds
    print(f"wrote {args.out} and {args.figures}/ in {seconds:.0f} s")


if __name__ == "__main__":
    main()
