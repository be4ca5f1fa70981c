"""Pieces the web UI's tabs share: the common controls, the sampling-options panel of a run's
family, and turning service results and errors into what gradio shows."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synesthesia.errors import SynesthesiaError
from synesthesia.modalities.files import write_mp4
from synesthesia.serve.scheduler import QueueFull
from synesthesia.serve.service import MAX_BEAM, Service

UNSET = "default"

@dataclass
class Controls:
    """n, seed and temperature boxes of a tab, and its sampling options (name, component)."""

    n: Any
    seed: Any
    temperature: Any
    options: list[tuple[str, Any]]

    def inputs(self) -> list:
        return [self.n, self.seed, self.temperature, *[c for _, c in self.options]]

    def read(self, values: tuple) -> tuple[int, int | None, float, dict]:
        """(n, seed, temperature, options) from the values of :meth:`inputs`, in order."""
        n, seed, temperature, *rest = values
        options = {}
        for (name, _), value in zip(self.options, rest):
            value = _option_value(name, value)
            if value is not None:
                options[name] = value
        return int(n), parse_seed(seed), float(temperature), options

def parse_seed(value) -> int | None:
    """The seed box's text -> a seed, or None (random) when it is empty."""
    import gradio as gr

    text = str(value if value is not None else "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) >= 2**63:
        raise gr.Error(f"the seed must be a whole number from 0, got {text!r}; leave it empty for a random one")
    return int(text)

def _option_value(name: str, value):
    if value in (None, "", UNSET):
        return None
    if name == "expand":
        return value == "on"
    kind = int if name in ("steps", "chains", "proposals", "beam_size", "top_k") else float
    if name in ("top_p", "cfg_scale", "length_penalty") or kind is int:
        try:
            return kind(str(value).strip())
        except ValueError:
            import gradio as gr

            raise gr.Error(f"{name} must be a{'' if kind is int else ' decimal'} number, got {value!r}") from None
    return value

def controls(gr, service: Service, prefix: str, run_options: list[str], n: int = 4, max_n: int | None = None,
             show_n: bool = True) -> Controls:
    """n / seed / temperature in a row, and an accordion of the family's options that apply."""
    top = min(max_n or service.settings.max_n, service.settings.max_n)
    with gr.Row():
        n_box = gr.Slider(1, top, value=min(n, top), step=1, label="outputs", visible=show_n,
                          elem_id=f"{prefix}-n")
        seed = gr.Textbox(value="", label="seed (empty: random)", placeholder="random", elem_id=f"{prefix}-seed")
        temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="temperature", elem_id=f"{prefix}-temperature")
    options = []
    if run_options:
        with gr.Accordion("sampling options", open=False, elem_id=f"{prefix}-options"):
            for name in run_options:
                options.append((name, option_component(gr, service, name)))
    return Controls(n_box, seed, temperature, options)

def option_component(gr, service: Service, name: str):
    s = service.settings
    choices = {"sampler": [UNSET, "mala", "hmc", "langevin"], "prior": [UNSET, "standard", "aggregate", "gmm"],
               "method": [UNSET, "greedy", "beam", "sample"], "expand": [UNSET, "on", "off"]}
    info = {"sampler": "MCMC on the latent instead of the encoder alone", "steps": f"MCMC steps (1-{s.max_steps})",
            "chains": f"MCMC chains (1-{s.max_chains})", "proposals": "proposals per MCMC step",
            "prior": "p(z) of the MCMC target", "method": "caption decoding",
            "beam_size": f"beam search hypotheses (1-{MAX_BEAM})", "top_k": "sample among the k likeliest",
            "top_p": "nucleus mass (0-1)", "cfg_scale": "classifier-free guidance (1: none)",
            "length_penalty": "beam search length penalty", "expand": "complete partial captions first"}
    if name in choices:
        return gr.Dropdown(choices[name], value=UNSET, label=name, info=info.get(name))
    return gr.Textbox(value="", label=f"{name} (empty: the run's default)", placeholder="default", info=info.get(name))

async def guarded(call):
    """Await a service call; the project's errors become gradio messages."""
    import gradio as gr

    try:
        return await call
    except QueueFull as err:
        raise gr.Error(f"{err}") from None
    except asyncio.TimeoutError:
        raise gr.Error("the request took too long; ask for fewer outputs or fewer steps") from None
    except (SynesthesiaError, ValueError) as err:
        raise gr.Error(str(err)) from None

def describe(service: Service, direction, result, start: float) -> str:
    """One line under a result: seed, run, batch and timing, and any notes on the inputs."""
    engine = service.engine
    run = direction.run if hasattr(direction, "run") else direction
    line = (f"seed **{result.seed}** · run `{engine.names[run]}` ({engine.family(run)}) · "
            f"{time.perf_counter() - start:.2f} s")
    if getattr(result, "batch_size", 1) > 1:
        line += f" · batched with {result.batch_size - 1} other request(s)"
    notes = getattr(result, "notes", [])
    return line + ("".join(f"\n\n_{n}_" for n in notes) if notes else "")

def audio_value(sound) -> tuple[int, np.ndarray]:
    """``(waveform, rate)`` -> what gr.Audio shows: ``(rate, int16 samples)``."""
    wave, rate = sound
    return int(rate), (np.clip(np.asarray(wave, dtype=np.float32), -1, 1) * 32767).astype(np.int16)

def video_file(service: Service, frames) -> str:
    """Frames -> an MP4 in the server's temporary folder (older ones are removed)."""

    folder = service.temp_dir / "ui"
    folder.mkdir(exist_ok=True)
    cutoff = time.time() - 3600
    for old in folder.glob("*.mp4"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    fps = int(getattr(service.engine.modalities.get("video"), "fps", 8) or 8)
    path = folder / f"clip-{time.monotonic_ns()}.mp4"
    return str(write_mp4(np.stack([np.asarray(f.convert("RGB")) for f in frames]), path, fps=fps))

async def read_upload(service: Service, modality: str, path: str | None):
    """A file gradio received -> the raw input, through the same header checks as the API."""
    import gradio as gr

    if not path:
        raise gr.Error(f"give an {modality} first (upload one or pick an example)")
    data = await asyncio.to_thread(Path(path).read_bytes)
    return await guarded(service.decode(modality, data))
