"""The service's one settings object: read once (flags, ``ROADLENS_*`` environment variables, defaults), then passed in.

Every value is typed and checked when ``Settings`` is built, so a bad value stops the process at start-up with a
message naming the setting, instead of failing on the first request.
"""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The shipped store sits next to the package, so ``python -m service`` finds it from any working directory.
DEFAULT_MODEL_STORE = Path(__file__).resolve().parent.parent / "model_store"
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"
MiB = 1024 * 1024


def half_the_cores() -> int:
    """Half of this machine's CPU cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def gpu_present() -> bool:
    """True when an NVIDIA driver exposes a device here (read without importing torch)."""
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/gpus").is_dir()


def default_workers(settings: Settings) -> int:
    """HTTP front-end processes when the settings name none: the cores the engine process leaves free.

    The engine needs its torch threads on CPU and about one core to feed a GPU; every other core serves HTTP.
    """
    cores = os.cpu_count() or 2
    on_gpu = settings.device.startswith("cuda") or (settings.device == "auto" and gpu_present())
    engine_cores = 1 if on_gpu else settings.torch_threads
    return max(1, cores - engine_cores)


def connections_allowed() -> int:
    """1024 client connections, or fewer when the process may not open that many files (model files, logs and
    the image threads need some of them)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft - 64))


