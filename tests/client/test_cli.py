"""The ``roadlens`` command as a subprocess against the live server: output, files written, exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.client.live import API_KEY, ROOT, LiveServer, free_port

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REJECTED, EXIT_NOT_INSTALLED = 0, 1, 2, 3, 4, 6


def roadlens(
    *args: str, server: LiveServer | None = None, cwd: Path | None = None, key: str | None = API_KEY
) -> subprocess.CompletedProcess[str]:
    """Run ``roadlens args`` (``python -m roadlens_client``), pointed at ``server`` through the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    if server is not None:
        env["ROADLENS_URL"] = server.url
        if key:
            env["ROADLENS_API_KEY"] = key
    command = [sys.executable, "-m", "roadlens_client", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=120)


def assert_clean_failure(run: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    """Exit ``code``, one ``roadlens: error:`` line naming ``words``, no traceback."""
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("roadlens: error:") and words in run.stderr, run.stderr


def test_the_console_script_is_installed_and_explains_itself() -> None:
    script = Path(sys.executable).parent / "roadlens"
    assert script.exists(), "install the client: pip install -e client"
    run = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == EXIT_OK
    for word in ("predict", "visualbackprop", "features", "explain", "serve", "train", "exit codes", "ROADLENS_URL"):
        assert word in run.stdout


def test_predict_a_folder_a_glob_and_a_file_as_a_table(server: LiveServer, tile_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    pattern = str(tile_dir / "**" / "*.jpg")
    run = roadlens("predict", str(tile_dir), pattern, str(tmp_path / "broken.png"), "--progress", server=server)
    assert run.returncode == EXIT_FAILED, run.stderr  # one file failed, the others were answered
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["file", "road", "label"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert len(rows) == 5  # 3 PNG + the JPEG (found twice, listed once) + the broken file
    for name, cells in rows.items():
        if name.endswith("broken.png"):
            assert cells[:2] == ["error:", "invalid_image:"]
        else:
            assert 0.0 < float(cells[0]) < 1.0 and cells[1] in ("road", "-")
    assert "5/5" in run.stderr  # the progress bar reached the end


def test_predict_as_json(server: LiveServer, tile_dir: Path) -> None:
    run = roadlens(
        "predict", str(tile_dir / "tile-0.png"), str(tile_dir / "tile-1.png"), "--json", "-j", "2", server=server
    )
    assert run.returncode == EXIT_OK, run.stderr
    answers = json.loads(run.stdout)
    assert [Path(a["file"]).name for a in answers] == ["tile-0.png", "tile-1.png"]
    assert all(a["model"] == {"name": "roadnet", "version": 2} for a in answers)
    assert all(0.0 < a["probabilities"]["road"] < 1.0 for a in answers)


def test_feature_maps_as_an_npz_archive(server: LiveServer, tile_dir: Path, tmp_path: Path) -> None:
    # PNG outputs of visualbackprop, features and explain run as the README's examples (test_readme_examples.py).
    args = ("features", str(tile_dir / "tile-1.png"), "--layer", "block0", "--layer", "block3")
    run = roadlens(*args, "-o", str(tmp_path / "maps.npz"), server=server)
    assert run.returncode == EXIT_OK and "wrote" in run.stderr, run.stderr
    with np.load(tmp_path / "maps.npz") as archive:
        assert {name: archive[name].shape for name in archive.files} == {"block0": (8, 96, 96), "block3": (64, 12, 12)}


def test_server_side_refusals_exit_4_with_the_servers_words(server: LiveServer, tile_dir: Path, tmp_path: Path) -> None:
    tile = str(tile_dir / "tile-0.png")
    bad_layer = roadlens("features", tile, "--layer", "block9", "-o", str(tmp_path / "g.png"), server=server)
    assert_clean_failure(bad_layer, EXIT_REJECTED, "422 invalid_parameter: unknown layer(s) block9")
    no_key = roadlens("visualbackprop", tile, "-o", str(tmp_path / "m.png"), server=server, key=None)
    assert_clean_failure(no_key, EXIT_REJECTED, "401 unauthorized")
    assert "ROADLENS_API_KEY" in no_key.stderr
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "m.png").exists()


def test_usage_errors_exit_2_and_an_absent_server_exits_3(tile_dir: Path, tmp_path: Path) -> None:
    tile = str(tile_dir / "tile-0.png")
    assert_clean_failure(roadlens("predict", str(tmp_path / "nothing-here")), EXIT_USAGE, "no such file")
    assert_clean_failure(roadlens("features", tile, "-o", str(tmp_path / "x.gif")), EXIT_USAGE, "must end in .png")
    unreachable = roadlens("predict", tile, "--url", f"http://127.0.0.1:{free_port()}")
    assert_clean_failure(unreachable, EXIT_UNREACHABLE, "cannot reach")
    assert roadlens("predict").returncode == EXIT_USAGE  # argparse: PATH is required


def test_serve_and_train_pass_their_arguments_through(tmp_path: Path) -> None:
    serve = roadlens("serve", "--help")
    assert serve.returncode == EXIT_OK and "usage: python -m service" in serve.stdout
    # A stand-in training.train in the working directory (which `python -m` searches first) shows the
    # arguments arriving unchanged and the exit code coming back, without importing torch.
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "__init__.py").write_text("")
    echo = "import json, sys\nprint(json.dumps(sys.argv[1:]))\nsys.exit(7)\n"
    (tmp_path / "training" / "train.py").write_text(echo)
    train = roadlens("train", "--dry-run", "--epochs", "2", "--help", cwd=tmp_path)
    assert train.returncode == 7, train.stderr
    assert json.loads(train.stdout) == ["--dry-run", "--epochs", "2", "--help"]


def test_serve_says_clearly_when_the_server_is_not_installed(tmp_path: Path) -> None:
    # A None entry in sys.modules makes the package unimportable, as in an environment with only the client.
    hide = "import sys; sys.modules['service'] = None; from roadlens_client.cli import main; main(['serve'])"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", hide], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert_clean_failure(run, EXIT_NOT_INSTALLED, "is not installed")
