"""The REST API in-process (httpx over ASGI): every endpoint, every direction, every error."""

import base64
import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from tests.serve.conftest import b64, call, call_many, make_app

import synesthesia as syn


def decode_output(to: str, output: dict):
    """A response output -> something to check: PIL image, (wave, rate), frames, or text."""
    if to == "text":
        assert output["media_type"] == "text/plain"
        return output["text"]
    data = base64.b64decode(output["data"])
    if to == "image":
        assert output["media_type"] == "image/png"
        return Image.open(io.BytesIO(data))
    if to == "audio":
        assert output["media_type"] == "audio/wav"
        return sf.read(io.BytesIO(data))
    img = Image.open(io.BytesIO(data))
    return [img.seek(k) or img.convert("RGB") for k in range(img.n_frames)]


def inputs_json(given, media) -> dict:
    return {m: (media[m] if m == "text" else b64(media[m])) for m in given}


def check_outputs(to: str, outputs: list, n: int) -> None:
    assert len(outputs) == n
    for out in outputs:
        value = decode_output(to, out)
        if to == "image":
            assert value.size == (16, 16)
        elif to == "audio":
            wave, rate = value
            assert rate == 8000 and wave.shape == (2000,)
        elif to == "video":
            assert len(value) == 4 and value[0].size == (16, 16)
        else:
            assert isinstance(value, str) and value.strip()