class Settings(BaseSettings):
    """RoadLens service settings. Environment variable: ``ROADLENS_`` + the upper-case field name."""

    model_config = SettingsConfigDict(env_prefix="ROADLENS_", extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address to listen on (0.0.0.0 in a container).")
    workers: int | None = Field(
        default=None,
        ge=0,
        le=512,
        description="HTTP front-end processes feeding one engine process; 0: one process does everything. "
        "Default: the CPU cores the engine leaves free (at least 1).",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port to listen on.")
    model_store: Path = Field(default=DEFAULT_MODEL_STORE, description="Model store root: <store>/<name>/<version>/.")
    default_model: str | None = Field(
        default=None,
        pattern=MODEL_NAME_PATTERN,
        description="Model served when a request names none (default: the only one).",
    )
    device: str = Field(default="auto", pattern=DEVICE_PATTERN, description="auto, cpu, cuda or cuda:N.")
    max_batch_size: int = Field(default=32, ge=1, le=1024, description="Largest device batch (images).")
    # 0 (Triton's default): a batch forms from whatever queued while the device was busy, so a lone request
    # never waits; measured on 2 CPU cores, 2 ms cost concurrency 1 40 % of its throughput and gained nothing at 32.
    max_wait_ms: float = Field(
        default=0.0, ge=0, le=60_000, description="Longest wait for a batch to fill, in milliseconds (0: no waiting)."
    )
    max_queue: int = Field(default=1024, ge=0, description="Queued images per model before 429; 0 = unbounded.")
    warmup: bool = Field(default=True, description="Run every forward-pass size once before reporting ready.")
    # On a small CPU host the event loop, the image threads and the device worker share the cores: measured on
    # 2 cores, one torch thread and one image thread served 563 req/s at concurrency 32 where 2 + 4 served 445.
    torch_threads: int = Field(
        default_factory=half_the_cores, ge=1, description="torch intra-op threads (default: half the CPU cores)."
    )
    decode_threads: int = Field(
        default_factory=half_the_cores,
        ge=1,
        le=64,
        description="Threads that decode, resize and encode images (default: half the CPU cores).",
    )
    # Measured on 2 cores at concurrency 32 with 96 x 96 PNG tiles: decoding on the event loop served 756 req/s
    # where the thread pool served 585 (interleaved turns); the hop to a thread and back cost more than the decode.
    inline_decode_max_pixels: int = Field(
        default=128 * 128,
        ge=0,
        description="Requests whose images have at most this many pixels in all (read from their headers) are "
        "decoded on the event loop; larger ones in the image threads. 0: always the threads.",
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, description="Per-request deadline; X-Request-Timeout-Ms can only lower it."
    )
    max_body_bytes: int = Field(default=20 * MiB, ge=1024, description="Largest request body, checked while reading.")
    # Pillow refuses images above about 179 M pixels on its own, whatever this says.
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Largest image (width x height) accepted: a decompression-bomb guard."
    )
    max_form_parts: int = Field(
        default=128,
        ge=1,
        le=100_000,
        description="Most parts (form fields and files) in a multipart body; 413 beyond, found while parsing.",
    )
    max_output_pixels: int = Field(
        default=2048 * 2048,
        ge=1,
        description="Largest map or overlay returned at the upload's size (size=input), width x height; a larger "
        "upload with size=input answers 422 (size=model always works).",
    )
    max_images_per_request: int = Field(default=64, ge=1, le=4096, description="Most images in one /predict request.")
    explain_max_batch: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Most forward passes in one device batch of an explanation (occlusion, SmoothGrad and "
        "integrated gradients pack their many passes into batches of this size); default: 16 on CPU (larger "
        "batches spill the caches and run slower per image), 128 on CUDA.",
    )
    forward_max_batch: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Most images in one forward pass of /predict, /features and /visualbackprop; a larger device "
        "batch runs as several passes in one worker job. Default: 8 on CPU (measured on 2 cores: one pass of 32 "
        "cost 2.1-2.4x more per image than passes of 8), the whole batch on CUDA.",
    )
    keep_freed_memory: bool = Field(
        default=True,
        description="Tell glibc's malloc to keep freed memory for reuse (mmap threshold 32 MiB, trim threshold "
        "256 MiB), so forward passes stop page-faulting their activations in; skipped when MALLOC_TRIM_THRESHOLD_ "
        "or MALLOC_MMAP_THRESHOLD_ is set. Off: glibc's defaults.",
    )
    explain_max_samples: int = Field(default=128, ge=1, le=10_000, description="Largest SmoothGrad samples.")
    explain_max_steps: int = Field(default=128, ge=1, le=10_000, description="Largest integrated-gradients steps.")
    explain_min_window: int = Field(default=4, ge=1, description="Smallest occlusion window, in pixels.")
    explain_min_stride: int = Field(default=2, ge=1, description="Smallest occlusion stride, in pixels.")
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="API keys, comma-separated; empty = no authentication."
    )
    metrics_public: bool = Field(default=True, description="Serve /metrics without an API key even when keys are on.")
    idle_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds a connection with no request in progress (new, or kept alive after a response) may "
        "stay silent before the server closes it.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds from a request's first byte until its headers are complete; 408 after that.",
    )
    body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds from the end of a request's headers until its whole body has arrived; 408 after that.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line plus headers, in bytes; 431 beyond, checked while they arrive.",
    )
    max_connections: int = Field(
        default_factory=connections_allowed,
        ge=1,
        description="Most open client connections per server process; one more is answered 503 and closed "
        "(default: 1024, or the open-file limit less 64 when that is lower).",
    )
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, description="Grace period for in-flight requests on shutdown."
    )
    access_log: bool = Field(default=True, description="Log one line per request (uvicorn's access log).")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Log level."
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Accept ``"k1,k2"`` (environment, flags) as well as a sequence; blanks are dropped."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            keys = [k.strip() if isinstance(k, str) else k for k in value]
            return tuple(k for k in keys if k != "")
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_not_trivial(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        """Refuse keys short enough to guess, and characters that cannot travel in a header."""
        for key in value:
            secret = key.get_secret_value()
            if len(secret) < 16 or not re.fullmatch(r"[\x21-\x7e]+", secret):
                raise ValueError("each API key needs at least 16 printable ASCII characters and no spaces")
        return value

    @model_validator(mode="after")
    def _parts_for_every_image(self) -> Settings:
        """A multipart body must be able to carry as many images as a request may have."""
        if self.max_form_parts < self.max_images_per_request:
            raise ValueError(
                f"max_form_parts ({self.max_form_parts}) must be at least max_images_per_request "
                f"({self.max_images_per_request}): each image is one part"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        """True when at least one API key is configured."""
        return bool(self.api_keys)
