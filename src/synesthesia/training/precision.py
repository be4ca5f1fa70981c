"""Which arithmetic a run trains in: ``train.precision: auto`` is bf16-mixed where the hardware
computes bf16 natively and 32-true elsewhere.

bf16 autocast pays only where the processor has bf16 instructions (x86 AVX-512 BF16 or AMX, Arm
BF16, CUDA devices that support it). On a CPU without them (e.g. AVX2 only) every bf16 convolution
and matrix product is emulated: a joint-VAE training step measured 14x slower in bf16-mixed than
in 32-true on a 2-core AVX2 machine (``benchmarks/shared_cpu.py --precision bf16|32``).
"""

from __future__ import annotations

import functools
import platform
import sys
from pathlib import Path

import torch

BF16_FLAGS = ("avx512_bf16", "amx_bf16")        # x86 /proc/cpuinfo flags; Arm lists "bf16" in Features


@functools.cache
def cpu_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has native bf16 arithmetic (from /proc/cpuinfo; False where unknown)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return platform.system() == "Darwin" and platform.machine() == "arm64"   # Apple M2 and later
    words = set(cpuinfo.lower().split())
    return any(flag in words for flag in BF16_FLAGS) or ("features" in cpuinfo.lower() and "bf16" in words)


def device_bf16(accelerator: str) -> bool:
    """Native bf16 on what the run trains on (a CUDA GPU when asked for one and present, else the CPU)."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_bf16()


def resolve_precision(precision: str, accelerator: str = "cpu", say=None) -> str:
    """The Lightning precision for ``train.precision``: ``auto`` becomes bf16-mixed or 32-true;
    bf16 asked for where it is emulated is kept, with a note that it is slow."""
    say = say or (lambda line: print(line, file=sys.stderr))
    native = device_bf16(accelerator)
    if precision == "auto":
        return "bf16-mixed" if native else "32-true"
    if precision.startswith("bf16") and not native:
        say(f"synesthesia: train.precision {precision} on a processor without native bf16 is emulated and "
            "much slower (14x measured on AVX2); use auto or 32-true")
    return precision