def test_health_models_and_docs(app, serve_run):
    health = call(app, "GET", "/v1/health").json()
    assert health["status"] == "ok" and health["runs"] == 1 and health["batching"] is True
    models = call(app, "GET", "/v1/models").json()
    (run,) = models["runs"]
    assert run["name"] == "tiny" and run["family"] == "joint_vae"
    assert set(run["modalities"]) == {"image", "text", "audio", "video"}
    assert run["modalities"]["image"]["size"] == 16
    assert {"sampler", "steps", "prior"} <= set(run["options"]) and "top_k" not in run["options"]
    assert run["coherence"] == {"text->image": 0.25, "image->text": 0.5}
    pipe = syn.load(serve_run)
    expected = {("+".join(sorted(g)), t) for g, t in pipe.model.directions()}
    assert {("+".join(d["given"]), d["target"]) for d in models["directions"]} == expected
    by_name = {d["name"]: d for d in models["directions"]}
    assert by_name["text->image"]["coherence"] == 0.25 and by_name["audio->image"]["coherence"] is None
    docs = call(app, "GET", "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = call(app, "GET", "/openapi.json").json()
    body = spec["paths"]["/v1/generate"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert body["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert call(app, "GET", "/").status_code == 200           # the UI is mounted at /


@pytest.fixture(scope="module")
def pair_app(serve_run, captioner_run, tmp_path_factory):
    return make_app([serve_run, captioner_run], tmp_path_factory.mktemp("pair"),
                    routes={"image->text": str(captioner_run)})


@pytest.mark.parametrize("which", ["single", "pair"])
def test_every_direction(which, request, media):
    app = request.getfixturevalue("app" if which == "single" else "pair_app")
    directions = call(app, "GET", "/v1/models").json()["directions"]
    assert len(directions) == 28                               # 4 targets x 7 subsets of the others
    for d in directions:
        n = 2
        r = call(app, "POST", "/v1/generate", json={"to": d["target"], "n": n, **inputs_json(d["given"], media)})
        assert r.status_code == 200, (d["name"], r.text)
        body = r.json()
        assert body["direction"] == d["name"] and body["run"] == d["run"]
        check_outputs(d["target"], body["outputs"], n)


def test_composed_pair_routes_and_family_options(pair_app, media):
    models = call(pair_app, "GET", "/v1/models").json()
    runs = {r["name"]: r for r in models["runs"]}
    assert runs["captioner"]["family"] == "transformer" and "beam_size" in runs["captioner"]["options"]
    by_name = {d["name"]: d for d in models["directions"]}
    assert by_name["image->text"]["run"] == "captioner"        # the route beats tiny's recorded coherence
    assert by_name["text->image"]["run"] == "tiny" and by_name["audio->text"]["run"] == "tiny"
    image = b64(media["image"])
    beam = call(pair_app, "POST", "/v1/generate", json={"to": "text", "image": image, "method": "beam",
                                                        "beam_size": 2})
    assert beam.status_code == 200 and beam.json()["run"] == "captioner"
    sampled = call(pair_app, "POST", "/v1/generate", json={"to": "text", "image": image, "n": 3, "method": "sample",
                                                           "top_k": 5, "top_p": 0.9, "seed": 1})
    assert sampled.status_code == 200 and len(sampled.json()["outputs"]) == 3
    wrong = call(pair_app, "POST", "/v1/generate", json={"to": "text", "image": image, "sampler": "hmc"})
    assert wrong.status_code == 400 and "not an option of run 'captioner' (transformer)" in wrong.json()["error"]
    mcmc = call(pair_app, "POST", "/v1/generate", json={"to": "image", "text": "a big red star", "sampler": "mala",
                                                        "steps": 3, "n": 2})
    assert mcmc.status_code == 200 and mcmc.json()["run"] == "tiny"


def test_multipart_uploads(app, media):
    files = {"image": ("in.png", media["image"], "image/png")}
    r = call(app, "POST", "/v1/generate", data={"to": "text", "n": "2", "seed": "3"}, files=files)
    assert r.status_code == 200 and r.json()["seed"] == 3 and len(r.json()["outputs"]) == 2
    files = {"audio": ("in.wav", media["audio"], "audio/wav"), "video": ("in.gif", media["video"], "image/gif")}
    r = call(app, "POST", "/v1/generate", data={"to": "image", "text": media["text"]}, files=files)
    assert r.status_code == 200 and r.json()["direction"] == "audio+text+video->image"
    r = call(app, "POST", "/v1/generate", data={"to": "video", "text": "a star", "video_format": "mp4"})
    assert r.status_code == 200 and r.json()["outputs"][0]["media_type"] == "video/mp4"
    assert base64.b64decode(r.json()["outputs"][0]["data"])[4:8] == b"ftyp"


def test_seed_reproduces_the_library_and_batching_shares_calls(app, serve_run, tmp_path):
    body = {"to": "image", "text": "a big red star", "n": 2, "seed": 11}
    a, b = call(app, "POST", "/v1/generate", json=body).json(), call(app, "POST", "/v1/generate", json=body).json()
    assert a["outputs"] == b["outputs"] and a["seed"] == 11 and a["batch_size"] == 1
    library = syn.load(serve_run).generate("image", text="a big red star", n=2, seed=11)
    assert [np.asarray(decode_output("image", o)).tobytes() for o in a["outputs"]] == [np.asarray(i).tobytes()
                                                                                      for i in library]
    unseeded = {"to": "image", "text": "a small blue heart", "n": 3}
    responses = call_many(app, [("POST", "/v1/generate", {"json": unseeded})] * 8)
    assert all(r.status_code == 200 and len(r.json()["outputs"]) == 3 for r in responses)
    sizes = [r.json()["batch_size"] for r in responses]
    assert max(sizes) > 1, sizes
    stats = app.state.service.batcher.stats
    assert stats["largest_batch"] > 1 and stats["calls"] < stats["jobs"]
    alone = make_app([serve_run], tmp_path, batching=False)
    responses = call_many(alone, [("POST", "/v1/generate", {"json": unseeded})] * 4)
    assert [r.json()["batch_size"] for r in responses] == [1, 1, 1, 1]


def test_cycle_and_joint_samples(app, media):
    r = call(app, "POST", "/v1/cycle", json={"text": "a big red star", "rounds": 2, "seed": 0})
    assert r.status_code == 200
    rounds = r.json()["rounds"]
    assert [x["round"] for x in rounds] == [0, 1, 2] and rounds[0]["caption"] == "a big red star"
    assert rounds[0]["image"] is None and all(x["image"]["media_type"] == "image/png" for x in rounds[1:])
    assert r.json() == {**call(app, "POST", "/v1/cycle", json={"text": "a big red star", "rounds": 2,
                                                              "seed": 0}).json(), "seconds": r.json()["seconds"]}
    r = call(app, "POST", "/v1/cycle", data={"rounds": "1"}, files={"image": ("s.png", media["image"], "image/png")})
    assert r.status_code == 200 and r.json()["rounds"][0]["caption"] is None
    r = call(app, "POST", "/v1/sample", json={"n": 2, "seed": 5})
    assert r.status_code == 200 and r.json()["run"] == "tiny" and r.json()["seed"] == 5
    outputs = r.json()["outputs"]
    assert set(outputs) == {"image", "text", "audio", "video"}
    for m, values in outputs.items():
        check_outputs(m, values, 2)
