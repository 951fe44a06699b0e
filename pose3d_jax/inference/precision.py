"""The CPU path's numeric precision: fp32, bf16 (the matrix units) or int8 (quantized).

bf16 and int8 run in OpenVINO (openvino_engine.py), which compiles our ONNX export
for the CPU's AMX / AVX-512 units; ONNX Runtime and XLA run fp32 only (ONNX
Runtime's int8 gave no gain on this network: benchmarks/README.md). bf16 needs a CPU
with bf16 instructions (AVX-512 BF16 or AMX-BF16, read from the CPU's flags): where
there is none, a request for bf16 runs fp32 and says so in one line. int8 needs a
calibration set (frames like the ones it will see), to fix the quantization ranges.

int8 also depends on the CPU's int8 dot products: without VNNI (AVX-512 VNNI, AVX-VNNI
or AMX-INT8) the CPU sums pairs of u8 x s8 products in 16 bits, which saturate; NNCF's
overflow fix ("enable": 7-bit weights in every layer) avoids it, at the cost of one bit
("Saturation (overflow) Issue Workaround", docs.openvino.ai/latest/pot_saturation_issue).
On our non-VNNI AMD EPYC the default fix (first layer only) cost the demo model 1.29%
MPJPE and "enable" -0.10% (benchmarks/README.md), so `overflow_fix` picks by the flags.
"""

import dataclasses
import importlib.util
from pathlib import Path

from pose3d_jax.deploy import openvino_ir

PRECISIONS = ("fp32", "bf16", "int8")
REDUCED = ("bf16", "int8")  # the precisions only OpenVINO runs
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
OVERFLOW_FIXES = tuple(openvino_ir.WEIGHT_BITS)  # NNCF's OverflowFix values we use
CPUINFO = Path("/proc/cpuinfo")


class PrecisionError(ValueError):
    """A precision that is unknown or cannot run as asked (one sentence with the fix)."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """The precision that runs, what was asked, and why they differ (None when not)."""

    precision: str
    requested: str
    note: str | None = None

    def to_dict(self) -> dict:
        return {"precision": self.precision, "requested": self.requested, "note": self.note}


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty elsewhere)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_supported(flags=None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BF16_FLAGS)


def vnni_supported(flags=None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in VNNI_FLAGS)


def overflow_fix(flags=None) -> str:
    """NNCF's overflow fix for int8 on this CPU: 8-bit weights after the first layer
    where VNNI sums exactly, 7-bit weights everywhere where it does not."""
    return "first_layer_only" if vnni_supported(flags) else "enable"


def check_overflow_fix(value) -> str:
    if value not in OVERFLOW_FIXES:
        raise PrecisionError(
            f"unknown int8 overflow fix '{value}'; choose one of {', '.join(OVERFLOW_FIXES)}."
        )
    return value


def check_precision(precision) -> str:
    precision = precision or "fp32"
    if precision not in PRECISIONS:
        raise PrecisionError(
            f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}."
        )
    return precision


def choose(requested, backend, *, calibration=None, flags=None) -> Choice:
    """The precision `backend` runs for `requested` on this CPU.

    Raises PrecisionError for an unknown precision, bf16 or int8 on a backend other
    than openvino, and int8 without a calibration set.
    """
    requested = check_precision(requested)
    if requested in REDUCED and backend != "openvino":
        raise PrecisionError(
            f"precision {requested} runs on the openvino backend, not {backend}: add "
            "--backend openvino (pip install openvino), or use --precision fp32."
        )
    if requested == "int8" and calibration is None:
        raise PrecisionError(
            "precision int8 needs a calibration set to fix its quantization ranges: give "
            "--calibration DIR (a folder of frames like the ones to run, 16 or more)."
        )
    if requested == "int8" and importlib.util.find_spec("nncf") is None:
        raise PrecisionError(
            "precision int8 quantizes the network with NNCF, which is not installed: "
            "pip install nncf (or pip install -e '.[int8]')."
        )
    if requested == "bf16" and not bf16_supported(flags):
        note = (
            "this CPU has no bf16 instructions (avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo): running fp32"
        )
        return Choice("fp32", requested, note)
    return Choice(requested, requested)
