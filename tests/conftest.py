"""Test-wide settings: offline, deterministic, and `tests/` importable for the tiny-model
helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Tests never reach a model hub: everything is built locally or read from ../shared.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))


# --------------------------------------------------------------------------------------------
# Shared, expensive fixtures (built once per session, used by several test modules).

from tiny_models import STORIES  # noqa: E402

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")


@pytest.fixture(scope="session")
def stories_lm():  # type: ignore[no-untyped-def]
    """The real 260k-parameter Llama (5 layers x 172 neurons), loaded once."""
    if not STORIES.is_dir():
        pytest.skip("../shared/models is absent")
    from valuelocate.models import load_model

    return load_model(str(STORIES))


@pytest.fixture(scope="session")
def down_in_run(stories_lm, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A small locating run on stories260k at site ``down_in`` (conservation only)."""
    from valuelocate.locating import LocateOptions, locate

    run_dir = tmp_path_factory.mktemp("runs") / "down_in"
    options = LocateOptions(
        model=str(STORIES),
        dimensions=("conservation",),
        site="down_in",
        prompts_per_pole=3,
        max_new_tokens=4,
        batch_size=3,
        checkpoint_seconds=0.0,
        # A high threshold keeps the sets small, so a random control fits in each layer.
        method_params={"min_required": 10, "threshold": 0.4},
    )
    locate(options, run_dir, lm=stories_lm)
    return run_dir


class LengthJudge:
    """A judge whose verdict is known: the answer's length, clipped to 1..5; it cannot rate
    answers that hold an 'x' (for the exclusion count)."""

    name = "length"

    def rate(self, dimension, prompts, answers):  # type: ignore[no-untyped-def]
        from valuelocate.evaluation.judges import JudgeRating

        return [
            JudgeRating(score=None, malformed=1)
            if "x" in a
            else JudgeRating(score=float(min(max(len(a), 1), 5)), valid=1)
            for a in answers
        ]


# The evaluation of `down_in_run`: its settings are shared by the tests that compare with it.
EVALUATED_GAMMA = 2.0
EVALUATED_TOKENS = 8


@pytest.fixture(scope="session")
def evaluated(stories_lm, down_in_run):  # type: ignore[no-untyped-def]
    from valuelocate.evaluation import evaluate

    result = evaluate(
        down_in_run,
        lm=stories_lm,
        gammas=(EVALUATED_GAMMA,),
        judges=[LengthJudge()],
        judge_prompts=3,
        max_new_tokens=EVALUATED_TOKENS,
        bootstrap=200,
        permutations=200,
    )
    return down_in_run, result


@pytest.fixture(scope="session")
def full_report(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One hand-made run with evaluation and its report (plots take seconds), shared by the
    report tests that only read it."""
    from report_fixture import make_run
    from valuelocate.reporting import write_report

    return write_report(make_run(tmp_path_factory.mktemp("full")))
