"""``ServeConfig``: the service's limits and address (frozen; the CLI builds it from options)."""

from __future__ import annotations

from dataclasses import dataclass

from cxrlab.errors import ConfigError


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    #: Largest accepted upload (the file itself); bigger requests get 413 before being read fully.
    max_upload_bytes: int = 32 * 1024 * 1024
    #: Largest decoded image (width x height); bigger ones (decompression bombs) get 413.
    max_pixels: int = 50_000_000
    #: Inferences running at once; further requests wait their turn.
    max_concurrent: int = 2
    #: ONNX Runtime intra-op threads per inference (0 = ONNX Runtime's default). One thread per
    #: inference with ``max_concurrent`` ~ cores measured 2x the throughput of ORT's default.
    threads: int = 1
    #: Seconds an upload may go without sending a byte (the whole body: 10x that) before 408.
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve.port must be 0-65535, got {self.port}")
        if self.max_upload_bytes < 1024:
            raise ConfigError(f"serve.max_upload_bytes must be at least 1024, got {self.max_upload_bytes}")
        if self.max_pixels < 64 * 64:
            raise ConfigError(f"serve.max_pixels must be at least 4096, got {self.max_pixels}")
        if not self.read_timeout_s > 0:
            raise ConfigError(f"serve.read_timeout_s must be > 0, got {self.read_timeout_s}")
        if self.max_concurrent < 1 or self.threads < 0:
            raise ConfigError("serve.max_concurrent must be >= 1 and serve.threads >= 0")
