"""A real llama.cpp (llama-cpp-python, `make install-llamacpp`) steered by an exported control
vector moves like ValueLocate's neuron edit, on the embedded SmolLM2's own GGUF file: the
verdict's kind of edit at `down_in` (exact), conservation, both poles (tests/quick_verdict.py).

Slow; skipped, saying so, when llama-cpp-python is not installed."""

from __future__ import annotations

import time

import pytest

from quick_verdict import quick_verdict
from valuelocate.artifacts.verdict import run_edit
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.llamacpp import export_control_vectors
from valuelocate.llamacpp.verify import (
    INSTALL,
    DirectionCheck,
    Verification,
    llama_cpp_available,
    verify_export,
)
from valuelocate.model_files import default_gguf_path
from valuelocate.models import load_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not llama_cpp_available(),
        reason=f"llama-cpp-python is not installed: run `{INSTALL}` (builds llama.cpp)",
    ),
]
DIMENSION = "conservation"


@pytest.fixture(scope="module")
def verification(tmp_path_factory: pytest.TempPathFactory) -> Verification:
    began = time.monotonic()
    tmp_path = tmp_path_factory.mktemp("llamacpp")
    lm = load_model("default")
    run = tmp_path / "run"
    run.mkdir()
    quick_verdict(lm, run, DIMENSION, site="down_in")
    out = export_control_vectors(run, tmp_path / "cv", lm=lm)
    names = [f"{DIMENSION}.{pole}" for pole in ("affirm", "oppose")]
    files = {name: out / f"{name}.gguf" for name in names}
    edits = {name: run_edit(run, DIMENSION, name.split(".")[1]) for name in names}
    items = sorted(load_forced_choice(dimension=DIMENSION, split="test"), key=lambda i: i.id)
    # 8 prompts and the first 40 test items keep it to minutes on 2 cores (llama.cpp evaluates
    # each answer alone); benchmarks/llamacpp_check.py measures 16 and all 100.
    result = verify_export(lm, default_gguf_path(), files, edits, items, prompts=8, fc_items=40)
    print(f"llama.cpp vs ValueLocate ({time.monotonic() - began:.0f} s): {result}")
    return result


def _direction(result: Verification, pole: str) -> DirectionCheck:
    return next(d for d in result.directions if d.direction == f"{DIMENSION}.{pole}")


def test_llama_cpp_reads_the_same_model_and_shifts_the_same_way(verification: Verification) -> None:
    assert verification.tolerance < 1.0, "unsteered, llama.cpp and ValueLocate read the same model"
    assert len(verification.directions) == 2
    for check in verification.directions:
        assert check.fc_same_sign, check


# The criterion set before measuring: every prompt's steering change within the unsteered
# tolerance. Measured on 2026-12-03 it holds for oppose (8 of 8 prompts) and not for affirm
# (6 of 8; gap 0.531 against 0.315: the difference of two changes carries the Q4_1 rounding
# twice). Kept as a strict expected failure so that the shortfall stays visible and a change
# that closes it is noticed (docs/llamacpp.md).
AFFIRM_MISSES = pytest.mark.xfail(
    strict=True, reason="measured: affirm's change is within the tolerance on 6 of 8 prompts"
)


@pytest.mark.parametrize("pole", [pytest.param("affirm", marks=AFFIRM_MISSES), "oppose"])
def test_every_prompt_s_change_is_within_the_tolerance(
    verification: Verification, pole: str
) -> None:
    check = _direction(verification, pole)
    assert check.within_tolerance == 1.0, check
