"""The web UI in a real browser: Debian's chromium driven by Playwright against
``synesthesia serve`` started in a subprocess on a tiny run. Screenshots are kept as test
artifacts (in $SYNESTHESIA_ARTIFACTS when set, else in pytest's temporary folder)."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.serve import uidriver

import synesthesia as syn

pytestmark = pytest.mark.slow

if uidriver.chromium_path() is None:
    pytest.skip("chromium is not installed (apt-get install chromium): the browser tests need it",
                allow_module_level=True)
pytest.importorskip("playwright", reason="the playwright package is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("SYNESTHESIA_ARTIFACTS")
    path = Path(folder) / "serve-browser" if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def inputs(tiny_world, tmp_path_factory):
    from synesthesia.modalities.files import write_png, write_wav

    folder = tmp_path_factory.mktemp("browser-inputs")
    sample = tiny_world.render("test", np.arange(1), ["image", "audio"])
    return {"image": write_png(sample["image"][0], folder / "star.png"),
            "audio": write_wav(sample["audio"][0], 8000, folder / "clip.wav")}


@pytest.fixture(scope="module")
def page(serve_run, artifacts):
    with uidriver.running_server([serve_run], log=artifacts / "server.log") as server:
        with uidriver.browser_page() as page:
            page.goto(server.url + "/")
            page.wait_for_selector("#t2i-text textarea", timeout=60_000)
            yield page
            assert page.external_requests == []                 # nothing leaves the machine


def test_type_a_caption_and_get_images(page, artifacts):
    uidriver.text_to_image(page, "a big red star", n=4, seed=0)
    sizes = page.evaluate("[...document.querySelectorAll('#t2i-out img')].map(i => i.naturalWidth)")
    assert len(sizes) == 4 and all(s == 16 for s in sizes)
    assert "seed 0 · run tiny (joint_vae)" in page.inner_text("#t2i-info")
    page.screenshot(path=str(artifacts / "text-to-image.png"))


def test_upload_an_image_and_get_captions(page, artifacts, inputs, serve_run):
    captions = uidriver.image_to_text(page, inputs["image"], seed=0)
    expected = syn.load(serve_run).generate("text", image=Image.open(inputs["image"]), n=3, seed=0)
    assert captions == expected                                   # the same seed as the library
    page.screenshot(path=str(artifacts / "image-to-text.png"))


def test_upload_a_sound_and_get_an_image(page, artifacts, inputs):
    uidriver.sound_to_image(page, inputs["audio"], n=4, seed=0)
    assert "run tiny" in page.inner_text("#a2i-info")
    page.screenshot(path=str(artifacts / "sound-to-image.png"))


def test_play_a_video(page, artifacts):
    state = uidriver.text_to_video(page, "a blue square moving left", seed=0)
    assert state["width"] == 16 and state["duration"] > 0 and state["currentTime"] > 0
    page.screenshot(path=str(artifacts / "text-to-video.png"))
