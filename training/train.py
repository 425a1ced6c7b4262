"""Train the road CNN: ``python -m training.train [--preset default|tiny] [--dry-run] [--resume] ...``.

Stages: load (or first generate) the dataset -> stratified split -> ``train_one_epoch`` / ``evaluate`` per
epoch with checkpoints -> choose the decision threshold on validation -> curves (JSON + PNG) -> export the
best epoch as a TorchScript artifact into the model store.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.augment import random_dihedral
from training.calibrate import real_report
from training.config import TrainConfig, build_parser, config_from_args
from training.curves import plot_curves
from training.data.tileset import ALL_PLANET_TAGS, TileSet
from training.export import export_model
from training.metrics import Scores, choose_threshold, score
from training.model import ModelConfig, RoadNet, build_model
from training.prepare import load_initial_weights, prepare_data
from training.randomize import Randomization, randomize

CHANNELS_LAST = torch.channels_last


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


def train_one_epoch(
    model: RoadNet,
    data: TileSet,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    generator: torch.Generator,
    epoch: int,
) -> dict[str, float]:
    """One pass over the shuffled, augmented training split; returns mean loss and accuracy."""
    model.train()
    loss_fn = nn.BCEWithLogitsLoss()
    order = torch.randperm(len(data.images), generator=generator)
    steps = math.ceil(len(order) / config.batch_size)
    if config.max_steps_per_epoch:
        steps = min(steps, config.max_steps_per_epoch)
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(range(steps), desc=f"epoch {epoch}", disable=not config.progress, leave=False, file=sys.stdout)
    for step in bar:
        index = order[step * config.batch_size : (step + 1) * config.batch_size]
        images = random_dihedral(to_float(data.images[index]), generator)
        if config.randomize:
            images = randomize(images, generator, Randomization())
        images = images.contiguous(memory_format=CHANNELS_LAST)
        targets = data.targets[index]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            logits = model(images).float()
        loss = loss_fn(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += float(loss.detach()) * len(index)
        correct += int(((logits > 0) == (targets > 0.5)).all(dim=1).sum())
        seen += len(index)
        bar.set_postfix(
            loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}", lr=f"{scheduler.get_last_lr()[0]:.4f}"
        )
    return {"loss": total_loss / seen, "accuracy": correct / seen}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Sigmoid probabilities N x L for uint8 images, in eval mode."""
    model.eval()
    chunks = [torch.sigmoid(model(to_float(images[i : i + batch_size]))) for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).numpy()


def evaluate(model: nn.Module, data: TileSet, threshold: float = 0.5) -> tuple[Scores, np.ndarray]:
    """Validation scores at a threshold, and the probabilities they came from."""
    probabilities = predict(model, data.images)
    targets = data.targets.numpy()
    eps = 1e-7
    clipped = np.clip(probabilities, eps, 1 - eps)
    loss = float(-np.mean(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped)))
    return score(probabilities, targets, loss, threshold), probabilities


