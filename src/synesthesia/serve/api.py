"""The REST API under ``/v1``: health, models, generate, cycle and sample.

``POST /v1/generate`` and ``/v1/cycle`` take JSON (media as base64) or multipart/form-data
(media as file uploads, the rest as form fields; a urlencoded form works for text alone). Every error is a JSON body
``{"error": ..., "status": ...}``: 400 for a request the runs cannot serve, 422 for invalid
fields or media, 413 for a body over the limit, 503 (with Retry-After) when the queue is full,
504 when a request runs past the timeout.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from synesthesia import __version__
from synesthesia.errors import ModelInputError, SynesthesiaError
from synesthesia.modalities import ModalityError
from synesthesia.serve import schemas as S
from synesthesia.serve.media import MediaError, from_base64
from synesthesia.serve.scheduler import QueueFull
from synesthesia.serve.service import Service
from synesthesia.serve.settings import ServeError


def _body_schema(model: type[BaseModel]) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    multipart = {**schema, "properties": {**schema["properties"],
                                         **{m: {"type": "string", "format": "binary"} for m in S.MEDIA_FIELDS
                                            if m in schema["properties"]}}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema},
                                                          "multipart/form-data": {"schema": multipart}}}}


async def read_request(request: Request, model: type[BaseModel], service: Service) -> tuple[Any, dict]:
    """The validated fields and the uploaded media bytes of a JSON or multipart request."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    media: dict[str, bytes] = {}
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields: dict[str, Any] = {}
        async with request.form(max_files=len(S.MEDIA_FIELDS), max_fields=64) as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name not in S.MEDIA_FIELDS:
                        raise ServeError(f"file field {name!r} is not one of {', '.join(S.MEDIA_FIELDS)}")
                    media[name] = await value.read()
                else:
                    fields[name] = value
    elif kind in ("application/json", ""):
        try:
            fields = json.loads(await request.body() or b"null")
        except ValueError as err:
            raise ServeError(f"the body is not valid JSON: {err}") from None
        if not isinstance(fields, dict):
            raise ServeError("the body must be a JSON object")
    else:
        raise ServeError(f"send application/json or multipart/form-data (or a urlencoded form), not {kind}")
    parsed = model.model_validate(fields)
    for name in S.MEDIA_FIELDS:
        encoded = getattr(parsed, name, None)
        if encoded is not None:
            if name in media:
                raise ServeError(f"{name} is given twice (as a file and as base64)")
            media[name] = from_base64(encoded, name)
    decoded = {m: await service.decode(m, data) for m, data in media.items()}
    return parsed, decoded


def build_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["v1"])
    engine = service.engine

    @router.get("/health", response_model=S.Health, summary="Liveness and queue state")
    async def health() -> S.Health:
        return S.Health(status="ok", version=__version__, runs=len(engine.pipelines),
                        waiting=len(service.batcher.waiting), queue_size=service.settings.queue_size,
                        batching=service.settings.batching)

    @router.get("/models", response_model=S.ModelsResponse, summary="Runs, modalities and directions served")
    async def models() -> S.ModelsResponse:
        runs = [S.RunInfo(name=engine.names[i], family=engine.family(i),
                          modalities={m: _public(mod.config()) for m, mod in p.modalities.items()},
                          options=engine.options_of(i), coherence=engine.recorded_coherence(i))
                for i, p in enumerate(engine.pipelines)]
        directions = []
        for d in engine.directions():
            recorded = _recorded(engine.recorded_coherence(d.run), d)
            directions.append(S.DirectionInfo(name=d.name, given=list(d.given), target=d.target,
                                              run=engine.names[d.run], options=engine.options_of(d.run),
                                              coherence=recorded))
        return S.ModelsResponse(runs=runs, directions=directions)

    @router.post("/generate", response_model=S.GenerateResponse, openapi_extra=_body_schema(S.GenerateRequest),
                 summary="Generate a modality from any served subset of the others")
    async def generate(request: Request) -> S.GenerateResponse:
        start = time.perf_counter()
        req, media = await read_request(request, S.GenerateRequest, service)
        given = {"text": req.text, **media}
        options = S.Options.model_validate(req.model_dump(include=set(S.Options.model_fields))).chosen()
        d, result = await service.generate(req.to, given, n=req.n, seed=req.seed,
                                           temperature=req.temperature, options=options)
        outputs = await service.encode(req.to, result.outputs, req.video_format)
        return S.GenerateResponse(to=req.to, direction=d.name, run=engine.names[d.run], seed=result.seed,
                                  batch_size=result.batch_size, outputs=outputs, notes=result.notes,
                                  seconds=round(time.perf_counter() - start, 4))

    @router.post("/cycle", response_model=S.CycleResponse, openapi_extra=_body_schema(S.CycleRequest),
                 summary="image -> text -> image -> ... from a caption or an image")
    async def cycle(request: Request) -> S.CycleResponse:
        start = time.perf_counter()
        req, media = await read_request(request, S.CycleRequest, service)
        result = await service.cycle(req.text, media.get("image"), req.rounds, req.seed)
        rounds = []
        for r, (imgs, caps) in enumerate(zip(result["images"], result["captions"])):
            image = (await service.encode("image", imgs))[0] if imgs else None
            rounds.append(S.CycleRound(round=r, caption=caps[0] if caps else None, image=image))
        return S.CycleResponse(seed=result["seed"], rounds=rounds, seconds=round(time.perf_counter() - start, 4))

    @router.post("/sample", response_model=S.SampleResponse, summary="Unconditional joint samples")
    async def sample(req: S.SampleRequest) -> S.SampleResponse:
        start = time.perf_counter()
        run, result = await service.sample(req.run, req.n, req.seed, req.temperature)
        outputs = {m: await service.encode(m, raws, req.video_format) for m, raws in result.outputs.items()}
        return S.SampleResponse(run=engine.names[run], seed=result.seed, outputs=outputs,
                                seconds=round(time.perf_counter() - start, 4))

    return router


def _public(config: dict) -> dict:
    """A modality's config without anything that is not a plain number, string or flag."""
    return {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool)) or v is None}


def _recorded(coherence: dict[str, float], d) -> float | None:
    for name, score in coherence.items():
        if "->" in name:
            given, target = name.split("->", 1)
            if target.strip() == d.target and sorted(g.strip() for g in given.split("+")) == list(d.given):
                return None if math.isnan(score) else score
    return None


def error(status: int, message: str, headers: dict | None = None, detail: list | None = None) -> JSONResponse:
    body = {"error": message, "status": status}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    """Map the project's errors to 4xx/5xx JSON bodies."""

    async def synesthesia_error(request, err):
        unprocessable = isinstance(err, (MediaError, ModalityError, ServeError))
        return error(422 if unprocessable else 400, str(err))

    async def validation(request, err):
        detail = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
                  for e in err.errors()]
        summary = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in detail)
        return error(422, f"invalid request: {summary}", detail=detail)

    async def queue_full(request, err):
        return error(503, str(err), headers={"Retry-After": str(err.retry_after)})

    async def timeout(request, err):
        return error(504, f"the request took longer than the server's limit of "
                          f"{app.state.service.settings.timeout_s:g} s; ask for fewer outputs or fewer steps")

    async def model_input(request, err):
        return error(400, str(err))

    app.add_exception_handler(SynesthesiaError, synesthesia_error)
    app.add_exception_handler(ValidationError, validation)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(QueueFull, queue_full)
    app.add_exception_handler(asyncio.TimeoutError, timeout)
    app.add_exception_handler(ModelInputError, model_input)
