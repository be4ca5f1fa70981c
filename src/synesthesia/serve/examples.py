"""Example inputs from the world a run was trained on, so a first visit needs no files.

:class:`WorldExamples` renders a few samples of the run's world (test split) once and writes
them into the server's temporary folder: captions, PNG images, WAV sounds and MP4 clips. It
also draws a fresh caption for "surprise me".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from synesthesia.modalities.files import write_mp4, write_png, write_wav
from synesthesia.world.world import ShapesWorld


@dataclass
class WorldExamples:
    """Files and captions of ``count`` test samples of a world; empty when there is no world."""

    captions: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    sounds: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    world: object | None = None

    @classmethod
    def render(cls, world_config, folder: Path, count: int = 6) -> WorldExamples:
        """Render ``count`` samples of ``world_config`` (None: no examples) into ``folder``."""
        if world_config is None:
            return cls()

        world = ShapesWorld(world_config)
        mods = world_config.modalities
        data = world.render("test", range(count), mods)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = cls(world=world)
        out.captions = list(data.get("text", []))
        if "image" in data:
            out.images = [str(write_png(x, folder / f"image-{i}.png")) for i, x in enumerate(data["image"])]
        if "audio" in data:
            out.sounds = [str(write_wav(x, world_config.sample_rate, folder / f"sound-{i}.wav"))
                          for i, x in enumerate(data["audio"])]
        if "video" in data:
            out.videos = [str(write_mp4(x, folder / f"video-{i}.mp4")) for i, x in enumerate(data["video"])]
        return out

    def surprise(self) -> str:
        """A caption of a random test sample of the world."""
        if self.world is None or "text" not in self.world.config.modalities:
            return random.choice(self.captions) if self.captions else ""
        index = random.randrange(1_000_000)
        return self.world.render("test", [index], ["text"])["text"][0]
