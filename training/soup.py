"""Weight averages of finished runs: ``python -m training.soup --preset P --checkpoint A --checkpoint B [...]``.

Runs fine-tuned from one starting point usually end in one basin of the loss, where the average of their weights
is itself a good model and sometimes a more robust one ("model soups"; with one of the runs being the starting
model, "WiSE-FT"). It costs nothing to serve: the brief's network, one forward pass. The averaged BatchNorm
statistics do not belong to the averaged weights, so they are re-estimated on the preset's synthetic training
tiles; then, exactly as after training, the threshold is chosen on validation (and on the real tune tiles where
the preset scores a real set), and the result is written as a checkpoint and, with ``--store``, exported.

The model card's "Tried after version 4" tables were made with this command, and ``roadnet/5`` is one: the last
step of ``python -m training.recipes lookalikes``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import PRESETS
from training.model import ModelConfig, RoadNet
from training.prepare import is_artifact, prepare_data, read_weights
from training.train import finish, save_checkpoint, to_float


def average_states(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of each floating-point tensor; integer buffers (BatchNorm's batch count) from the first."""
    if len(states) != len(weights) or not states:
        raise ValueError(f"{len(states)} states and {len(weights)} weights: give one weight per state")
    if {frozenset(state) for state in states} != {frozenset(states[0])}:
        raise ValueError("the checkpoints hold different tensors: they are not the same network")
    total = float(sum(weights))
    averaged = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            averaged[key] = sum((w / total) * s[key] for s, w in zip(states, weights, strict=True))
        else:
            averaged[key] = first.clone()
    return averaged  # type: ignore[return-value]  # sum() of tensors is a tensor


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> None:
    """Replace every BatchNorm layer's running statistics by their mean over ``images`` (uint8 N x 3 x H x W)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over all batches instead of an exponential one
    model.train()
    for start in range(0, len(images), batch_size):
        model(to_float(images[start : start + batch_size]))
    model.eval()
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


def model_config_of(paths: list[Path]) -> ModelConfig:
    """The network of the first checkpoint written by training (an exported ``model.pt`` holds no config)."""
    for path in paths:
        if not is_artifact(path):
            return ModelConfig.from_dict(torch.load(path, map_location="cpu", weights_only=False)["model_config"])
    raise SystemExit("give at least one checkpoint written by training.train (a best.pt): it names the network")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.soup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True, help="whose data, split and real set")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        required=True,
        help="a best.pt or an exported model.pt (twice or more; at least one best.pt)",
    )
    parser.add_argument(
        "--weight", type=float, action="append", default=None, help="one per checkpoint (default: equal)"
    )
    parser.add_argument("--data", type=Path, default=None, help="another synthetic set than the preset's")
    parser.add_argument("--generator-version", type=int, default=None, help="the generator of --data")
    parser.add_argument("--bn-tiles", type=int, default=8192, help="training tiles for the BatchNorm statistics")
    parser.add_argument("--out", type=Path, required=True, help="folder for best.pt, summary.json and curves")
    parser.add_argument("--store", type=Path, default=None, help="export into this model store (default: no export)")
    parser.add_argument("--name", default="roadnet", help="model name in the store")
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    weights = args.weight or [1.0] * len(args.checkpoint)
    if len(args.checkpoint) < 2 or len(weights) != len(args.checkpoint) or min(weights) < 0 or sum(weights) <= 0:
        raise SystemExit("give two or more --checkpoint, and either no --weight or one non-negative --weight each")
    started = time.monotonic()
    config = replace(
        PRESETS[args.preset], tune_data=None, init_from=None, out=args.out, store=args.store, name=args.name
    )
    if args.data is not None:
        config = replace(config, data=args.data, generator_version=args.generator_version or config.generator_version)
    torch.set_num_threads(config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    train, val, dataset_info = prepare_data(config)
    model_config = model_config_of(args.checkpoint)
    model = RoadNet(model_config)
    model.load_state_dict(average_states([read_weights(path) for path in args.checkpoint], weights))
    reestimate_batchnorm(model, train.images[: args.bn_tiles])
    dataset_info["averaged_from"] = {
        "checkpoints": [str(path) for path in args.checkpoint],
        "weights": [w / sum(weights) for w in weights],
        "batchnorm_tiles": min(args.bn_tiles, len(train.images)),
    }
    save_checkpoint(config.out / "best.pt", {"model_config": model_config.to_dict(), "model_state": model.state_dict()})
    summary = finish(config, model_config, val, [], {}, dataset_info, started, time.monotonic() - started)
    validation = summary["validation"]
    print(f"validation accuracy {validation['accuracy']:.4f} at threshold {validation['threshold']:.4f}")
    if "exported" in summary:
        print(f"exported {summary['exported']}")
    return summary


if __name__ == "__main__":
    main()
