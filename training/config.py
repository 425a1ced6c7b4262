"""Training configuration: one dataclass, a few named presets, and the command-line mapping.

``default`` is the brief's set-up (32,384 train / 8,095 validation synthetic tiles, batch 96, lr 0.01) and
made ``roadnet/1``; ``real`` made ``roadnet/2`` (the same split and optimiser on generator-2 tiles with domain
randomisation, from roadnet/1's weights, threshold calibrated on real tune tiles); ``rural-1`` ... ``rural`` made
``roadnet/3`` from roadnet/2 (``python -m training.rural``); ``avenues-1`` ... ``avenues`` made the shipped
``roadnet/4`` from roadnet/2 on generator-3 tiles (``python -m training.recipes avenues``); ``lookalikes-1`` and
``lookalikes-2`` fine-tune roadnet/4 on generator-5 tiles for ``roadnet/5`` (``python -m training.recipes
lookalikes``, which ends with a weight average); ``tiny`` trains end to end in seconds for tests and CI
(``--dry-run`` is an alias).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

ALL_LABELS = "all"


@dataclass(frozen=True)
class TrainConfig:
    # data
    data: Path = Path("data/synthetic")
    generate: bool = True  # write the synthetic dataset first when `data` has none
    count: int = 40_479  # tiles generated (Planet's train_v2 size); 32,384 + 8,095
    n_val: int = 8_095
    data_seed: int = 0
    road_fraction: float = 0.5
    labels: tuple[str, ...] = ("road",)
    input_size: int = 96
    generator_version: int = 1  # synthetic generator (2: towns and real-world distractors, see data.md)
    randomize: bool = False  # domain randomisation of training batches (training/randomize.py)
    tune_data: Path | None = None  # a path,label CSV of real tiles mixed into every training epoch
    tune_repeat: int = 1  # how many times each of those tiles is seen per epoch
    real_data: Path | None = None  # a folder written by training.real.build: scored and used for calibration
    init_from: Path | None = None  # start from these weights (an exported model.pt or a training checkpoint)
    # optimisation (the brief: batch 96, lr 0.01)
    epochs: int = 8
    batch_size: int = 96
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.5
    seed: int = 0
    threads: int = 2
    max_steps_per_epoch: int | None = None
    precision: str = "bf16"  # training autocast: "bf16" or "fp32"
    # outputs
    out: Path = Path("runs/default")
    store: Path | None = Path("model_store")
    name: str = "roadnet"
    version: int | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self).items()}


# generator-2 tiles, the real set scored and used for calibration, float32: what roadnet/2 and roadnet/3 share
GENERATOR_2 = TrainConfig(
    data=Path("data/synthetic-v2"), generator_version=2, real_data=Path("data/real"), precision="fp32"
)
WITH_TUNE_TILES = replace(GENERATOR_2, tune_data=Path("data/real/tune.csv"), tune_repeat=20, epochs=2)

PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    # roadnet/2: starts from roadnet/1, generator 2, domain randomisation, threshold calibrated on real tune tiles
    "real": replace(
        GENERATOR_2,
        randomize=True,
        init_from=Path("model_store/roadnet/1/model.pt"),
        epochs=2,
        out=Path("runs/real"),
    ),
    # roadnet/3, in four stages from roadnet/2 (python -m training.rural runs them in order): more epochs with
    # domain randomisation; then without it, at a lower rate, which lifts synthetic accuracy; then twice the same
    # with the real tune tiles (rural road-free ones among them) mixed into every epoch; the last one exports
    "rural-1": replace(
        GENERATOR_2,
        randomize=True,
        init_from=Path("model_store/roadnet/2/model.pt"),
        epochs=4,
        lr=0.005,
        out=Path("runs/rural-1"),
        store=None,
    ),
    "rural-2": replace(
        GENERATOR_2, init_from=Path("runs/rural-1/best.pt"), epochs=2, lr=0.003, out=Path("runs/rural-2"), store=None
    ),
    "rural-3": replace(
        WITH_TUNE_TILES, init_from=Path("runs/rural-2/best.pt"), lr=0.003, out=Path("runs/rural-3"), store=None
    ),
    "rural": replace(WITH_TUNE_TILES, init_from=Path("runs/rural-3/best.pt"), lr=0.002, out=Path("runs/rural")),
    "tiny": TrainConfig(
        data=Path("runs/tiny/data"),
        count=1_600,
        n_val=400,
        epochs=4,
        out=Path("runs/tiny"),
        store=Path("runs/tiny/model_store"),
        name="roadnet-tiny",
        precision="fp32",  # bf16 autocast is 3x slower than float32 on CPUs without AMX (an AMD EPYC here)
    ),
}


def _on_generator_3(stage: TrainConfig, **changes: Any) -> TrainConfig:
    return replace(stage, data=Path("data/synthetic-v3"), generator_version=3, **changes)


# roadnet/4: the first three stages of roadnet/3's recipe, from roadnet/2, on generator-3 tiles (tree-lined roads
# and double tree rows); python -m training.recipes avenues runs them in order and the last one exports
PRESETS.update(
    {
        "avenues-1": _on_generator_3(PRESETS["rural-1"], out=Path("runs/avenues-1")),
        "avenues-2": _on_generator_3(
            PRESETS["rural-2"], init_from=Path("runs/avenues-1/best.pt"), out=Path("runs/avenues-2")
        ),
        "avenues": _on_generator_3(
            PRESETS["rural-3"],
            init_from=Path("runs/avenues-2/best.pt"),
            out=Path("runs/avenues"),
            store=Path("model_store"),
        ),
    }
)


def _on_generator_5(stage: TrainConfig, **changes: Any) -> TrainConfig:
    return replace(stage, data=Path("data/synthetic-v5"), generator_version=5, **changes)


# roadnet/5: roadnet/4 fine-tuned by the last two avenues stages on generator-5 tiles (roads, gullies, breakwaters
# and field edges across a corner); python -m training.recipes lookalikes then averages the result half and half
# with roadnet/4 (training.soup, BatchNorm re-estimated on these tiles) and exports that
PRESETS.update(
    {
        "lookalikes-1": _on_generator_5(
            PRESETS["avenues-2"], init_from=Path("model_store/roadnet/4/model.pt"), out=Path("runs/lookalikes-1")
        ),
        "lookalikes-2": _on_generator_5(
            PRESETS["avenues"], init_from=Path("runs/lookalikes-1/best.pt"), out=Path("runs/lookalikes-2"), store=None
        ),
    }
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train the road CNN, validate every epoch, and export a TorchScript artifact to the model store.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="starting configuration")
    parser.add_argument("--dry-run", action="store_true", help="the tiny preset: trains end to end in seconds")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this epoch (then --resume)")
    parser.add_argument("--no-export", action="store_true", help="skip exporting to the model store")
    parser.add_argument("--no-generate", action="store_true", help="fail instead of generating missing data")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs one line per epoch)")
    parser.add_argument("--randomize", action=argparse.BooleanOptionalAction, default=None, help="domain randomisation")
    parser.add_argument(
        "--label",
        dest="labels",
        default=None,
        help="label(s) to learn: 'road' (default), a comma-separated list, or 'all' for the 17 Planet tags",
    )
    for option, kind, text in (
        ("data", Path, "dataset folder (Planet layout, CSV of path,label, or road/ + no_road/ folders)"),
        ("count", int, "synthetic tiles to generate when the folder is empty"),
        ("n-val", int, "validation tiles (stratified split)"),
        ("data-seed", int, "seed of the synthetic generator"),
        ("road-fraction", float, "share of synthetic tiles with a road"),
        ("generator-version", int, "synthetic generator version (1, 2 or 3; see docs/data.md)"),
        ("tune-data", Path, "a path,label CSV of real tiles to mix into training"),
        ("tune-repeat", int, "times each real tile is seen per epoch"),
        ("real-data", Path, "folder written by training.real.build (scored; threshold calibration)"),
        ("init-from", Path, "start from these weights: an exported model.pt or a training checkpoint"),
        ("epochs", int, "training epochs"),
        ("batch-size", int, "mini-batch size"),
        ("lr", float, "peak learning rate (SGD with momentum)"),
        ("weight-decay", float, "L2 weight decay"),
        ("seed", int, "seed for weights, shuffling and augmentation"),
        ("threads", int, "torch CPU threads"),
        ("precision", str, "training arithmetic: bf16 (autocast, default) or fp32"),
        ("max-steps-per-epoch", int, "cap steps per epoch (smoke runs)"),
        ("out", Path, "run folder: checkpoints, curves, logs"),
        ("store", Path, "model store to export into"),
        ("name", str, "model name in the store"),
        ("version", int, "model version (default: next free)"),
    ):
        parser.add_argument(f"--{option}", type=kind, default=None, help=text)
    return parser


def config_from_args(args: argparse.Namespace, all_labels: tuple[str, ...]) -> TrainConfig:
    """The preset, overridden by every option given on the command line."""
    config = PRESETS["tiny" if args.dry_run else args.preset]
    overrides: dict[str, Any] = {}
    for field in fields(TrainConfig):
        value = getattr(args, field.name, None)
        if value is not None and field.name != "labels":
            overrides[field.name] = value
    if args.labels:
        overrides["labels"] = all_labels if args.labels == ALL_LABELS else tuple(args.labels.split(","))
    if args.no_export:
        overrides["store"] = None
    if args.no_generate:
        overrides["generate"] = False
    if args.no_progress:
        overrides["progress"] = False
    if args.randomize is not None:
        overrides["randomize"] = args.randomize
    config = replace(config, **overrides)
    if config.precision not in ("bf16", "fp32"):
        raise SystemExit(f"--precision must be bf16 or fp32, not {config.precision!r}")
    return config
