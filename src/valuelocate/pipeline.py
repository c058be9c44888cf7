"""The main job: data -> locate -> evaluate -> verdict -> report, in one call (``valuelocate run``).

The defaults are quick settings for a 2-core CPU on the embedded model; every stage's own
command (``locate``, ``evaluate``, ``report``) has the full set of options for real
experiments. Every option is checked before any work starts, so a bad one fails in a second,
not after the locating stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from valuelocate.artifacts import RunManifest
from valuelocate.comparison.verdict import Verdict, VerdictOptions, run_verdict
from valuelocate.evaluation import EvaluateOptions, EvaluationResult, evaluate
from valuelocate.evaluation.judges import parse_judge_spec
from valuelocate.evaluation.options import parse_gammas
from valuelocate.evaluation.probe import Probe, prompt_probe, write_probe
from valuelocate.locating import LocateOptions, LocateResult, locate
from valuelocate.machine import MachineIndex, measure_machine
from valuelocate.models import load_model
from valuelocate.optionspec import derive, option
from valuelocate.reporting import write_report
from valuelocate.selection import get_method
from valuelocate.vocab import Progress


def default_run_dir() -> Path:
    """``runs/run-YYYYmmdd-HHMMSS`` under the current directory (a new one each time)."""
    return Path("runs") / datetime.now().strftime("run-%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class RunOptions:
    """The main job's options (each stage's command has the rest)."""

    model: str = option("default", "'default' (embedded SmolLM2), a local folder or hub id.",
                        flag="--model")  # fmt: skip
    prompts_per_pole: int = option(16, "Search prompts per pole for locating.", min=1)
    max_new_tokens: int = option(16, "Answer length while locating.", min=1)
    evaluate: str = option(
        "probe",
        "The evaluation stage: probe (seconds: the sweep only if the questionnaire registers "
        "a persona prompt), full (the gamma sweep and judged answers: about 5 min on 2 "
        "cores) or off.",
        choices=("probe", "full", "off"),
    )
    gammas: tuple[float, ...] = option(
        (0.0, 1.0, 2.0), "Comma-separated gamma sweep for evaluation.", parse=parse_gammas
    )
    # Repeatable on the command line (--judge X --judge Y), so the CLI declares it.
    judge: tuple[str, ...] = option(("embedding",), "Judges to run.", cli=False)
    judge_prompts: int = option(2, "Test prompts per dimension to judge.", min=1)
    answer_tokens: int = option(24, "Answer length of judged answers.", min=1)
    method: str = option("delta-p", "Selection method (see `locate --help`).")
    seed: int = option(0, "Seed of every random choice.")
    device: str | None = option(None, "cpu, cuda, ...")
    dtype: str = option(
        "float32",
        "The model's precision: float32, or bfloat16 (about 1.4x faster on a CPU with native "
        "bfloat16; the study's located sets differ from float32's and the verdict's figures "
        "move by rounding: docs/run.md), float16, auto.",
        choices=("float32", "bfloat16", "float16", "auto"),
    )
    verdict: bool = option(
        True, "Judge the located sets against random sets, label shuffles, word priming."
    )
    budget: str = option(
        "ppl=1.10", "The verdict's damage budget: ppl=RATIO or kl=NATS on neutral text."
    )
    verdict_items: int = option(100, "Test-split forced-choice items per dimension.", min=2)
    random_sets: int = option(20, "The verdict's random same-count sets per ladder point.", min=2)
    shuffles: int = option(1000, "The verdict's label shuffles of the ladder.", min=10)
    choice_reading: bool = option(
        False, "The verdict also judges the A/B choice reading (slow; for models that read it)."
    )
    sweep_unreadable: bool = option(
        False,
        "The verdict measures the curve and nulls even of a dimension no instrument can read "
        "(minutes each; by default such a dimension is reported as not judged in seconds).",
    )

    # Each stage's options: the fields it shares with these by name, its defaults otherwise.

    def locate_options(self) -> LocateOptions:
        """Locating: model, prompts_per_pole, max_new_tokens, seed, device, dtype, method."""
        return derive(LocateOptions, self)

    def evaluate_options(self) -> EvaluateOptions:
        """Evaluation: gammas, judge_prompts, seed, and answer_tokens as its max_new_tokens."""
        return derive(EvaluateOptions, self, renamed={"answer_tokens": "max_new_tokens"})

    def verdict_options(self) -> VerdictOptions:
        """The verdict: budget, verdict_items, random_sets, shuffles, choice_reading,
        sweep_unreadable, seed."""
        return derive(VerdictOptions, self)

    def validate(self) -> None:
        """Check every stage's options before any work (raises ValueError naming the flag)."""
        if self.judge_prompts < 1:
            raise ValueError("--judge-prompts must be >= 1")
        get_method(self.method)
        self.evaluate_options().validate()
        self.verdict_options().validate()
        for spec in self.judge:
            parse_judge_spec(spec)


