"""Limits checked before decoding, and clear errors for files that are not what they claim."""

import struct
import time
import wave
import zlib

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from synesthesia.config import ConfigError
from synesthesia.errors import SynesthesiaError
from synesthesia.limits import (
    LimitError,
    LimitExceeded,
    Limits,
    get_limits,
    set_limits,
    using_limits,
)
from synesthesia.modalities import ModalityError, build_modality
from synesthesia.modalities.files import write_mp4, write_wav
from synesthesia.modalities.text import TextModality
from synesthesia.runs.config import RunConfig


def png_header(w, h):
    """A PNG that declares w x h pixels and holds none."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def image():
    return build_modality("image", size=16)


@pytest.fixture(scope="module")
def audio():
    return build_modality("audio", sample_rate=8000, seconds=1.0)


@pytest.fixture(scope="module")
def video():
    return build_modality("video", size=16, frames=4)


@pytest.fixture()
def files(tmp_path):
    Image.new("RGB", (20, 20), (10, 20, 30)).save(tmp_path / "ok.png")
    write_wav(np.zeros(800, np.float32), 8000, tmp_path / "ok.wav")
    write_mp4(np.zeros((6, 32, 32, 3), np.uint8), tmp_path / "ok.mp4", fps=6)
    return tmp_path


# -- images ------------------------------------------------------------------------------------
def test_decompression_bomb_header_is_refused_before_allocation(tmp_path, image):
    (tmp_path / "bomb.png").write_bytes(png_header(60000, 60000))
    t0 = time.perf_counter()
    with pytest.raises(LimitExceeded, match="limits.image_pixels"):
        image.encode([tmp_path / "bomb.png"])
    assert time.perf_counter() - t0 < 1.0
    (tmp_path / "big.png").write_bytes(png_header(12000, 12000))        # under Pillow's own bomb limit
    with pytest.raises(LimitExceeded, match=r"12000x12000 px\) has 144,000,000 pixels"):
        image.encode([tmp_path / "big.png"])


def test_empty_zero_truncated_and_non_images(files, image):
    (files / "zero.png").write_bytes(png_header(0, 0))
    (files / "empty.png").write_bytes(b"")
    (files / "text.png").write_text("not an image at all")
    data = (files / "ok.png").read_bytes()
    (files / "cut.png").write_bytes(data[: len(data) // 2])
    for name, message in [("zero.png", "cannot read image file"), ("empty.png", "is empty"),
                          ("text.png", "unknown format"), ("cut.png", "a PNG image"),
                          ("missing.png", "does not exist"), ("ok.wav", "is a WAV sound, not a image")]:
        with pytest.raises(ModalityError, match=message):
            image.encode([files / name])
    for raw in (np.zeros((0, 0, 3), np.uint8), Image.new("RGB", (0, 0))):
        with pytest.raises(ModalityError, match="no pixels|must be uint8"):
            image.encode([raw])
    with pytest.raises(ModalityError, match="must be uint8"):
        image.encode([np.zeros((4, 4, 3), np.float32)])


# -- sound -------------------------------------------------------------------------------------
def test_long_wav_header_is_refused_without_reading_it(tmp_path, audio):
    path, rate = tmp_path / "ten_hours.wav", 8000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"\x00\x00" * rate)
    frames = 10 * 3600 * rate
    with open(path, "r+b") as f:                      # a sparse 10-hour file: header and size agree
        f.seek(4), f.write(struct.pack("<I", 36 + 2 * frames))
        f.seek(40), f.write(struct.pack("<I", 2 * frames))
        f.truncate(44 + 2 * frames)
    assert sf.info(str(path)).duration == 36000
    t0 = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"10:00:00 long\) has 36,000 s.*limits.audio_seconds"):
        audio.encode([path])
    assert time.perf_counter() - t0 < 1.0
    with using_limits(audio_seconds=40000):           # raised: only the kept second is read
        assert audio.encode([path]).shape == (1, 64, 64)


def test_rates_channels_and_non_finite_samples(tmp_path, audio):
    with pytest.raises(LimitExceeded, match="at 1 Hz.*limits.min_sample_rate"):
        audio.encode([(np.zeros(10, np.float32), 1)])
    sf.write(tmp_path / "low.wav", np.zeros(100, np.float32), 200)
    with pytest.raises(LimitExceeded, match="at 200 Hz"):
        audio.encode([tmp_path / "low.wav"])
    with pytest.raises(LimitExceeded, match="100 channels.*limits.audio_channels"):
        audio.encode([(np.zeros((8000, 100), np.float32), 8000)])
    bad = np.zeros(8000, np.float32)
    bad[5], bad[7] = np.nan, np.inf
    with pytest.raises(ModalityError, match="2 NaN or infinite"):
        audio.encode([(bad, 8000)])
    sf.write(tmp_path / "nan.wav", bad, 8000, subtype="FLOAT")
    with pytest.raises(ModalityError, match="NaN or infinite"):
        audio.encode([tmp_path / "nan.wav"])


def test_images_and_junk_given_as_sound_or_video(files, audio, video):
    (files / "empty.mp4").write_bytes(b"")
    (files / "empty.gif").write_bytes(b"")
    (files / "junk.wav").write_bytes(b"RIFF junk that is not a wave file at all")
    (files / "cut.mp4").write_bytes((files / "ok.mp4").read_bytes()[:200])
    Image.new("RGB", (8, 8)).save(files / "still.gif")
    with pytest.raises(ModalityError, match="is a PNG image, not a sound file"):
        audio.encode([files / "ok.png"])
    with pytest.raises(ModalityError, match="cannot read sound file"):
        audio.encode([files / "junk.wav"])
    with pytest.raises(ModalityError, match="is a PNG image, not a video file"):
        video.encode([files / "ok.png"])
    with pytest.raises(ModalityError, match="is a WAV sound, not a video file"):
        video.encode([files / "ok.wav"])
    for name in ("empty.mp4", "empty.gif"):
        with pytest.raises(ModalityError, match="is empty"):
            video.encode([files / name])
    with pytest.raises(ModalityError, match="cannot read video file"):
        video.encode([files / "cut.mp4"])
    assert video.encode([files / "still.gif"]).shape == (1, 4, 3, 16, 16)    # one frame, repeated


def test_video_frames_and_size_limits(files, video):
    with using_limits(video_frames=5):
        with pytest.raises(LimitExceeded, match=r"by its header\) has 6 frames.*limits.video_frames"):
            video.encode([files / "ok.mp4"])
        with pytest.raises(LimitExceeded, match="has 9 frames"):
            video.encode([np.zeros((9, 8, 8, 3), np.uint8)])
    with using_limits(video_pixels=1000):
        with pytest.raises(LimitExceeded, match=r"32x32 px frames\) has 1,024 pixels per frame"):
            video.encode([files / "ok.mp4"])
    assert video.encode([files / "ok.mp4"]).shape == (1, 4, 3, 16, 16)


# -- text --------------------------------------------------------------------------------------
def test_prompt_and_caption_limits_never_echo_the_input(tmp_path):
    text = TextModality.from_captions(["a red star", "a blue circle"])
    huge = "a red star " * 100_000
    with pytest.raises(LimitExceeded) as err:
        text.encode([huge])
    assert "limits.text_chars" in str(err.value) and len(str(err.value)) < 400
    with pytest.raises(ModalityError) as err:
        text.encode(["zebra " * 1000])                       # under the limit, unknown words
    assert len(str(err.value)) < 400
    (tmp_path / "latin1.txt").write_bytes("un caf\xe9 rouge".encode("latin-1"))
    with pytest.raises(ModalityError, match="is not UTF-8"):
        text.read(tmp_path / "latin1.txt")
    (tmp_path / "big.txt").write_text("a" * (4 * get_limits().text_chars + 1))
    with pytest.raises(LimitExceeded, match="limits.text_chars"):
        text.read(tmp_path / "big.txt")
    (tmp_path / "blank.txt").write_text("  \n")
    with pytest.raises(ModalityError, match="empty"):
        text.read(tmp_path / "blank.txt")


# -- raising limits ----------------------------------------------------------------------------
def test_limits_are_typed_raised_and_restored():
    before = get_limits()
    with using_limits(image_pixels=10) as inside:
        assert inside.image_pixels == 10 and get_limits() is inside
    assert get_limits() is before
    for bad in ({"image_pixels": -1}, {"audio_seconds": float("nan")}, {"video_frames": 2.5},
                {"min_sample_rate": 9e5}, {"image_pixel": 3}):
        with pytest.raises(LimitError):
            set_limits(**bad)
    assert get_limits() is before
    assert Limits(image_pixels="2e8").image_pixels == 200_000_000
    assert Limits(audio_seconds=7200).changed() == {"audio_seconds": 7200}


def test_limits_are_a_config_section():
    config = RunConfig.from_dict({"limits": {"image_pixels": "1e8", "audio_seconds": 7200}})
    assert config.limits.image_pixels == 100_000_000
    assert RunConfig.from_dict(config.to_dict()).limits == config.limits
    with pytest.raises(ConfigError, match="must be a positive number"):
        RunConfig.from_dict({"limits": {"audio_channels": 0}})
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict({"limits": {"pixels": 3}})


def test_every_refusal_is_a_synesthesia_error():
    assert issubclass(LimitExceeded, SynesthesiaError) and issubclass(ModalityError, SynesthesiaError)


def test_gif_bomb_header_is_refused(tmp_path, video):
    header = (b"GIF89a" + struct.pack("<HH", 30000, 30000) + b"\x00\x00\x00," + struct.pack("<HHHH", 0, 0, 30000, 30000)
              + b"\x00\x02\x02\x44\x01\x00;")
    (tmp_path / "bomb.gif").write_bytes(header)
    with pytest.raises(LimitExceeded, match="limits.video_pixels"):
        video.encode([tmp_path / "bomb.gif"])
