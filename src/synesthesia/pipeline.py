"""What users hold: ``pipe = synesthesia.load(run)`` and ``pipe.generate(to=..., **given)``.

Inputs are raw values — ``text`` a string, ``image`` a PIL image or path, ``audio`` a path or
``(waveform, sample_rate)``, ``video`` a path or a list of frames — or lists of them for a
batch. The outputs are raw values of the target modality: PIL images, strings,
``(waveform, sample_rate)`` tuples, lists of PIL frames.

Input policies (from the modality codecs): images of another size are resized and other modes
converted to RGB, each with a warning; sound at another sample rate is resampled; words outside
the tokenizer's vocabulary and empty text are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from synesthesia.modalities.base import Modality
from synesthesia.errors import SynesthesiaError

_RAW_SEQUENCE_TYPES = (list,)


class PipelineError(SynesthesiaError):
    """A generation request the pipeline cannot serve; the message says what it can do."""


class Pipeline:
    """A trained model with its modalities, ready to generate any target from any given subset."""

    def __init__(self, model: torch.nn.Module, modalities: Mapping[str, Modality], config=None,
                 run: Path | None = None) -> None:
        self.model = model.eval()
        self.modalities = dict(modalities)
        self.config = config
        self.run = run
        self.expander = None            # a CaptionExpander the run holds (see :meth:`model_generate`)

    @property
    def device(self) -> torch.device:
        tensor = next(iter(self.model.parameters()), None)
        if tensor is None:
            tensor = next(iter(self.model.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def to(self, device) -> "Pipeline":
        self.model.to(device)
        if self.expander is not None:
            self.expander.to(device)
        return self

    def model_generate(self, given: Mapping[str, torch.Tensor], targets: Sequence[str],
                       generator: torch.Generator | None = None, expand: bool | None = None,
                       **options) -> dict[str, torch.Tensor]:
        """``model.generate`` on encoded inputs, with text conditions first completed by the
        run's caption expander when it has one (:mod:`synesthesia.models.transformer.expander`);
        ``expand=False`` gives the model the captions as they are. A fitted prior the options
        ask for (``prior="aggregate"`` or ``"gmm"``) is fitted on first use."""
        from synesthesia.models.joint_vae.model import PRIOR_FITTERS

        if expand and self.expander is None:
            raise PipelineError("this run has no caption expander; train one with "
                                f"'synesthesia expander {self.run or 'RUN'}', or leave expand out")
        if "text" in given and self.expander is not None and expand is not False:
            given = {**given, "text": self.expander.expand(given["text"], generator)}
        prior = options.get("prior")
        if prior in PRIOR_FITTERS and hasattr(self.model, "fitted_prior") and self.model.fitted_prior(prior) is None:
            self.fit_prior(prior=prior)
        return self.model.generate(given, targets, generator=generator, **options)

    def fit_prior(self, n: int = 2000, prior: str = "aggregate") -> None:
        """Fit a joint VAE's ``prior`` for its MCMC (``"aggregate"``: the aggregate posterior;
        ``"gmm"``: a Gaussian mixture fitted to it) on ``n`` samples of the run's training data."""
        from synesthesia.data.user_source import open_data

        if not hasattr(self.model, "fitted_prior"):
            raise PipelineError(f"only joint VAEs take prior={prior!r}")
        self.model.fitted_prior(prior)                      # an unknown name raises before any data is read
        if self.config is None:
            raise PipelineError("this pipeline has no run config to find its training data; call "
                                f"pipe.model.fit_prior({prior!r}, data) with tensors of every modality")
        data = self.config.data
        source = open_data(data)
        size = getattr(source, "size", lambda split: None)("train")
        ds = source.dataset("train", min(n, size) if size else n, self.modalities)
        batch = ds[list(range(len(ds)))]
        self.model.fit_prior(prior, batch.data, batch.masks)

    # -- input handling ----------------------------------------------------------------------
    def _check(self, names, role: str) -> None:
        for m in names:
            if m not in self.modalities:
                raise PipelineError(f"this model has no {m!r} modality to {role}; it has "
                                    f"{', '.join(self.modalities)}")

    def _encode_given(self, given: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], int, bool]:
        given = {m: v for m, v in given.items() if v is not None}
        if not given:
            raise PipelineError("give at least one input (" + ", ".join(f"{m}=..." for m in self.modalities)
                                + "), or call pipe.sample(n) for unconditional samples")
        self._check(given, "condition on")
        tensors, sizes, batched = {}, set(), False
        for m, value in given.items():
            raws = value if isinstance(value, _RAW_SEQUENCE_TYPES) and not _is_frame_list(m, value) else [value]
            batched |= raws is value
            if len(raws) == 0:
                raise PipelineError(f"{m}= is an empty list; give at least one {m}")
            tensors[m] = self.modalities[m].encode(raws).to(self.device)
            sizes.add(len(raws))
        if len(sizes) > 1:
            raise PipelineError(f"inputs disagree on batch size: { {m: len(t) for m, t in tensors.items()} }")
        return tensors, sizes.pop(), batched

    # -- generation --------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, to: str, n: int = 1, seed: int | None = None, temperature: float = 1.0,
                 **given: Any) -> list:
        """Generate ``n`` outputs of modality ``to`` per input.

        With single inputs the result is a list of ``n`` outputs; with lists of B inputs it is a
        list of B lists of ``n`` outputs. Keywords that are not modality names are options of the
        model's ``generate`` (e.g. ``top_k``, ``top_p``, ``cfg_scale`` of transformers).
        """
        self._check([to], "generate")
        if n < 1:
            raise PipelineError(f"n must be at least 1, got {n}")
        expand = given.pop("expand", None)
        options = self._options(given)
        tensors, b, batched = self._encode_given(given)
        if to in tensors:
            raise PipelineError(f"{to!r} is both given and asked for; drop {to}= or choose another target")
        tensors = {m: x.repeat_interleave(n, dim=0) for m, x in tensors.items()}
        g = self._generator(seed)
        out = self.model_generate(tensors, [to], generator=g, expand=expand, temperature=temperature,
                                  **options)[to]
        raws = self.modalities[to].decode(out.float().cpu())
        groups = [raws[i * n:(i + 1) * n] for i in range(b)]
        return groups if batched else groups[0]

    def _options(self, given: dict) -> dict:
        """Pop the keywords of ``given`` that name no modality: options for ``model.generate``,
        which must accept them."""
        import inspect

        from synesthesia.modalities import MODALITY_CLASSES

        options = {k: given.pop(k) for k in list(given) if k not in self.modalities and k not in MODALITY_CLASSES}
        params = inspect.signature(self.model.generate).parameters
        if options and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            taken = [k for k in params if k not in ("given", "targets", "generator", "temperature", "batch_size")]
            bad = [k for k in options if k not in taken]
            if bad:
                raise PipelineError(f"{', '.join(bad)} is neither a modality of this model ({', '.join(self.modalities)}) "
                                    f"nor an option of its generate ({', '.join(taken) or 'it takes none'})")
        return options

    @torch.no_grad()
    def sample(self, n: int = 1, seed: int | None = None, to: Sequence[str] | None = None,
               temperature: float = 1.0) -> dict[str, list]:
        """Unconditional joint samples: every modality (or ``to``) decoded from the same latents."""
        targets = list(to or self.modalities)
        self._check(targets, "generate")
        out = self.model.generate({}, targets, generator=self._generator(seed), batch_size=n,
                                  temperature=temperature)
        return {m: self.modalities[m].decode(out[m].float().cpu()) for m in targets}

    def generate_image(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("image", n=n, seed=seed, **given)

    def generate_text(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("text", n=n, seed=seed, **given)

    def generate_audio(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("audio", n=n, seed=seed, **given)

    def generate_video(self, n: int = 1, seed: int | None = None, **given) -> list:
        return self.generate("video", n=n, seed=seed, **given)

    def cycle(self, text=None, image=None, rounds: int = 5, seed: int = 0):
        """image -> text -> image -> ... from ``text`` or ``image`` (one value or a list); see
        :func:`synesthesia.cycle.run_cycle`."""
        from synesthesia.cycle import run_cycle

        return run_cycle(self, text=text, image=image, rounds=rounds, seed=seed)

    def _generator(self, seed: int | None) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
        return g

    def save(self, raw: Any, modality: str, path: str | Path) -> Path:
        """Write one output with the modality's file writer (format from the extension)."""
        self._check([modality], "write")
        return self.modalities[modality].write(raw, path)


def _is_frame_list(modality: str, value) -> bool:
    """A video given as a list of frames is one input, not a batch."""
    from PIL import Image

    return modality == "video" and len(value) > 0 and isinstance(value[0], Image.Image)


def load(run: str | Path, device: str | torch.device = "cpu") -> Pipeline:
    """Load a trained run folder into a :class:`Pipeline`."""
    from synesthesia.runs import load_model

    from synesthesia.models.transformer.expander import WEIGHTS, CaptionExpander

    model, modalities, config = load_model(run)
    pipe = Pipeline(model, modalities, config, Path(run))
    if (Path(run) / WEIGHTS).is_file() and "text" in modalities:
        pipe.expander = CaptionExpander.load(run, modalities["text"])
    return pipe.to(device)
