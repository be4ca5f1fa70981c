"""Real media through the codecs: every image mode and fit, sounds of any rate, channels and
length, videos of any length and size; files written by the tests."""

import warnings

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from synesthesia.limits import using_limits
from synesthesia.modalities import InputAdjusted, build_modality
from synesthesia.modalities.files import write_gif, write_mp4
from synesthesia.modalities.imaging import open_image

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


def encode_quietly(modality, raws):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = modality.encode(raws)
    return x, [str(w.message) for w in caught if issubclass(w.category, InputAdjusted)]


def pixels(modality, raws):
    x, notes = encode_quietly(modality, raws)
    return (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(int), notes


def banded(w=64, h=32):
    """Left half red, right half blue, a green stripe on the first 8 columns."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2], a[:, w // 2:], a[:, :8] = RED, BLUE, GREEN
    return Image.fromarray(a)


# -- images ----------------------------------------------------------------------------------
def test_crop_pad_and_squash_fit_a_wide_image():
    img = banded()
    crop, notes = pixels(build_modality("image", size=32), [img])
    assert "shorter side, then centre crop" in notes[0] and "64x32 px" in notes[0]
    assert tuple(crop[0, 16, 2]) == RED and tuple(crop[0, 16, 30]) == BLUE     # the stripe is cut off
    pad, _ = pixels(build_modality("image", size=32, fit="pad", background=[0, 0, 0]), [img])
    assert tuple(pad[0, 2, 16]) == (0, 0, 0) and tuple(pad[0, 29, 16]) == (0, 0, 0)   # letterbox rows
    assert tuple(pad[0, 16, 1]) == GREEN and tuple(pad[0, 16, 30]) == BLUE
    squash, _ = pixels(build_modality("image", size=32, fit="squash"), [img])
    assert tuple(squash[0, 2, 1]) == GREEN and tuple(squash[0, 30, 1]) == GREEN


def test_fit_is_validated_and_saved():
    m = build_modality("image", size=32, fit="pad", background=[1, 2, 3])
    assert build_modality("image", **m.config()).config() == m.config()
    with pytest.raises(Exception, match="fit must be one of crop, pad, squash"):
        build_modality("image", fit="stretch")
    with pytest.raises(Exception, match="three integers"):
        build_modality("video", background=[300, 0, 0])


def test_rgba_is_composited_on_the_background(tmp_path):
    a = np.zeros((16, 16, 4), np.uint8)
    a[..., :3], a[:8, ..., 3], a[8:, ..., 3] = RED, 0, 255          # top half fully transparent
    Image.fromarray(a, "RGBA").save(tmp_path / "rgba.png")
    out, notes = pixels(build_modality("image", size=16), [tmp_path / "rgba.png"])
    assert tuple(out[0, 2, 2]) == WHITE and tuple(out[0, 12, 2]) == RED
    assert any("composited on background (255, 255, 255)" in n for n in notes)
    black, _ = pixels(build_modality("image", size=16, background=[0, 0, 0]), [tmp_path / "rgba.png"])
    assert tuple(black[0, 2, 2]) == (0, 0, 0)


def test_palette_with_and_without_transparency(tmp_path):
    p = Image.new("P", (16, 16), 1)
    p.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    p.save(tmp_path / "opaque.png")
    p.info["transparency"] = 1
    p.save(tmp_path / "clear.png", transparency=1)
    out, notes = pixels(build_modality("image", size=16), [tmp_path / "opaque.png", tmp_path / "clear.png"])
    assert tuple(out[0, 5, 5]) == BLUE and tuple(out[1, 5, 5]) == WHITE
    assert any(n.startswith("2 of 2 images: palette converted") for n in notes)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    a = np.array([[0, 128 * 257], [200 * 257, 65535]], dtype=np.uint16).repeat(8, 0).repeat(8, 1)
    Image.fromarray(a).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    out, notes = pixels(build_modality("image", size=16), [tmp_path / "grey16.png"])
    assert [out[0, 0, 0, 0], out[0, 0, 15, 0], out[0, 15, 0, 0], out[0, 15, 15, 0]] == [0, 128, 200, 255]
    assert any("16-bit greyscale scaled" in n for n in notes)
    arr, _ = pixels(build_modality("image", size=16), [a])          # a uint16 array: the same policy
    assert np.array_equal(arr, out)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    out, notes = pixels(build_modality("image", size=16), [tmp_path / "cmyk.jpg"])
    r, g, b = out[0, 8, 8]
    assert r > 200 and g < 50 and b < 50 and any("mode CMYK converted to RGB" in n for n in notes)


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (32, 16), RED)
    img.paste(BLUE, (16, 0, 32, 16))                     # stored: left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6                                     # shown rotated 90 degrees clockwise
    img.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    shown = open_image(tmp_path / "rotated.jpg")
    assert shown.size == (16, 32)
    out, _ = pixels(build_modality("image", size=16, fit="squash"), [tmp_path / "rotated.jpg"])
    top, bottom = out[0, 2, 8], out[0, 13, 8]
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60   # red on top now


def test_large_jpeg_is_drafted_not_decoded_whole(tmp_path):
    Image.new("RGB", (2400, 1600), RED).save(tmp_path / "big.jpg")
    Image.new("RGB", (2400, 1600), RED).save(tmp_path / "big.png")
    assert open_image(tmp_path / "big.jpg", 32).size == (300, 200)          # 1/8 scale still covers 32 px
    assert open_image(tmp_path / "big.jpg", 256).size == (600, 400)         # 1/4: 1/8 would be under 256
    m = build_modality("image", size=32)
    with using_limits(image_pixels=1_000_000):          # under the 3.8 M pixels of the whole image
        x, _ = encode_quietly(m, [tmp_path / "big.jpg"])
        assert x.shape == (1, 3, 32, 32) and x[0, 0].mean() > 0.95
        with pytest.raises(Exception, match="limits.image_pixels"):
            m.encode([tmp_path / "big.png"])              # a PNG has no reduced decode: refused


def test_one_warning_per_batch_not_per_image():
    m = build_modality("image", size=16)
    with pytest.warns(InputAdjusted) as record:
        m.encode([banded(40 + k, 20) for k in range(6)] + [Image.new("L", (16, 16))])
    messages = [str(w.message) for w in record if issubclass(w.category, InputAdjusted)]
    assert len(messages) == 2
    assert any(msg.startswith("6 of 7 images: resized to 16x16 px") for msg in messages)
    assert any(msg.startswith("1 of 7 images: mode L converted to RGB") for msg in messages)


# -- sound -------------------------------------------------------------------------------------
def tone(freq, seconds, rate, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_band(x):
    """The mel band with the most energy, per clip."""
    return x.mean(-1).argmax(-1).tolist()


@pytest.fixture(scope="module")
def audio():
    return build_modality("audio", sample_rate=8000, seconds=1.0)


def test_96_khz_stereo_is_resampled_mixed_and_padded(tmp_path, audio):
    left, right = tone(440, 0.5, 96000), tone(440, 0.5, 96000)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], 1), 96000, subtype="FLOAT")
    x, notes = encode_quietly(audio, [tmp_path / "stereo.wav"])
    ref = audio.encode([(np.pad(tone(440, 0.5, 8000), (0, 4000)), 8000)])
    assert peak_band(x) == peak_band(ref)
    assert (x - ref).abs().mean() < 0.05
    text = " | ".join(notes)
    assert "resampled to 8000 Hz (e.g. 96000 Hz)" in text and "averaged to mono" in text
    assert "padded with silence to 1 s" in text
    x2, _ = encode_quietly(audio, [(np.stack([left, right]), 96000)])   # (channels, samples) array
    assert (x2 - x).abs().max() < 1e-4


@pytest.mark.parametrize("seconds,fmt", [(3, "OGG"), (30, "FLAC")])
def test_long_sounds_are_cut_by_the_policy(tmp_path, audio, seconds, fmt):
    rate = 16000
    wave = np.concatenate([tone(440, 1, rate), tone(2000, seconds - 2, rate), tone(440, 1, rate)])
    wave[len(wave) // 2 - rate // 2: len(wave) // 2 + rate // 2] = tone(3000, 1, rate)    # the middle second
    path = tmp_path / f"long.{fmt.lower()}"
    sf.write(path, wave, rate, format=fmt)
    start, notes = encode_quietly(audio, [path])
    assert "cut to 1 s (the first)" in " | ".join(notes)
    assert peak_band(start) == peak_band(audio.encode([(tone(440, 1, 8000), 8000)]))
    centre = build_modality("audio", sample_rate=8000, seconds=1.0, cut="centre")
    mid, _ = encode_quietly(centre, [path])
    assert peak_band(mid) == peak_band(audio.encode([(tone(3000, 1, 8000), 8000)]))
    kept, rate_read = centre.read(path)
    assert rate_read == rate and len(kept) == rate                      # only the kept second is read


def test_mp3_where_libsndfile_reads_it(tmp_path, audio):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3")
    try:
        sf.write(tmp_path / "a.mp3", tone(440, 1, 16000), 16000, format="MP3")
    except Exception as err:                               # a libsndfile that reads but cannot write MP3
        pytest.skip(f"cannot write MP3 here: {err}")
    x, _ = encode_quietly(audio, [tmp_path / "a.mp3"])
    assert peak_band(x) == peak_band(audio.encode([(tone(440, 1, 8000), 8000)]))


def test_one_warning_per_batch_of_sounds(audio):
    with pytest.warns(InputAdjusted) as record:
        audio.encode([(tone(440, 0.3 + 0.1 * k, 16000), 16000) for k in range(5)])
    messages = sorted(str(w.message) for w in record)
    assert messages == ["5 of 5 sounds: padded with silence to 1 s (e.g. 0.300 s)",
                        "5 of 5 sounds: resampled to 8000 Hz (e.g. 16000 Hz)"]


# -- video -------------------------------------------------------------------------------------
def ramp_clip(frames, h, w):
    """Flat grey frames whose level rises from 0 to 240 over the clip."""
    levels = np.linspace(0, 240, frames).round().astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (frames, h, w, 3)).copy(), levels


@pytest.mark.parametrize("frames,fps,size", [(5, 10, (48, 64)), (300, 30, (24, 40))])
def test_videos_are_sampled_evenly_and_fitted(tmp_path, frames, fps, size):
    clip, levels = ramp_clip(frames, *size)
    write_mp4(clip, tmp_path / "clip.mp4", fps=fps)
    write_gif(clip[:: max(1, frames // 30)], tmp_path / "clip.gif", fps=fps)
    m = build_modality("video", size=16, frames=4)
    x, notes = encode_quietly(m, [tmp_path / "clip.mp4"])
    assert x.shape == (1, 4, 3, 16, 16)
    want = levels[np.linspace(0, frames - 1, 4).round().astype(int)]
    got = (x[0].mean((1, 2, 3)) * 255).numpy()
    assert np.abs(got - want).max() < 6, (got, want)
    assert any(f"sampled to 4 evenly spaced frames (e.g. {frames} frames)" in n for n in notes)
    assert any("resized to 16x16 px" in n for n in notes)
    g, _ = encode_quietly(m, [tmp_path / "clip.gif"])
    assert g.shape == (1, 4, 3, 16, 16) and np.all(np.diff(g[0].mean((1, 2, 3)).numpy()) > 0)


def test_one_warning_per_batch_of_videos():
    m = build_modality("video", size=16, frames=4)
    clips = [ramp_clip(7, 20, 20)[0] for _ in range(3)]
    with pytest.warns(InputAdjusted) as record:
        m.encode(clips)
    messages = sorted(str(w.message) for w in record)
    assert messages == ["3 of 3 videos: resized to 16x16 px (shorter side, then centre crop) (e.g. 20x20 px)",
                        "3 of 3 videos: sampled to 4 evenly spaced frames (e.g. 7 frames)"]
