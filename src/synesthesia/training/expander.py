"""Training a caption expander (:class:`~synesthesia.models.transformer.expander.CaptionExpander`)
on (partial, complete) caption pairs with the small shared loop (:func:`synesthesia.loop.fit`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from synesthesia.errors import SynesthesiaError
from synesthesia.loop import Resumable, fit
from synesthesia.modalities.text import TextModality
from synesthesia.models.transformer.expander import CaptionExpander, ExpanderConfig, ExpanderError


def train_expander(text: TextModality, partial: Sequence[str], complete: Sequence[str],
                   steps: int = 2000, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                   config: ExpanderConfig | None = None,
                   log: Callable[[str], None] | None = None, checkpoint: Path | None = None,
                   resume: bool = False, command: str = "", every: int = 200) -> tuple[CaptionExpander, dict]:
    """Fit a :class:`CaptionExpander` on the pairs for ``steps`` updates (AdamW, linear warm-up
    then cosine decay). Returns the model and a summary: steps, seconds, loss and token accuracy on
    a tenth of the pairs held out, and the share of held-out complete captions that greedy
    expansion returns unchanged.

    Every ``every`` steps a progress line goes to ``log``. With ``checkpoint`` the state is saved
    every ``every`` steps and on SIGTERM/SIGINT (then
    :class:`~synesthesia.checkpoint.Interrupted` is raised; ``command`` is how to resume), and
    ``resume`` continues from it exactly."""
    if len(partial) != len(complete):
        raise ExpanderError(f"{len(partial)} partial captions but {len(complete)} complete ones")
    if steps < 1:
        raise ExpanderError(f"steps must be at least 1, got {steps}")
    torch.manual_seed(seed)
    try:
        src, dst = text.encode(list(partial)), text.encode(list(complete))
    except SynesthesiaError as e:
        raise ExpanderError(f"the pairs do not fit the run's text modality: {e}") from None
    order = torch.randperm(len(src), generator=torch.Generator().manual_seed(seed))
    src, dst = src[order], dst[order]
    n_val = max(1, len(src) // 10)
    val_src, val_dst, src, dst = src[-n_val:], dst[-n_val:], src[:-n_val], dst[:-n_val]
    model = CaptionExpander(text, config)
    accuracy = [float("nan")]

    def loss(idx: torch.Tensor) -> torch.Tensor:
        value, accuracy[0] = model.loss(src[idx], dst[idx])
        return value

    def report(step: int, value: float) -> None:
        if log is not None:
            log(f"step {step}: loss {value:.4f}, token accuracy {float(accuracy[0]):.3f}")

    model.train()
    summary = fit(model.parameters(), loss, len(src), steps, batch_size, lr, "warmup-cosine", warmup=100,
                  weight_decay=0.01, betas=(0.9, 0.98), clip=1.0, seed=seed, every=every, on_every=report,
                  state=None if checkpoint is None else Resumable(Path(checkpoint), model, every, resume, command))
    model.eval()
    with torch.no_grad():
        val_loss, val_acc = model.loss(val_src, val_dst)
        whole = (val_src == val_dst).all(1)                  # complete captions: should come back as they are
        kept = float("nan")
        if bool(whole.any()):
            kept = float((model.expand(val_src[whole], temperature=0.0) == val_dst[whole]).all(1).float().mean())
    return model, {"steps": summary.steps, "seconds": round(summary.seconds, 1), "pairs": len(src),
                   "val_loss": round(float(val_loss), 4), "val_token_accuracy": round(float(val_acc), 4),
                   "val_complete_kept": round(kept, 4)}
