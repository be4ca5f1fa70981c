"""train.precision auto: bf16 only where the processor computes it natively."""

from synesthesia.runs.config import RunConfig
from synesthesia.training.precision import cpu_bf16, resolve_precision

AVX2 = "processor : 0\nflags : fpu sse sse2 avx avx2 fma\n"
SAPPHIRE = "processor : 0\nflags : fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
NEOVERSE = "processor : 0\nFeatures : fp asimd sve bf16 i8mm\n"
OLD_ARM = "processor : 0\nFeatures : fp asimd\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert not cpu_bf16(AVX2) and cpu_bf16(SAPPHIRE) and cpu_bf16(NEOVERSE) and not cpu_bf16(OLD_ARM)


def test_auto_follows_the_processor_and_bf16_on_an_emulating_cpu_is_kept_with_a_note(monkeypatch):
    import synesthesia.training.precision as P

    said = []
    for native, expected in ((False, "32-true"), (True, "bf16-mixed")):
        monkeypatch.setattr(P, "device_bf16", lambda accelerator, native=native: native)
        assert resolve_precision("auto", "cpu", said.append) == expected
    assert said == []                                                    # auto chooses silently
    monkeypatch.setattr(P, "device_bf16", lambda accelerator: False)
    assert resolve_precision("bf16-mixed", "cpu", said.append) == "bf16-mixed" and "slower" in said[-1]
    assert resolve_precision("32-true", "cpu", said.append) == "32-true" and len(said) == 1


def test_auto_is_the_default_and_a_known_value():
    assert RunConfig().train.precision == "auto"
    assert RunConfig.from_dict({"train": {"precision": "auto"}}).train.precision == "auto"
