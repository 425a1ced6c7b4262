"""Every curl example in the README, run as written against a live server (only the address is changed)."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from service.config import Settings
from tests.client.live import LiveServer, live_server
from training.data.synthetic import SyntheticConfig, make_tile

README = Path(__file__).resolve().parents[1] / "README.md"
README_URL = "http://127.0.0.1:8000"


def readme_curl_commands() -> list[str]:
    """The `curl` lines of the README's bash blocks, comments stripped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("curl ")]


def test_readme_has_an_example_for_every_endpoint() -> None:
    text = " ".join(readme_curl_commands())
    for path in (
        "/predict",
        "/features",
        "/visualbackprop",
        "/segment",
        "/class-model",
        "/models",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert f"{README_URL}{path}" in text, path


def test_readme_configuration_table_lists_every_setting_and_only_those() -> None:
    documented = set(re.findall(r"^\| `ROADLENS_([A-Z_]+)` \|", README.read_text(), flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


@pytest.fixture(scope="module")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    folder = tmp_path_factory.mktemp("readme")
    tile = make_tile(seed=0, index=3, config=SyntheticConfig(road_fraction=1.0)).image
    Image.fromarray(tile).save(folder / "tile.png")
    buffer = io.BytesIO()
    Image.fromarray(tile).resize((256, 256)).save(buffer, format="JPEG")
    (folder / "other.jpg").write_bytes(buffer.getvalue())
    with live_server(model_store, folder) as live:
        yield live, folder


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("command", readme_curl_commands())
def test_readme_curl_example_succeeds(server: tuple[LiveServer, Path], command: str) -> None:
    live, folder = server
    argv = [arg.replace(README_URL, live.url) for arg in shlex.split(command)]
    done = subprocess.run([*argv, "--fail-with-body"], cwd=folder, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, (command, done.stdout[:500], done.stderr)
    output = argv[argv.index("-o") + 1] if "-o" in argv else None
    body = (folder / output).read_bytes() if output else done.stdout
    assert body, command
