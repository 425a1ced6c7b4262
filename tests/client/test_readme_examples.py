"""The README's client and command-line examples, run as written against the live server (only the address changes)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.client.live import API_KEY, ROOT, LiveServer

README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"
LONG_RUNNING = ("serve", "train")  # they start the server or a training run: tested apart, in test_cli.py


def blocks(language: str) -> list[str]:
    """The README's code blocks in ``language``."""
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def roadlens_commands() -> list[str]:
    """The ``roadlens`` lines of the bash blocks, comments stripped, without serve and train."""
    lines = [line.split("  #")[0].strip() for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("roadlens ") and line.split()[1] not in LONG_RUNNING]


def client_snippets() -> list[str]:
    """The Python blocks that use the client."""
    return [block for block in blocks("python") if "roadlens_client" in block]


@pytest.fixture(scope="module")
def workdir(tiles: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the files the examples name: tile.png, other.jpg, tiles/, more/**/*.jpg."""
    folder = tmp_path_factory.mktemp("readme-client")
    Image.fromarray(tiles[0]).save(folder / "tile.png")
    Image.fromarray(tiles[1]).resize((256, 256)).save(folder / "other.jpg", quality=92)
    (folder / "tiles").mkdir()
    (folder / "more" / "deeper").mkdir(parents=True)
    Image.fromarray(tiles[2]).save(folder / "tiles" / "a.png")
    Image.fromarray(tiles[3]).save(folder / "more" / "deeper" / "b.jpg", quality=92)
    return folder


def environment(server: LiveServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    return {**env, "ROADLENS_URL": server.url, "ROADLENS_API_KEY": API_KEY}


def test_the_readme_shows_the_client_and_every_command() -> None:
    assert len(client_snippets()) == 2  # blocking and asyncio
    commands = {line.split()[1] for line in roadlens_commands()}
    assert commands == {"predict", "visualbackprop", "features", "explain", "segment", "class-model"}


@pytest.mark.parametrize("command", roadlens_commands())
def test_readme_command_succeeds(server: LiveServer, workdir: Path, command: str) -> None:
    argv = [sys.executable, "-m", "roadlens_client", *shlex.split(command)[1:]]
    done = subprocess.run(argv, cwd=workdir, env=environment(server), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (command, done.stderr)
    if "-o" in argv:
        check_output(workdir / argv[argv.index("-o") + 1])
    else:
        assert len(done.stdout.strip().splitlines()) >= 3, done.stdout  # a table or JSON about several files


def check_output(path: Path) -> None:
    """A PNG at least as large as the model input (mask, overlay or grid), a [0, 1] mask array, or road pieces."""
    if path.suffix == ".json":
        body = json.loads(path.read_text())
        assert {"road", "pieces", "length_px", "rule"} <= set(body)
        return
    if path.suffix == ".npy":
        mask = np.load(path)
        assert mask.shape == (96, 96) and mask.min() >= 0.0 and mask.max() == pytest.approx(1.0)
        return
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.width >= 96 and picture.height >= 96
        if "overlay" in path.name or "gradcam" in path.name:
            assert picture.mode == "RGB"


@pytest.mark.parametrize("snippet", client_snippets(), ids=["blocking", "asyncio"])
def test_readme_client_snippet_succeeds(server: LiveServer, workdir: Path, snippet: str) -> None:
    code = snippet.replace(README_URL, server.url)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=environment(server), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
