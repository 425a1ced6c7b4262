"""``serve run deploy/ray/serve_config.yaml`` as a user runs it: answers /predict through Ray's proxy, and Ctrl-C
(SIGINT) stops every process it started. Only the port is changed, to a free one."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.client.live import free_port
from tests.ray.processes import alive, command_line, descendants, is_loopback, sockets_of
from tests.service.images import png

if importlib.util.find_spec("ray") is None and os.environ.get("CI") is None:  # CI must run them
    pytest.skip("needs the roadlens[ray] extra (make install-dev installs it)", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SERVE = Path(sys.executable).with_name("serve")
# A process started in the background inherits an ignored SIGINT; a terminal's Ctrl-C reaches a shell's
# foreground job with the default disposition, so the launcher restores it before becoming `serve`.
LAUNCH_WITH_CTRL_C = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, int]:
    text = (ROOT / "deploy" / "ray" / "serve_config.yaml").read_text()
    settings = yaml.safe_load(text)
    port = free_port()
    settings["http_options"]["port"] = port
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path, port


@pytest.fixture
def serve_run(config: tuple[Path, int], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    path, port = config
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH_WITH_CTRL_C, str(SERVE), "run", str(path)],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.mark.skipif(not SERVE.exists() and shutil.which("serve") is None, reason="Ray's serve command is missing")
def test_serve_run_answers_predict_and_ctrl_c_leaves_nothing_running(
    serve_run: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, url, log = serve_run
    give_up = time.monotonic() + 180
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < give_up, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)

    answer = httpx.post(f"{url}/predict", files={"file": ("tile.png", png(), "image/png")}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["predictions"][0]["probabilities"]) == {"road"}
    started = descendants(process.pid) | {process.pid}
    assert any(command_line(pid).startswith("ray::ServeReplica:roadlens:RoadLens") for pid in started)
    assert all(is_loopback(s.local[0]) for s in sockets_of(started) if s.listening)

    process.send_signal(signal.SIGINT)
    assert process.wait(90) is not None
    give_up = time.monotonic() + 30
    while (left := {pid: command_line(pid) for pid in started if alive(pid)}) and time.monotonic() < give_up:
        time.sleep(0.2)
    assert not left, f"still running after Ctrl-C: {left}"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/readyz", timeout=2)
