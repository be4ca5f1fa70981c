"""``synesthesia serve``: the REST API and the web UI for one or more trained runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synesthesia.serve.settings import ServeError, ServeSettings

DESCRIPTION = """\
Serve trained runs over HTTP: a REST API under /v1 (GET /v1/health, GET /v1/models,
POST /v1/generate, POST /v1/cycle, POST /v1/sample; OpenAPI docs at /docs) and a web UI at /
with one tab per kind of direction the runs serve (text→image, image→text, sound→image,
text→video, image→sound, the image→text→image cycle, joint samples).

With several runs, each direction goes to the run best able to serve it (its recorded
evaluation, then its family), or to the one --route names.

Safe by default: the server listens on 127.0.0.1 only. With --host it listens beyond this
machine, and then anyone who can reach the port can use it unless --token (or the
SYNESTHESIA_TOKEN environment variable) is set: the API then requires the header
'Authorization: Bearer TOKEN', and a browser opens the UI once with /?token=TOKEN (a cookie
keeps it). Request bodies over --max-upload-mb get 413 before they are read; images, sounds and
videos are checked from their headers (pixels, duration, frames) before they are decoded;
captions are limited to --max-prompt-chars; only files in the server's temporary folder are
served. At most --queue-size requests wait (then 503 with Retry-After); a request that takes
longer than --timeout seconds gets 504. Requests without a seed that wait for the same run and
direction are generated in one batched call (--no-batching turns this off); a request with a
seed runs alone, so its seed reproduces it.
"""

EPILOG = """\
examples:
  synesthesia serve runs/quickstart                            # http://127.0.0.1:7860/
  synesthesia serve runs/gan runs/captioner --route 'text->image=runs/gan'
  SYNESTHESIA_TOKEN=$(openssl rand -hex 16) synesthesia serve runs/quickstart --host 0.0.0.0
  curl -s localhost:7860/v1/generate -H 'content-type: application/json' \\
       -d '{"to": "image", "text": "a big red star", "n": 4}'
  curl -s localhost:7860/v1/generate -F to=text -F image=@star.png
"""


def parse_routes(items: list[str]) -> dict[str, str]:
    routes = {}
    for item in items:
        if "=" not in item:
            raise ServeError(f"--route takes DIRECTION=RUN, e.g. 'text->image=runs/gan'; got {item!r}")
        direction, run = item.split("=", 1)
        routes[direction.strip()] = run.strip()
    return routes


def settings_from(args: argparse.Namespace) -> ServeSettings:
    return ServeSettings(
        host=args.host, port=args.port, token=args.token or os.environ.get("SYNESTHESIA_TOKEN") or None,
        max_upload_mb=args.max_upload_mb, max_prompt_chars=args.max_prompt_chars, max_n=args.max_n,
        max_audio_seconds=args.max_audio_seconds, max_video_frames=args.max_video_frames,
        max_video_pixels=args.max_video_pixels,
        max_pixels=args.max_pixels, queue_size=args.queue_size, timeout_s=args.timeout,
        batching=not args.no_batching, batch_window_ms=args.batch_window_ms, max_batch_rows=args.max_batch_rows,
        video_format=args.video_format, ui=not args.no_ui, threads=args.threads, device=args.device)


def require_serve_extra() -> None:
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "gradio", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise ServeError(f"synesthesia serve needs {', '.join(missing)}: pip install 'synesthesia[serve]'")


def exposure_warning(settings: ServeSettings) -> str | None:
    """What to tell the user when the server listens beyond this machine without a token."""
    if not settings.exposed or settings.token is not None:
        return None
    return (f"listening on {settings.host} without authentication: anyone who can reach port {settings.port} "
            "can use these models. Set --token (or SYNESTHESIA_TOKEN) to require one.")


def cmd_serve(args: argparse.Namespace) -> int:
    require_serve_extra()
    import uvicorn

    from synesthesia.serve.app import create_app

    settings = settings_from(args)
    warning = exposure_warning(settings)
    if warning:
        print(f"synesthesia serve: warning: {warning}", file=sys.stderr, flush=True)
    app = create_app(args.run, parse_routes(args.route), settings)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"synesthesia serve: http://{shown}:{settings.port}/ (web UI), /docs (API)"
          + (" - open the UI once with /?token=TOKEN" if settings.token else ""), flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                timeout_graceful_shutdown=5)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve runs over HTTP: a REST API (/v1) and a web UI (/)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("run", type=Path, nargs="+", help="run folder(s) made by 'synesthesia train' or 'quickstart'")
    s.add_argument("--route", action="append", default=[], metavar="DIRECTION=RUN",
                   help="send a direction to one of the runs, e.g. --route 'text->image=runs/gan' (repeatable)")
    s.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    s.add_argument("--port", type=int, default=7860, help="TCP port (default 7860)")
    s.add_argument("--token", default=None,
                   help="require this token (at least 8 characters) for the API and the UI; "
                        "or set SYNESTHESIA_TOKEN, which keeps it out of the process list")
    s.add_argument("--max-upload-mb", type=float, default=10.0, help="largest request body in MB (default 10)")
    s.add_argument("--max-prompt-chars", type=int, default=500, help="longest caption in characters (default 500)")
    s.add_argument("--max-n", type=int, default=16, help="most outputs per request (default 16)")
    s.add_argument("--max-pixels", type=int, default=16_000_000,
                   help="largest image or video frame in pixels (default 16,000,000)")
    s.add_argument("--max-audio-seconds", type=float, default=30.0, help="longest sound in seconds (default 30)")
    s.add_argument("--max-video-frames", type=int, default=600, help="most frames in a video (default 600)")
    s.add_argument("--max-video-pixels", type=int, default=50_000_000,
                   help="most frames x width x height of a video (default 50,000,000)")
    s.add_argument("--queue-size", type=int, default=64,
                   help="requests that may wait; more get 503 with Retry-After (default 64)")
    s.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a request may wait and run before it gets 504 (default 60)")
    s.add_argument("--no-batching", action="store_true", help="generate every request in a call of its own")
    s.add_argument("--batch-window-ms", type=float, default=5.0,
                   help="how long the first request of a batch waits for others, in ms (default 5)")
    s.add_argument("--max-batch-rows", type=int, default=256,
                   help="most outputs (requests x n) in one batched call (default 256)")
    s.add_argument("--video-format", default="gif", choices=["gif", "mp4"],
                   help="format of generated videos in API responses unless a request says (default gif)")
    s.add_argument("--no-ui", action="store_true", help="serve the API only (no gradio UI at /)")
    s.add_argument("--threads", type=int, default=None, help="torch threads for generation (default: torch's own)")
    s.add_argument("--device", default="cpu", help="torch device to load the runs on, e.g. cuda (default cpu)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level (default info)")
    s.set_defaults(func=cmd_serve)
