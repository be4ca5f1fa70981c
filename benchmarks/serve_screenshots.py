"""Screenshots of every tab of the web UI, for the README (docs/serve/*.png).

Starts ``synesthesia serve RUN``, works each tab in Debian's chromium (a caption from the run's
world, one of its images and sounds), and saves each page as a small palette PNG.

    python benchmarks/serve_screenshots.py --run runs/quickstart [--out docs/serve]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.serve import uidriver


def world_files(run: Path, folder: Path) -> dict:
    from synesthesia.modalities.files import write_png, write_wav
    from synesthesia.runs import RunConfig
    from synesthesia.world import WorldConfig
    from synesthesia.world.world import ShapesWorld

    world = WorldConfig.from_dict(RunConfig.from_yaml(run / "config.yaml").data.world)
    data = ShapesWorld(world).render("test", [3], ["image", "audio", "text"])
    return {"caption": data["text"][0], "image": write_png(data["image"][0], folder / "image.png"),
            "audio": write_wav(data["audio"][0], world.sample_rate, folder / "sound.wav")}


def shrink(path: Path, colours: int = 96) -> None:
    """Re-save a screenshot with a small palette (screenshots of flat UIs lose nothing visible)."""
    img = Image.open(path).convert("RGB")
    img.quantize(colours, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/quickstart"), help="run folder to serve")
    ap.add_argument("--out", type=Path, default=Path("docs/serve"), help="folder for the PNGs")
    ap.add_argument("--caption", default="a big red star", help="caption for text→image and the cycle")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="serve-shots-"))
    files = world_files(args.run, tmp)
    steps = {
        "text-to-image": lambda p: uidriver.text_to_image(p, args.caption, n=4, seed=0),
        "image-to-text": lambda p: uidriver.image_to_text(p, files["image"], seed=0),
        "sound-to-image": lambda p: uidriver.sound_to_image(p, files["audio"], n=4, seed=0),
        "text-to-video": lambda p: uidriver.text_to_video(p, files["caption"], seed=0),
        "image-to-sound": lambda p: uidriver.image_to_sound(p, files["image"], seed=0),
        "cycle": lambda p: uidriver.cycle(p, args.caption),
        "joint-samples": lambda p: uidriver.joint(p, n=4),
    }
    with uidriver.running_server([args.run], log=tmp / "server.log") as server:
        with uidriver.browser_page(width=1100, height=820) as page:
            page.goto(server.url + "/")
            page.wait_for_selector("#t2i-text textarea", timeout=60_000)
            for name, step in steps.items():
                step(page)
                page.wait_for_timeout(500)
                path = args.out / f"{name}.png"
                page.screenshot(path=str(path))
                shrink(path)
                print(f"{path}  {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
