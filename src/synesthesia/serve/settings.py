"""The server's limits and switches, one typed dataclass the command line fills in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synesthesia.errors import SynesthesiaError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServeError(SynesthesiaError):
    """A request or a server setting the server cannot accept; the message says why."""


@dataclass
class ServeSettings:
    """Limits of what one request may ask for, and how requests wait and are batched."""

    host: str = "127.0.0.1"          # interface to bind; anything but loopback warns without a token
    port: int = 7860                  # TCP port
    token: str | None = None          # when set, the API and the UI require it (Bearer header or cookie)
    max_upload_mb: float = 10.0       # largest request body in MB; larger ones get 413 unread
    max_prompt_chars: int = 500       # longest caption a request may give
    max_pixels: int = 16_000_000      # largest image (width x height, and per video frame)
    max_side: int = 8192              # largest image width or height in pixels
    max_audio_seconds: float = 30.0   # longest sound a request may give
    max_video_frames: int = 600       # most frames a video may have (from its header)
    max_video_pixels: int = 50_000_000  # most frames x width x height of a video
    max_n: int = 16                   # most outputs one request may ask for
    max_rounds: int = 10              # most rounds of the image -> text -> image cycle
    max_steps: int = 500              # most MCMC steps a request may ask for
    max_chains: int = 16              # most MCMC chains a request may ask for
    queue_size: int = 64              # requests waiting at most; a full queue answers 503
    timeout_s: float = 60.0           # a request waiting or running longer gets 504
    batching: bool = True             # batch requests that wait for the same run and direction
    batch_window_ms: float = 5.0      # how long the first request of a batch waits for others
    max_batch_rows: int = 256         # most generated outputs (inputs x n) in one batched call
    video_format: str = "gif"         # default format of generated videos: gif or mp4
    ui: bool = True                   # mount the gradio web UI at /
    temp_dir: Path | None = None      # the server's temporary folder (default: a fresh one)
    threads: int | None = None        # torch threads for generation (default: torch's own)
    device: str = "cpu"               # torch device the runs are loaded on (cpu, cuda, cuda:1, ...)

    def __post_init__(self) -> None:
        if self.max_upload_mb <= 0:
            raise ServeError(f"--max-upload-mb must be positive, got {self.max_upload_mb}")
        if self.queue_size < 1:
            raise ServeError(f"--queue-size must be at least 1, got {self.queue_size}")
        if self.timeout_s <= 0:
            raise ServeError(f"--timeout must be positive, got {self.timeout_s}")
        if self.video_format not in ("gif", "mp4"):
            raise ServeError(f"--video-format must be gif or mp4, got {self.video_format!r}")
        if self.token is not None and len(self.token) < 8:
            raise ServeError("--token must be at least 8 characters long")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def exposed(self) -> bool:
        """True when the server listens beyond this machine."""
        return self.host not in LOOPBACK