@dataclass
class RunResult:
    """What the main job produced."""

    run_dir: Path
    located: LocateResult  # without its statistics (``stats`` is empty; RUN/stats/ has them)
    evaluation: EvaluationResult | None
    verdict: Verdict | None
    report: Path
    machine: MachineIndex
    probe: Probe | None = None


def run(
    options: RunOptions,
    run_dir: Path,
    *,
    resume: bool = False,
    on_stage: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Locate, evaluate and report into ``run_dir``.

    Args:
        options: :class:`RunOptions` (validated here first).
        run_dir: the run directory.
        resume: continue an interrupted run there.
        on_stage: told the name of each stage as it starts (``locate``, ``evaluate``,
            ``verdict``, ``report``).
        progress: ``progress(text, done, total)`` during each stage.
    """
    options.validate()
    stage = on_stage or (lambda _name: None)
    lm = load_model(options.model, device=options.device, dtype=options.dtype)
    machine = measure_machine(lm)  # before any stage: the speed every wall time ran at
    stage("locate")

    def locate_progress(job, counters) -> None:  # type: ignore[no-untyped-def]
        if progress is not None:
            progress(f"locating {job.key}", counters.prompts_done, counters.prompts_total)

    # The statistics are on disk (RUN/stats/) and no later stage reads them from memory: held
    # through the ladders, the evaluation and the verdict, every pole's histogram (55 MB
    # each on SmolLM2) only raised the job's peak memory.
    located = locate(
        options.locate_options(),
        run_dir,
        resume=resume,
        lm=lm,
        progress=locate_progress,
        keep_stats=False,
    )
    manifest = RunManifest.read(run_dir)
    manifest.machine = machine.to_json()
    manifest.write(run_dir / "manifest.json")
    evaluation, probe = None, None
    if options.evaluate != "off":
        stage("evaluate")
        if options.evaluate == "probe":  # the positive control first: seconds, not minutes
            probe = prompt_probe(lm, list(located.selections), seed=options.seed)
        if probe is None or probe.registers:
            evaluation = evaluate(
                run_dir,
                options=options.evaluate_options(),
                lm=lm,
                judges=options.judge,
                progress=progress,
            )
        if probe is not None:
            probe = dataclasses.replace(probe, sweep=evaluation is not None)
            write_probe(run_dir, probe)
    verdict = None
    if options.verdict:
        stage("verdict")
        steps = 1000  # the bar in thousandths of the verdict's work, weighted by cost
        line = [""]

        def verdict_line(text: str) -> None:
            line[0] = text

        def verdict_share(share: float) -> None:
            if progress is not None:
                progress(f"verdict {line[0]}", round(share * steps), steps)

        verdict = run_verdict(
            run_dir,
            lm=lm,
            options=options.verdict_options(),
            progress=verdict_line,
            fraction=verdict_share,
        )
    stage("report")
    report = write_report(run_dir)
    return RunResult(run_dir, located, evaluation, verdict, report, machine, probe)
