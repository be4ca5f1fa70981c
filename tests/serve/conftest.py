"""Fixtures of the server tests: tiny runs, the app in-process, request helpers and media."""

import asyncio
import base64
import io
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from tests.conftest import TINY_MODALITIES, TINY_WORLD


@pytest.fixture(scope="session")
def serve_run(tiny_run, tmp_path_factory):
    """A copy of the tiny run with a recorded evaluation (so other tests' metrics stay theirs)."""
    from synesthesia.runs import write_metrics

    run = tmp_path_factory.mktemp("serve") / "tiny"
    shutil.copytree(tiny_run, run)
    write_metrics(run, {"evaluation": {"coherence": {"text->image": 0.25, "image->text": 0.5}}})
    return run


@pytest.fixture(scope="session")
def captioner_run(tmp_path_factory):
    """A tiny transformer captioner (image -> text), trained for 3 steps."""
    from synesthesia.runs import RunConfig
    from synesthesia.training.run import train

    config = RunConfig.from_dict({
        "family": "transformer",
        "model": {"kind": "captioner", "width": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 2,
                  "stem_channels": 8},
        "modalities": {m: dict(TINY_MODALITIES[m]) for m in ("image", "text")},
        "data": {"world": dict(TINY_WORLD), "modalities": ["image", "text"], "n_train": 64, "n_val": 16},
        "train": {"batch_size": 16, "max_steps": 3, "checkpoint_every": 2, "log_every": 1,
                  "samples_every_epoch": False}})
    return train(config, tmp_path_factory.mktemp("serve-cap") / "captioner", progress=False)


def make_app(runs, tmp_path, routes=None, **settings):
    from synesthesia.serve.app import create_app
    from synesthesia.serve.settings import ServeSettings

    settings.setdefault("ui", False)
    return create_app(runs, routes, ServeSettings(temp_dir=Path(tmp_path), **settings))


@pytest.fixture(scope="module")
def app(serve_run, tmp_path_factory):
    """The single-run app with its UI mounted (gradio's routes are part of what is guarded)."""
    return make_app([serve_run], tmp_path_factory.mktemp("app"), ui=True)


async def _send(app, method, path, **kw):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path, **kw)


def call(app, method: str, path: str, **kw) -> httpx.Response:
    """One request to the app in-process."""
    return asyncio.run(_send(app, method, path, **kw))


def call_many(app, requests: list[tuple[str, str, dict]]) -> list[httpx.Response]:
    """Several requests at once (they share the app's queue and may be batched)."""
    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*[client.request(m, p, **kw) for m, p, kw in requests])
    return asyncio.run(run())


def raw_get(app, raw_path: str, headers: list[tuple[bytes, bytes]] = ()) -> tuple[int, bytes]:
    """GET with the path exactly as given (no client normalises '..' away)."""
    from urllib.parse import unquote

    path, _, query = raw_path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": unquote(path), "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(b"host", b"testserver"), *headers],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    status, body, asked = [0], [], [False]

    async def run():
        done = asyncio.Event()

        async def receive():
            if not asked[0]:
                asked[0] = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()                      # then the client goes away once answered
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    done.set()

        await asyncio.wait_for(app(scope, receive, send), 60)

    asyncio.run(run())
    return status[0], b"".join(body)


# -- media of the tiny world ------------------------------------------------------------------
@pytest.fixture(scope="session")
def world_sample(tiny_world):
    return tiny_world.render("test", np.arange(2))


def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def wav(wave, rate: int = 8000) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(wave, dtype=np.float32), rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def gif(frames) -> bytes:
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=125, loop=0)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def media(world_sample):
    """Bytes of one world sample's image (PNG), sound (WAV) and video (GIF), and its caption."""
    return {"image": png(world_sample["image"][0]), "audio": wav(world_sample["audio"][0]),
            "video": gif(world_sample["video"][0]), "text": world_sample["text"][0]}