def make_optimizer(
    model: RoadNet, config: TrainConfig, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with momentum; linear warm-up then cosine decay to zero, stepped every batch."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
    )
    total = max(config.epochs * steps_per_epoch, 1)
    warmup = max(int(config.warmup_epochs * steps_per_epoch), 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(step - warmup, total - warmup) / max(total - warmup, 1)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def run(config: TrainConfig, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
    """The whole pipeline; returns the summary written to ``<out>/summary.json``.

    ``stop_after``: end after that epoch with only the checkpoint written (train in sessions, then ``resume``).
    """
    started = time.monotonic()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    config.out.mkdir(parents=True, exist_ok=True)
    train, val, dataset_info = prepare_data(config)
    data_seconds = time.monotonic() - started

    model_config = ModelConfig(labels=config.labels, input_size=config.input_size)
    # channels-last + bf16 autocast roughly triple CPU training speed (oneDNN kernels, AMX where present);
    # validation, threshold choice and the exported artifact stay in float32.
    model = build_model(model_config, seed=config.seed)
    if config.init_from is not None:
        load_initial_weights(model, config.init_from)
    model.to(memory_format=CHANNELS_LAST)  # type: ignore[call-overload]  # missing from torch's stubs
    steps = math.ceil(len(train.images) / config.batch_size)
    if config.max_steps_per_epoch:
        steps = min(steps, config.max_steps_per_epoch)
    optimizer, scheduler = make_optimizer(model, config, steps)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"accuracy": -1.0}
    first_epoch = 1
    last_path, best_path = config.out / "last.pt", config.out / "best.pt"
    if resume and last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        generator.set_state(state["generator_state"])
        history, best, first_epoch = state["history"], state["best"], state["epoch"] + 1
        print(f"resumed from {last_path} after epoch {state['epoch']}")

    for epoch in range(first_epoch, config.epochs + 1):
        epoch_started = time.monotonic()
        train_stats = train_one_epoch(model, train, optimizer, scheduler, config, generator, epoch)
        val_scores, _ = evaluate(model, val)
        record = {
            "epoch": epoch,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": train_stats["loss"],
            "train_accuracy": train_stats["accuracy"],
            **{f"val_{k}": v for k, v in val_scores.to_dict().items() if k != "threshold"},
            "seconds": time.monotonic() - epoch_started,
        }
        history.append(record)
        print(format_epoch(record), flush=True)
        if val_scores.accuracy > best["accuracy"]:
            best = {"epoch": epoch, "accuracy": val_scores.accuracy}
            save_checkpoint(best_path, {"model_config": model_config.to_dict(), "model_state": model.state_dict()})
        save_checkpoint(
            last_path,
            {
                "model_config": model_config.to_dict(),
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "scheduler_state": scheduler.state_dict(),
                "generator_state": generator.get_state(),
                "history": history,
                "best": best,
                "epoch": epoch,
                "config": config.to_dict(),
            },
        )
        if stop_after is not None and epoch >= stop_after and epoch < config.epochs:
            print(f"stopped after epoch {epoch}; continue with --resume")
            return {"stopped_after": epoch, "history": history}
    return finish(config, model_config, val, history, best, dataset_info, started, data_seconds)


def finish(
    config: TrainConfig,
    model_config: ModelConfig,
    val: TileSet,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    dataset_info: dict[str, Any],
    started: float,
    data_seconds: float,
) -> dict[str, Any]:
    """Reload the best epoch, choose thresholds on validation, save curves and summary, export."""
    model = RoadNet(model_config)
    model.load_state_dict(torch.load(config.out / "best.pt", map_location="cpu", weights_only=True)["model_state"])
    model.eval()
    _, probabilities = evaluate(model, val)
    targets = val.targets.numpy()
    thresholds = {
        label: choose_threshold(probabilities[:, i], targets[:, i]) for i, label in enumerate(model_config.labels)
    }
    real: dict[str, Any] = {}
    if config.real_data is not None and model_config.labels == ("road",):
        synthetic = (probabilities, targets)
        thresholds["road"], real = real_report(
            model, config.real_data, synthetic, thresholds["road"], config.input_size
        )
    # One threshold per label; the summary scores use the first label's (the only one for `road`).
    final, _ = evaluate(model, val, threshold=thresholds[model_config.labels[0]])
    curves = [config.out / "curves.json", config.out / "curves.png"] if history else []  # a weight average has none
    if curves:
        curves[0].write_text(json.dumps(history, indent=2) + "\n")
        plot_curves(history, curves[1])
    summary: dict[str, Any] = {
        "best_epoch": best.get("epoch"),
        "thresholds": thresholds,
        "validation": final.to_dict(),
        "validation_at_0.5": evaluate(model, val)[0].to_dict(),
        "dataset": dataset_info,
        "real": real,
        "data_seconds": round(data_seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "training": config.to_dict(),
        "torch_threads": torch.get_num_threads(),
    }
    metadata = {
        "thresholds": thresholds,
        "training": {**config.to_dict(), "best_epoch": best.get("epoch"), "seconds": summary["total_seconds"]},
        "dataset": dataset_info,
        "metrics": {
            "validation": final.to_dict(),
            "validation_at_0.5": summary["validation_at_0.5"],
            **real_metrics(real),
        },
    }
    # The best checkpoint carries everything export needs, so `python -m training.export` remakes the manifest.
    save_checkpoint(
        config.out / "best.pt",
        {"model_config": model_config.to_dict(), "model_state": model.state_dict(), "metadata": metadata},
    )
    if config.store is not None:
        folder = export_model(
            model, config.store, config.name, metadata=metadata, version=config.version, calibrate=True
        )
        for file in curves:
            shutil.copy2(file, folder / file.name)
        summary["exported"] = str(folder)
    (config.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def real_metrics(real: dict[str, Any]) -> dict[str, Any]:
    """The manifest's real-imagery entry: both thresholds' figures, or nothing when no real data was scored."""
    return {"real": real} if real else {}


def format_epoch(record: dict[str, Any]) -> str:
    return (
        f"epoch {record['epoch']:>2}  train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f}  "
        f"val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f} f2 {record['val_f2']:.4f} "
        f"auc {record['val_roc_auc']:.4f}  ({record['seconds']:.0f}s)"
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from_args(args, ALL_PLANET_TAGS)
    summary = run(config, resume=args.resume, stop_after=args.stop_after)
    if "stopped_after" in summary:
        return
    validation = summary["validation"]
    print(
        f"done in {summary['total_seconds']:.0f}s: val accuracy {validation['accuracy']:.4f}, "
        f"ROC-AUC {validation['roc_auc']:.4f}, thresholds {summary['thresholds']}"
    )
    if "exported" in summary:
        print(f"exported {summary['exported']}")


if __name__ == "__main__":
    main()
