"""The web UI (gradio, mounted at ``/``): one tab per kind of direction the loaded runs serve.

text→image, image→text, sound→image, text→video, image→sound, the image→text→image cycle and
joint samples; each with n / seed / temperature, the sampling options of the family that serves
it, and example inputs from the run's world. Every tab calls the same
:class:`~synesthesia.serve.service.Service` as the API, so UI requests share its queue, batching
and limits.
"""

from __future__ import annotations

import time

import gradio as gr

from synesthesia.serve.examples import WorldExamples
from synesthesia.serve.service import Service
from synesthesia.serve.ui_parts import audio_value, controls, describe, guarded, parse_seed, read_upload, video_file

# tab -> (given, target, title)
TABS = (("t2i", ("text",), "image", "text → image"),
        ("i2t", ("image",), "text", "image → text"),
        ("a2i", ("audio",), "image", "sound → image"),
        ("t2v", ("text",), "video", "text → video"),
        ("i2a", ("image",), "audio", "image → sound"))

def build_ui(service: Service, examples: WorldExamples):

    engine = service.engine
    served = {(d.given, d.target): d for d in engine.directions()}
    with gr.Blocks(title="synesthesia", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        runs = ", ".join(f"`{n}` ({engine.family(i)})" for i, n in enumerate(engine.names))
        gr.Markdown(f"# synesthesia\nRuns: {runs}. The REST API is at [/docs](/docs).")
        with gr.Tabs():
            for prefix, given, target, title in TABS:
                d = served.get((given, target))
                if d is not None:
                    with gr.Tab(title, id=prefix, elem_id=f"tab-{prefix}"):
                        TAB_BUILDERS[prefix](gr, service, examples, d, prefix)
            if (("text",), "image") in served and (("image",), "text") in served:
                with gr.Tab("cycle", id="cycle", elem_id="tab-cycle"):
                    cycle_tab(gr, service, examples)
            with gr.Tab("joint samples", id="joint", elem_id="tab-joint"):
                joint_tab(gr, service)
    demo.queue(max_size=service.settings.queue_size, default_concurrency_limit=None)
    return demo

def _caption_input(gr, service: Service, examples: WorldExamples, prefix: str):
    with gr.Row():
        text = gr.Textbox(label="caption", placeholder=examples.captions[0] if examples.captions else "a caption",
                          max_length=service.settings.max_prompt_chars, elem_id=f"{prefix}-text", scale=4)
        surprise = gr.Button("surprise me", elem_id=f"{prefix}-surprise", scale=1,
                             visible=bool(examples.captions))
    return text, surprise

def text_to_image_tab(gr, service: Service, examples: WorldExamples, d, prefix: str) -> None:
    text, surprise = _caption_input(gr, service, examples, prefix)
    ctl = controls(gr, service, prefix, service.engine.options_of(d.run), n=4)
    go = gr.Button("generate", variant="primary", elem_id=f"{prefix}-go")
    gallery = gr.Gallery(label="images", columns=4, height=320, format="png", elem_id=f"{prefix}-out")
    info = gr.Markdown(elem_id=f"{prefix}-info")
    if examples.captions:
        gr.Examples([[c] for c in examples.captions], inputs=[text], label="captions from the run's world")

    async def run(caption, *values):
        start = time.perf_counter()
        n, seed, temperature, options = ctl.read(values)
        d2, result = await guarded(service.generate("image", {"text": caption}, n, seed, temperature, options))
        return result.outputs, describe(service, d2, result, start)

    go.click(run, [text, *ctl.inputs()], [gallery, info])
    text.submit(run, [text, *ctl.inputs()], [gallery, info])
    surprise.click(examples.surprise, None, text).then(run, [text, *ctl.inputs()], [gallery, info])

def image_to_text_tab(gr, service: Service, examples: WorldExamples, d, prefix: str) -> None:
    image = gr.Image(type="filepath", label="image", sources=["upload", "clipboard"], height=200,
                     elem_id=f"{prefix}-in")
    ctl = controls(gr, service, prefix, service.engine.options_of(d.run), n=3)
    go = gr.Button("caption it", variant="primary", elem_id=f"{prefix}-go")
    captions = gr.Textbox(label="sampled captions", lines=4, elem_id=f"{prefix}-out")
    info = gr.Markdown(elem_id=f"{prefix}-info")
    if examples.images:
        gr.Examples([[p] for p in examples.images], inputs=[image], label="images from the run's world")

    async def run(path, *values):
        start = time.perf_counter()
        n, seed, temperature, options = ctl.read(values)
        raw = await read_upload(service, "image", path)
        d2, result = await guarded(service.generate("text", {"image": raw}, n, seed, temperature, options))
        return "\n".join(result.outputs), describe(service, d2, result, start)

    go.click(run, [image, *ctl.inputs()], [captions, info])

def sound_to_image_tab(gr, service: Service, examples: WorldExamples, d, prefix: str) -> None:
    sound = gr.Audio(sources=["upload", "microphone"], type="filepath", format="wav", label="sound",
                     elem_id=f"{prefix}-in")
    ctl = controls(gr, service, prefix, service.engine.options_of(d.run), n=4)
    go = gr.Button("draw it", variant="primary", elem_id=f"{prefix}-go")
    gallery = gr.Gallery(label="images", columns=4, height=320, format="png", elem_id=f"{prefix}-out")
    info = gr.Markdown(elem_id=f"{prefix}-info")
    if examples.sounds:
        labels = examples.captions[:len(examples.sounds)] or None
        gr.Examples([[p] for p in examples.sounds], inputs=[sound], example_labels=labels,
                    label="sounds from the run's world")

    async def run(path, *values):
        start = time.perf_counter()
        n, seed, temperature, options = ctl.read(values)
        raw = await read_upload(service, "audio", path)
        d2, result = await guarded(service.generate("image", {"audio": raw}, n, seed, temperature, options))
        return result.outputs, describe(service, d2, result, start)

    go.click(run, [sound, *ctl.inputs()], [gallery, info])

def text_to_video_tab(gr, service: Service, examples: WorldExamples, d, prefix: str) -> None:
    text, surprise = _caption_input(gr, service, examples, prefix)
    ctl = controls(gr, service, prefix, service.engine.options_of(d.run), n=1, show_n=False)
    go = gr.Button("animate", variant="primary", elem_id=f"{prefix}-go")
    video = gr.Video(label="clip", height=256, autoplay=True, loop=True, elem_id=f"{prefix}-out")
    info = gr.Markdown(elem_id=f"{prefix}-info")
    if examples.captions:
        gr.Examples([[c] for c in examples.captions], inputs=[text], label="captions from the run's world")

    async def run(caption, *values):
        start = time.perf_counter()
        _, seed, temperature, options = ctl.read(values)
        d2, result = await guarded(service.generate("video", {"text": caption}, 1, seed, temperature, options))
        return video_file(service, result.outputs[0]), describe(service, d2, result, start)

    go.click(run, [text, *ctl.inputs()], [video, info])
    text.submit(run, [text, *ctl.inputs()], [video, info])
    surprise.click(examples.surprise, None, text).then(run, [text, *ctl.inputs()], [video, info])

def image_to_sound_tab(gr, service: Service, examples: WorldExamples, d, prefix: str) -> None:
    image = gr.Image(type="filepath", label="image", sources=["upload", "clipboard"], height=200,
                     elem_id=f"{prefix}-in")
    ctl = controls(gr, service, prefix, service.engine.options_of(d.run), n=1, show_n=False)
    go = gr.Button("listen", variant="primary", elem_id=f"{prefix}-go")
    sound = gr.Audio(label="sound", type="numpy", interactive=False, elem_id=f"{prefix}-out")
    info = gr.Markdown(elem_id=f"{prefix}-info")
    if examples.images:
        gr.Examples([[p] for p in examples.images], inputs=[image], label="images from the run's world")

    async def run(path, *values):
        start = time.perf_counter()
        _, seed, temperature, options = ctl.read(values)
        raw = await read_upload(service, "image", path)
        d2, result = await guarded(service.generate("audio", {"image": raw}, 1, seed, temperature, options))
        return audio_value(result.outputs[0]), describe(service, d2, result, start)

    go.click(run, [image, *ctl.inputs()], [sound, info])

def cycle_tab(gr, service: Service, examples: WorldExamples) -> None:
    gr.Markdown("Start from a caption, or from an image (leave the caption empty); each round draws "
                "an image from the caption and a caption from that image.")
    with gr.Row():
        text = gr.Textbox(label="start caption", elem_id="cycle-text", scale=3)
        image = gr.Image(type="filepath", label="or a start image", height=160, elem_id="cycle-in", scale=1)
    with gr.Row():
        rounds = gr.Slider(1, service.settings.max_rounds, value=min(4, service.settings.max_rounds), step=1,
                           label="rounds", elem_id="cycle-rounds")
        seed = gr.Textbox(value="0", label="seed (empty: random)", elem_id="cycle-seed")
    go = gr.Button("run the cycle", variant="primary", elem_id="cycle-go")
    strip = gr.Gallery(label="rounds", columns=6, height=300, format="png", elem_id="cycle-out")
    if examples.captions:
        gr.Examples([[c] for c in examples.captions], inputs=[text], label="captions from the run's world")

    async def run(caption, path, n_rounds, seed_value):
        caption = caption.strip() if caption else None
        raw = await read_upload(service, "image", path) if not caption else None
        result = await guarded(service.cycle(caption, raw, int(n_rounds), parse_seed(seed_value)))
        strip = []
        for r, (imgs, caps) in enumerate(zip(result["images"], result["captions"])):
            if imgs:
                strip.append((imgs[0], f"{r}: {caps[0] if caps else '(start image)'}"))
        return strip

    go.click(run, [text, image, rounds, seed], [strip])

def joint_tab(gr, service: Service) -> None:
    engine = service.engine
    names = engine.names
    run = gr.Dropdown(names, value=names[engine.default_sample_run()], label="run", elem_id="joint-run",
                      visible=len(names) > 1)
    ctl = controls(gr, service, "joint", [], n=4)
    go = gr.Button("sample", variant="primary", elem_id="joint-go")
    gallery = gr.Gallery(label="images with their captions", columns=4, height=300, format="png",
                         elem_id="joint-out")
    with gr.Row():
        sound = gr.Audio(label="sound of the first sample", type="numpy", interactive=False, elem_id="joint-sound")
        video = gr.Video(label="video of the first sample", height=200, elem_id="joint-video")
    info = gr.Markdown(elem_id="joint-info")

    async def sample(run_name, *values):
        start = time.perf_counter()
        n, seed, temperature, _ = ctl.read(values)
        index, result = await guarded(service.sample(run_name, n, seed, temperature))
        out = result.outputs
        captions = out.get("text", [""] * n)
        images = [(img, cap) for img, cap in zip(out["image"], captions)] if "image" in out else []
        first_sound = audio_value(out["audio"][0]) if "audio" in out else None
        first_video = video_file(service, out["video"][0]) if "video" in out else None
        return images, first_sound, first_video, describe(service, index, result, start)

    go.click(sample, [run, *ctl.inputs()], [gallery, sound, video, info])

TAB_BUILDERS = {"t2i": text_to_image_tab, "i2t": image_to_text_tab, "a2i": sound_to_image_tab,
                "t2v": text_to_video_tab, "i2a": image_to_sound_tab}
