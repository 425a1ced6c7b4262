"""Settings: flags over environment over defaults, typed, and refused at start-up when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.__main__ import build_parser, load_settings
from service.config import DEFAULT_MODEL_STORE, Settings
from tests.service.conftest import API_KEY

ROOT = Path(__file__).resolve().parents[2]


def settings_from(argv: list[str]) -> Settings:
    return load_settings(build_parser().parse_args(argv))


def test_defaults() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.device) == ("127.0.0.1", 8000, "auto")
    assert settings.model_store == DEFAULT_MODEL_STORE == ROOT / "model_store"
    assert (settings.max_batch_size, settings.max_wait_ms, settings.max_queue) == (32, 0.0, 1024)
    assert settings.request_timeout_s == 10.0 and settings.max_body_bytes == 20 * 1024 * 1024
    assert settings.api_keys == () and not settings.auth_enabled and settings.metrics_public


def test_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROADLENS_MAX_BATCH_SIZE", "16")
    monkeypatch.setenv("ROADLENS_PORT", "9000")
    monkeypatch.setenv("ROADLENS_API_KEYS", f"{API_KEY}, {API_KEY[::-1]} ,")
    settings = settings_from(["--port", "9100", "--no-warmup", "--device", "cuda:1"])
    assert settings.max_batch_size == 16  # environment
    assert settings.port == 9100  # the flag wins
    assert settings.warmup is False and settings.device == "cuda:1"
    assert [key.get_secret_value() for key in settings.api_keys] == [API_KEY, API_KEY[::-1]]
    assert API_KEY not in repr(settings)  # keys never end up in logs


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--port", "0"], "port"),
        (["--device", "gpu"], "device"),
        (["--max-batch-size", "many"], "max_batch_size"),
        (["--max-wait-ms", "-1"], "max_wait_ms"),
        (["--api-keys", "short"], "api_keys"),
        (["--default-model", "../up"], "default_model"),
        (["--request-timeout-s", "0"], "request_timeout_s"),
        (["--log-level", "loud"], "log_level"),
    ],
)
def test_bad_values_stop_the_start(argv: list[str], named: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        settings_from(argv)
    assert named in str(stopped.value)


def test_every_setting_has_a_flag_and_a_description() -> None:
    help_text = build_parser().format_help()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert "--" + name.replace("_", "-") in help_text, name
        assert f"ROADLENS_{name.upper()}" in help_text, name
