"""Every way a request can be wrong gets a 4xx JSON body that says what was wrong (never a 500);
oversized bodies get 413 unread; no route serves a file outside the server's folders."""

import asyncio
import contextlib
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from tests.serve.conftest import b64, call, gif, make_app, raw_get, wav

GEN = "/v1/generate"


@pytest.fixture(scope="module")
def strict(serve_run, tmp_path_factory):
    """An app with small limits."""
    return make_app([serve_run], tmp_path_factory.mktemp("strict"), max_upload_mb=0.5, max_prompt_chars=40,
                    max_n=4, max_video_frames=3, max_audio_seconds=2.0, max_pixels=10_000, max_steps=5)


def png_header(width: int, height: int) -> bytes:
    """A PNG with a header and no pixel data: only a decoder would notice."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def expect(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and isinstance(body["error"], str)
    for w in words:
        assert w in body["error"], (w, body["error"])
    return body


@pytest.mark.parametrize("body,status,words", [
    ({"to": "smell", "text": "a star"}, 400, ["no loaded run has a 'smell' modality", "image, text"]),
    ({"to": "image"}, 400, ["give at least one input"]),
    ({"to": "text", "text": "a star"}, 400, ["both given and asked for"]),
    ({"text": "a star"}, 422, ["to: Field required"]),
    ({"to": "image", "text": "a star", "smell": "x"}, 422, ["smell: Extra inputs are not permitted"]),
    ({"to": "image", "text": "a red unicorn"}, 422, ["'unicorn'"]),
    ({"to": "image", "text": "  "}, 422, ["empty"]),
    ({"to": "image", "text": "a star", "n": 0}, 422, ["n: Input should be greater than or equal to 1"]),
    ({"to": "image", "text": "a star", "n": "four"}, 422, ["n: Input should be a valid integer"]),
    ({"to": "image", "text": "a star", "temperature": 50}, 422, ["temperature must be between 0 and 10"]),
    ({"to": "image", "text": "a star", "sampler": "magic"}, 422, ["sampler: Input should be 'mala'"]),
    ({"to": "image", "text": "a star", "top_k": 3}, 400, ["top_k: not an option of run 'tiny' (joint_vae)"]),
    ({"to": "image", "image": "not base64!"}, 422, ["image is not valid base64"]),
    ({"to": "text", "image": b64(b"<html>hello</html>")}, 422, ["the image could not be read"]),
    ({"to": "image", "audio": b64(b"RIFF....WAVEjunk")}, 422, ["the sound could not be read"]),
    ({"to": "image", "video": b64(b"\x00\x00\x00\x18ftypmp42garbage")}, 422, ["the video could not be decoded"]),
    ({"to": "image", "video": b64(b"plain text")}, 422, ["neither GIF, MP4 nor WebM"]),
    ({"to": "image", "seed": -1, "text": "a star"}, 422, ["seed"]),
])
def test_bad_requests_get_4xx_json(app, body, status, words):
    expect(call(app, "POST", GEN, json=body), status, *words)


def test_bad_bodies_and_limits(strict, media):
    expect(call(strict, "POST", GEN, content=b"{not json", headers={"content-type": "application/json"}),
           422, "not valid JSON")
    expect(call(strict, "POST", GEN, json=["to", "image"]), 422, "must be a JSON object")
    expect(call(strict, "POST", GEN, content=b"to=image", headers={"content-type": "text/plain"}), 422,
           "send application/json or multipart/form-data")
    expect(call(strict, "POST", GEN, json={"to": "image", "text": "a big red star " * 5}), 422,
           "has 75 characters; the server takes at most 40")
    expect(call(strict, "POST", GEN, json={"to": "image", "text": "a star", "n": 5}), 422, "n must be between 1 and 4")
    expect(call(strict, "POST", GEN, json={"to": "image", "text": "a star", "sampler": "hmc", "steps": 50}), 422,
           "steps must be between 1 and 5")
    expect(call(strict, "POST", "/v1/cycle", json={"text": "a star", "rounds": 50}), 422, "rounds must be between")
    expect(call(strict, "POST", "/v1/cycle", json={"rounds": 2}), 422, "start the cycle from text or from an image")
    expect(call(strict, "POST", "/v1/sample", json={"run": "other"}), 422, "no run named 'other'")
    files = {"smell": ("x.bin", b"abc", "application/octet-stream")}
    expect(call(strict, "POST", GEN, data={"to": "image"}, files=files), 422, "file field 'smell'")
    files = {"image": ("x.png", media["image"], "image/png")}
    expect(call(strict, "POST", GEN, data={"to": "text", "image": b64(media["image"])}, files=files), 422,
           "image is given twice")


def test_media_are_checked_from_their_headers(strict, app, world_sample, tmp_path):
    # 200 x 200 = 40,000 pixels > 10,000: refused from the header (a decoder would find no pixel data)
    expect(call(strict, "POST", GEN, json={"to": "text", "image": b64(png_header(200, 200))}), 422,
           "200x200 pixels", "10,000")
    expect(call(app, "POST", GEN, json={"to": "text", "image": b64(png_header(100_000, 100_000))}), 422, "pixels")
    expect(call(app, "POST", GEN, json={"to": "text", "image": b64(png_header(16, 16))}), 422, "damaged")
    long_sound = wav(np.zeros(8000 * 3, dtype=np.float32))
    expect(call(strict, "POST", GEN, json={"to": "image", "audio": b64(long_sound)}), 422, "3.0 s", "at most 2 s")
    four_frames = gif(world_sample["video"][0])
    expect(call(strict, "POST", GEN, json={"to": "image", "video": b64(four_frames)}), 422, "4 frames", "at most 3")
    from synesthesia.modalities.files import write_mp4

    mp4 = write_mp4(world_sample["video"][0], tmp_path / "clip.mp4").read_bytes()
    expect(call(strict, "POST", GEN, json={"to": "image", "video": b64(mp4)}), 422, "frames")
    ok = call(app, "POST", GEN, json={"to": "image", "video": b64(mp4)})
    assert ok.status_code == 200 and ok.json()["direction"] == "video->image"
    from synesthesia.serve.media import MediaError, MediaLimits, decode_audio, decode_video

    with pytest.raises(MediaError, match="1,000 pixels in all"):           # 4 frames x 16 x 16 = 1,024
        decode_video(four_frames, MediaLimits(max_video_pixels=1_000), tmp_path)
    with pytest.raises(MediaError, match="1,000 pixels in all"):
        decode_video(mp4, MediaLimits(max_video_pixels=1_000), tmp_path)
    assert decode_video(mp4, MediaLimits(max_video_pixels=1_024), tmp_path).shape == (4, 16, 16, 3)
    eight_channels = wav(np.zeros((43_200, 8), dtype=np.float32), rate=48_000)   # 0.9 s, 345,600 samples
    with pytest.raises(MediaError, match="0.9 s with 8 channels"):
        decode_audio(eight_channels, MediaLimits(max_audio_seconds=1.0))
    assert decode_audio(eight_channels, MediaLimits(max_audio_seconds=4.0))[0].shape == (43_200, 8)
    stereo_44k = wav(np.zeros((11025, 2), dtype=np.float32), rate=44100)
    notes = call(app, "POST", GEN, json={"to": "image", "audio": b64(stereo_44k), "seed": 0}).json()["notes"]
    assert any("averaged to mono" in n for n in notes) and any("resampled" in n and "44100 Hz" in n for n in notes)


def test_oversized_bodies_get_413_before_they_are_read(strict, media):
    body = expect(call(strict, "POST", GEN, content=b"x" * 600_000, headers={"content-type": "application/json"}),
                  413, "larger than the server's limit of 0.5 MB")
    assert body["status"] == 413
    sent = {"chunks": 0}

    async def chunks():
        for _ in range(80):                         # 80 x 64 KB = 5 MB, without a Content-Length
            sent["chunks"] += 1
            yield b"x" * 65536

    expect(call(strict, "POST", GEN, content=chunks(), headers={"content-type": "application/json"}), 413)
    assert sent["chunks"] < 80                       # refused as soon as the limit was passed
    sent["chunks"] = 0
    expect(call(strict, "POST", GEN, content=chunks(),
                headers={"content-type": "application/json", "content-length": str(80 * 65536)}), 413)
    assert sent["chunks"] == 0                       # a Content-Length over the limit: nothing read
    big = {"image": ("big.png", b"\x89PNG" + b"\x00" * 700_000, "image/png")}
    expect(call(strict, "POST", GEN, data={"to": "text"}, files=big), 413)


TRAVERSALS = ["/file=../../etc/passwd", "/file=..%2f..%2fetc%2fpasswd", "/gradio_api/file=../../../etc/passwd",
              "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/gradio_api/file=..%252f..%252fetc%252fpasswd",
              "/gradio_api/file=/etc/passwd", "/gradio_api/file=%2Fetc%2Fpasswd", "/file=/etc/passwd",
              "/gradio_api/file=..%5c..%5cetc%5cpasswd", "/gradio_api/file=/etc/passwd%00.png",
              "/gradio_api/file=http://169.254.169.254/latest/meta-data", "/gradio_api/file=//example.com/x",
              "/static/../../../etc/passwd", "/assets/..%2f..%2f..%2fetc/passwd", "/v1/../../etc/passwd",
              "/gradio_api/file/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/docs/%252e%252e/etc/passwd"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_traversal(app, path):
    status, body = raw_get(app, path)
    assert status in (403, 404), (path, status)
    assert b"root:" not in body


def test_the_servers_own_files_are_served(app):
    examples = app.state.service.temp_dir / "examples"
    image = next(examples.glob("image-*.png"))
    status, body = raw_get(app, f"/gradio_api/file={image}")
    assert status == 200 and body[:4] == b"\x89PNG"
    runs = app.state.service.engine.roots[0]
    status, _ = raw_get(app, f"/gradio_api/file={runs / 'config.yaml'}")
    assert status == 403                                     # not even the run's own files


def test_token_is_required_when_set(serve_run, tmp_path):
    from synesthesia.serve.settings import ServeError, ServeSettings

    secured = make_app([serve_run], tmp_path, token="s3cret-token", ui=True)
    expect(call(secured, "GET", "/v1/models"), 401, "requires a token")
    assert call(secured, "GET", "/v1/models").headers["www-authenticate"] == "Bearer"
    expect(call(secured, "GET", "/v1/models", headers={"authorization": "Bearer wrong-token"}), 401)
    assert call(secured, "GET", "/v1/models", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
    expect(call(secured, "GET", "/"), 401)
    expect(call(secured, "POST", GEN, json={"to": "image", "text": "a star"}), 401)
    first = call(secured, "GET", "/?token=s3cret-token")
    assert first.status_code == 200 and "synesthesia_token=s3cret-token" in first.headers["set-cookie"]
    assert "HttpOnly" in first.headers["set-cookie"]
    cookie = {"cookie": "synesthesia_token=s3cret-token"}
    assert call(secured, "POST", GEN, json={"to": "image", "text": "a star"}, headers=cookie).status_code == 200
    assert call(secured, "GET", "/v1/health").status_code == 200          # liveness stays open
    with pytest.raises(ServeError, match="at least 8 characters"):
        ServeSettings(token="short")


def test_full_queue_answers_503_and_slow_requests_504(serve_run, tmp_path):
    busy = make_app([serve_run], tmp_path / "busy", queue_size=1)
    slow = make_app([serve_run], tmp_path / "slow", timeout_s=0.5)
    request = {"to": "image", "text": "a star"}

    async def scenario(app, block_s):
        batcher = app.state.service.batcher
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            blocker = asyncio.create_task(batcher.call(lambda: time.sleep(block_s)))
            await asyncio.sleep(0.2)                             # the worker is now busy
            waiting = asyncio.create_task(client.post(GEN, json=request))
            await asyncio.sleep(0.2)
            refused = await client.post(GEN, json=request)
            results = await asyncio.gather(waiting, return_exceptions=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await blocker
            return refused, results[0], dict(batcher.stats), len(batcher.waiting)

    refused, waited, stats, left = asyncio.run(scenario(busy, 1.5))
    expect(refused, 503, "busy")
    assert int(refused.headers["retry-after"]) >= 1 and stats["refused"] == 1
    assert waited.status_code == 200
    first, second, stats, left = asyncio.run(scenario(slow, 2.0))
    expect(first, 504, "longer than the server's limit of 0.5 s")
    expect(second, 504)
    assert stats["timed_out"] >= 2 and left == 0            # timed-out requests left the queue
