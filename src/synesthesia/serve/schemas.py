"""The JSON bodies of the REST API (pydantic models; the OpenAPI docs at /docs come from them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MEDIA_FIELDS = ("image", "audio", "video")


class Options(BaseModel):
    """Sampling options of the family that serves the direction; ``GET /v1/models`` lists which
    each run takes. Unset options keep the run's defaults."""

    model_config = ConfigDict(extra="forbid")

    sampler: Literal["mala", "hmc", "langevin"] | None = Field(
        None, description="joint VAEs: sample the posterior by MCMC instead of the encoder alone")
    steps: int | None = Field(None, description="joint VAEs: MCMC steps with a sampler")
    chains: int | None = Field(None, description="joint VAEs: MCMC chains per input")
    proposals: int | None = Field(None, description="joint VAEs: proposals per step")
    prior: Literal["standard", "aggregate", "gmm", "flow"] | None = Field(
        None, description="joint VAEs: p(z) of the MCMC target, or flow: the run's learned prior draws z")
    flow_steps: int | None = Field(None, description="joint VAEs with prior=flow: ODE steps of the flow")
    method: Literal["greedy", "beam", "sample"] | None = Field(None, description="captioners: decoding")
    beam_size: int | None = Field(None, description="captioners: hypotheses kept by beam search")
    top_k: int | None = Field(None, description="transformers: sample among the k likeliest tokens")
    top_p: float | None = Field(None, description="transformers: nucleus sampling mass")
    cfg_scale: float | None = Field(None, description="transformers: classifier-free guidance scale (1: none); "
                                                          "joint VAEs with prior=flow: the flow's guidance")
    length_penalty: float | None = Field(None, description="captioners: beam search length penalty")
    expand: bool | None = Field(None, description="runs with a caption expander: complete partial captions first")

    def chosen(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class GenerateRequest(Options):
    """Generate ``n`` outputs of ``to`` from any served subset of text, image, audio and video.

    As JSON, media are base64 strings (a ``data:`` URL prefix is allowed); as
    ``multipart/form-data``, the same names are file uploads and the rest form fields."""

    to: str = Field(description="target modality: image, text, audio or video", examples=["image"])
    text: str | None = Field(None, description="a caption", examples=["a big red star"])
    image: str | None = Field(None, description="base64 PNG, JPEG, GIF, BMP or WebP")
    audio: str | None = Field(None, description="base64 WAV, FLAC or OGG")
    video: str | None = Field(None, description="base64 GIF, MP4 or WebM")
    n: int = Field(1, ge=1, description="outputs to generate")
    seed: int | None = Field(None, ge=0, lt=2**63, description="random seed; without one the server "
                             "draws one (and may batch the request with others)")
    temperature: float = Field(1.0, ge=0, description="sampling temperature")
    video_format: Literal["gif", "mp4"] | None = Field(None, description="format of generated videos")


class CycleRequest(BaseModel):
    """image -> text -> image -> ... from a caption or an image."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="caption to start from", examples=["a small blue heart"])
    image: str | None = Field(None, description="base64 image to start from")
    rounds: int = Field(3, ge=1, description="rounds of image and caption")
    seed: int | None = Field(0, ge=0, lt=2**63, description="random seed")


class SampleRequest(BaseModel):
    """Unconditional joint samples: every modality of one run drawn from the same latent."""

    model_config = ConfigDict(extra="forbid")

    run: str | None = Field(None, description="run name from /v1/models (default: the first joint VAE)")
    n: int = Field(4, ge=1)
    seed: int | None = Field(None, ge=0, lt=2**63)
    temperature: float = Field(1.0, ge=0)
    video_format: Literal["gif", "mp4"] | None = None


class Output(BaseModel):
    """One generated value: ``text``, or base64 ``data`` of ``media_type``."""

    media_type: str
    text: str | None = None
    data: str | None = None


class GenerateResponse(BaseModel):
    to: str
    direction: str = Field(description="the direction served, e.g. text->image")
    run: str = Field(description="the run that generated")
    seed: int = Field(description="the seed the outputs were drawn with")
    batch_size: int = Field(description="requests that shared the model call (1: alone; then the seed reproduces)")
    outputs: list[Output]
    notes: list[str] = Field(description="how the inputs were fitted to the model (resizing, resampling)")
    seconds: float


class CycleRound(BaseModel):
    round: int
    caption: str | None
    image: Output | None


class CycleResponse(BaseModel):
    seed: int
    rounds: list[CycleRound]
    seconds: float


class SampleResponse(BaseModel):
    run: str
    seed: int
    outputs: dict[str, list[Output]]
    seconds: float


class DirectionInfo(BaseModel):
    name: str
    given: list[str]
    target: str
    run: str
    options: list[str]
    coherence: float | None = Field(description="recorded by 'synesthesia evaluate' in the run's metrics.json")


class RunInfo(BaseModel):
    name: str
    family: str
    modalities: dict[str, dict]
    options: list[str]
    coherence: dict[str, float]


class ModelsResponse(BaseModel):
    runs: list[RunInfo]
    directions: list[DirectionInfo]


class Health(BaseModel):
    status: str
    version: str
    runs: int
    waiting: int
    queue_size: int
    batching: bool


class ErrorBody(BaseModel):
    error: str
    status: int
    detail: list[dict] | None = None
