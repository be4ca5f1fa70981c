"""Fuzzing the REST API's request bodies (bounded: fixed seed, few examples) through httpx against
the in-process app: random JSON, mutated valid bodies and raw bytes to /v1/generate, /v1/cycle
and /v1/sample get a 2xx or a 4xx JSON body with a message, never a 500."""

import json

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from tests.serve.conftest import b64, call, make_app, png

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
FIELDS = ["to", "text", "image", "audio", "video", "n", "seed", "temperature", "sampler", "steps", "prior",
          "rounds", "top_k", "top_p", "beam_size", "cfg_scale", "expand", "guidance", "method", "chains"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(),
                    st.text(max_size=30), st.sampled_from(["image", "text", "audio", "video", "a red star",
                                                           "mala", "aggregate", "", "nan", b64(b"junk")]))
JSON = st.recursive(SCALARS, lambda c: st.one_of(st.lists(c, max_size=3),
                                                 st.dictionaries(st.sampled_from(FIELDS), c, max_size=4)),
                    max_leaves=10)


@pytest.fixture(scope="module")
def fuzz_app(serve_run, tmp_path_factory):
    # small limits keep each accepted request cheap
    return make_app([serve_run], tmp_path_factory.mktemp("fuzz"), max_n=2, max_steps=3, max_prompt_chars=200)


def post_json(app, path: str, body):
    """POST ``body`` as JSON text (NaN and Infinity written as Python writes them)."""
    return call(app, "POST", path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def check(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and body["error"].strip(), body


@pytest.fixture(scope="module")
def valid(world_sample):
    return {"/v1/generate": {"to": "image", "text": "a big red star", "n": 1, "seed": 0},
            "/v1/cycle": {"text": "a big red star", "rounds": 1, "seed": 0},
            "/v1/sample": {"n": 1, "seed": 0},
            "image": b64(png(world_sample["image"][0]))}


@seed(22)
@FUZZ
@given(path=st.sampled_from(["/v1/generate", "/v1/cycle", "/v1/sample"]),
       body=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5))
def test_random_json_bodies(fuzz_app, path, body):
    check(post_json(fuzz_app, path, body))


@seed(22)
@FUZZ
@given(path=st.sampled_from(["/v1/generate", "/v1/cycle", "/v1/sample"]), data=st.data())
def test_mutated_valid_bodies(fuzz_app, valid, path, data):
    body = dict(valid[path])
    key = data.draw(st.sampled_from(FIELDS))
    body[key] = data.draw(st.one_of(JSON, st.just(valid["image"][: data.draw(st.integers(0, 200))])))
    check(post_json(fuzz_app, path, body))


@seed(22)
@FUZZ
@given(path=st.sampled_from(["/v1/generate", "/v1/cycle", "/v1/sample"]),
       raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                     st.just(json.dumps({"to": "image", "text": "a star"}).encode()[:-3])),
       kind=st.sampled_from(["application/json", "multipart/form-data; boundary=x", "text/plain", ""]))
def test_raw_bodies(fuzz_app, path, raw, kind):
    check(call(fuzz_app, "POST", path, content=raw, headers={"content-type": kind} if kind else {}))
