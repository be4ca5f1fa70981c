"""The server as one ASGI application: FastAPI with the API under ``/v1`` and docs at ``/docs``,
the gradio UI mounted at ``/``, and the guards (token, paths, body size) in front of both.

    app = create_app(["runs/quickstart"])          # then: uvicorn.run(app, host="127.0.0.1")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from synesthesia import __version__
from synesthesia.serve.api import add_error_handlers, build_router, error
from synesthesia.serve.engine import Engine
from synesthesia.serve.examples import WorldExamples
from synesthesia.serve.guard import BodyLimit, PathGuard, TokenAuth
from synesthesia.serve.service import Service
from synesthesia.serve.settings import ServeSettings

DESCRIPTION = """Generate any modality of a trained synesthesia run from any subset of the others.

`GET /v1/models` lists the runs and every direction they serve; `POST /v1/generate` takes JSON
(media as base64) or multipart uploads and returns base64 PNG / WAV / GIF-or-MP4, or text.
Errors are JSON bodies `{"error": ..., "status": ...}`."""

# the world's images are small: show their pixels rather than a blur
UI_CSS = """
.gallery img, .image-frame img, img.gallery-image, video { image-rendering: pixelated; }
#i2t-in img, #i2a-in img, #cycle-in img { width: auto; height: 128px; object-fit: contain; }
"""

def create_app(runs: Sequence[str | Path], routes: Mapping[str, str | Path] | None = None,
               settings: ServeSettings | None = None, engine: Engine | None = None) -> FastAPI:
    """The application for ``runs`` (or an already loaded ``engine``)."""
    settings = settings or ServeSettings()
    if settings.threads:

        torch.set_num_threads(settings.threads)
    engine = engine or Engine(runs, routes, device=settings.device)
    service = Service(engine, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    app = FastAPI(title="synesthesia", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.service = service
    app.include_router(build_router(service))
    add_error_handlers(app)

    async def http_error(request, err):
        return error(err.status_code, str(err.detail), headers=getattr(err, "headers", None))

    app.add_exception_handler(StarletteHTTPException, http_error)
    if settings.ui:
        mount_ui(app, service)
    # outermost last: the token first, then the paths, then the body size
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(PathGuard, roots=[service.temp_dir])
    app.add_middleware(TokenAuth, token=settings.token)
    return app

def mount_ui(app: FastAPI, service: Service) -> None:
    """Mount the gradio UI at ``/``, with its files kept in the server's temporary folder."""
    gradio_dir = service.temp_dir / "gradio"
    gradio_dir.mkdir(exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(gradio_dir)
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(service.temp_dir / "gradio-examples")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from synesthesia.serve.ui import build_ui

    examples = WorldExamples.render(service.engine.world(), service.temp_dir / "examples")
    demo = build_ui(service, examples)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])
    gr.mount_gradio_app(app, demo, path="/", allowed_paths=[str(service.temp_dir / "examples")],
                        max_file_size=service.settings.max_upload_bytes, footer_links=["api"],
                        run_history=False, ssr_mode=False, mcp_server=False, theme=theme,
                        show_error=True, css=UI_CSS)
