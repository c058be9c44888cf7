"""The evaluation's results: the schema of ``results.json`` and its row types.

Imports nothing heavy (no torch), so that the report can read results on its own.

Usage:

1. ``result = evaluate("runs/smol")`` loads the run's model (``manifest.json``) and neuron
   sets, and for every located dimension D, condition and gamma scores the model.
2. The results land in ``RUN_DIR/evaluation/``: ``results.json`` (the layout below),
   ``results.csv`` (the score rows, one per line) and ``answers.jsonl`` (every judged answer).
3. ``valuelocate evaluate RUN_DIR`` is the command line (``valuelocate.cli.evaluate``).

Results schema (``results.json``, format ``valuelocate.Evaluation`` version 1)
------------------------------------------------------------------------------

Top-level keys:

- ``format``: ``"valuelocate.Evaluation"``; ``version``: ``1``.
- ``model``: ``{"id", "source", "config_hash", "family", "num_layers", "neurons_per_layer"}``.
- ``options``: every option of the evaluation (:class:`EvaluateOptions`, as JSON).
- ``dimensions``: the steered dimensions, in order; ``scored_dimensions``: the four dimensions
  of the questionnaire; ``gammas``: the sweep; ``conditions``: :data:`CONDITIONS`;
  ``measures``: the measures present (``questionnaire``, ``judge:<name>`` per judge,
  ``perplexity_ratio``, ``degenerate_share``).
- ``prompt_baselines``: ``{dimension: {pole: prefix text}}``, the prefixes of the prompt-only
  conditions.
- ``scores``: a list of :class:`ScoreRow` objects (below), also written to ``results.csv``
  with the same field names as columns, one row per line.
- ``leakage``: a list of :class:`LeakageRow`: for each steered dimension, edit condition
  (``affirm``, ``oppose``) and gamma, the shift of every dimension's questionnaire score
  from ``none`` (the 4 x 4 matrix per gamma).
- ``judges``: ``{name: {"kind", "samples", "ratings", "malformed", "gibberish"}}``: totals of
  judge samples (valid ratings, outputs that could not be parsed and were dropped, and -1
  "gibberish" ratings); a judge behind an endpoint adds ``failures``: its failed requests
  counted by kind (timeout, rate_limited, server_error, ...) and ``lost_calls``.
- ``examples``: a list of :class:`Example`: the first few answers of each (steered
  dimension, condition, gamma), for the report.
- ``option_mass``: per condition, the mean next-token probability that the six answer
  letters held before renormalising (low: the model was not answering with a letter).
- ``warnings``: lines about choices forced on the evaluation (e.g. a random control drawn
  outside the steered dimension's sets only, when the located sets leave too few neurons).
- ``seconds``: wall time of the evaluation.

Conditions (:data:`CONDITIONS`):

- ``none``: the unedited model.
- ``affirm`` / ``oppose``: the study's steering edit toward that pole of D
  (:func:`valuelocate.steering.dynamic.steering_edit`).
- ``random_affirm`` / ``random_oppose``: the random control edited the same way toward that
  pole, on as many neurons per layer drawn outside every located set
  (:func:`valuelocate.steering.dynamic.random_control_edit`).
- ``prompt_affirm`` / ``prompt_oppose``: no edit; the prompt is prefixed with "Imagine you
  are someone who would say: ..." and one (seeded) description of that pole of D.

A :class:`ScoreRow` is one figure: ``measure`` on ``scored_dimension`` under ``condition`` at
``gamma`` when steering ``steered_dimension``:

- ``gamma`` is ``null`` for the conditions that do not depend on it (``none``,
  ``prompt_affirm``, ``prompt_oppose``): draw them as horizontal reference lines.
- ``none`` rows are repeated under every steered dimension (the judged prompts are D's), so
  that filtering on ``steered_dimension`` gives every condition.
- ``questionnaire``: one row per scored dimension (all four); the centred portrait score
  (mean expected answer 1..6 over the dimension's items minus the mean over all items), so 0
  is "as important as the person's average value". Units: the scored dimension's items.
- ``judge:<name>``: ``scored_dimension == steered_dimension``; the mean 1..5 rating of the
  answers to D's test prompts. Units: answers with a rating (``n_excluded`` counts answers
  left without one: every sample malformed or -1).
- ``perplexity_ratio``: only for edit conditions; the per-text perplexity of the neutral
  texts under the edit divided by the unedited one, averaged over texts.
  ``scored_dimension`` is ``null``. Units: neutral texts.
- ``degenerate_share``: the share of answers that are degenerate (see
  :func:`is_degenerate`); ``scored_dimension`` is ``null``. Units: answers.
- ``mean``: the figure; ``ci_low``/``ci_high``: the 95% percentile bootstrap interval over
  units (``bootstrap`` resamples, seeded); ``n``: the number of units.
- ``p_vs_random``: for ``affirm``/``oppose`` only (else ``null``): the two-sided paired
  sign-flip permutation p-value of the unit-wise difference from ``random_<pole>`` at the same
  gamma (same items, prompts or texts), ``(1 + #{|perm| >= |obs|}) / (1 + permutations)``.
- ``diff_vs_random``: the mean of that paired difference (``null`` where there is no p-value).
"""

from __future__ import annotations

from dataclasses import dataclass

from valuelocate.vocab import CONDITIONS, EDIT_CONDITIONS, Condition

__all__ = [
    "CONDITIONS",
    "EDIT_CONDITIONS",
    "RESULTS_FORMAT",
    "RESULTS_VERSION",
    "Condition",
    "Example",
    "LeakageRow",
    "ScoreRow",
]

RESULTS_FORMAT = "valuelocate.Evaluation"
RESULTS_VERSION = 1


@dataclass(frozen=True)
class ScoreRow:
    """One figure of the evaluation (a line of ``results.csv``); see the module docstring.

    Attributes:
        measure: ``questionnaire``, ``judge:<name>``, ``perplexity_ratio`` or
            ``degenerate_share``.
        steered_dimension: the dimension whose neurons (or prompt baseline) define the
            condition, and whose test prompts were answered.
        condition: one of :data:`CONDITIONS`.
        gamma: the steering strength; ``None`` for conditions that do not depend on it.
        scored_dimension: the dimension the figure is about; ``None`` for the cost measures.
        mean: the figure (mean over units).
        ci_low, ci_high: 95% bootstrap interval of ``mean``.
        n: units (items, answers or texts) behind the figure.
        n_excluded: units left without a value (judge: unrated answers).
        p_vs_random: paired permutation p-value against the random control (edits only).
        diff_vs_random: mean paired difference from the random control (edits only).
    """

    measure: str
    steered_dimension: str
    condition: str
    gamma: float | None
    scored_dimension: str | None
    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_excluded: int = 0
    p_vs_random: float | None = None
    diff_vs_random: float | None = None


@dataclass(frozen=True)
class LeakageRow:
    """The shift of one dimension's questionnaire score when steering another.

    Attributes:
        steered_dimension: the dimension steered.
        condition: ``affirm`` or ``oppose`` (the pole steered toward).
        gamma: the steering strength.
        scored_dimension: the dimension whose score moved.
        shift: score under the edit minus score under ``none`` (mean paired difference over
            the scored dimension's items).
        ci_low, ci_high: 95% paired bootstrap interval of ``shift``.
        n: items.
    """

    steered_dimension: str
    condition: str
    gamma: float
    scored_dimension: str
    shift: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Example:
    """One answer, for the report.

    Attributes:
        steered_dimension, condition, gamma: as in :class:`ScoreRow`.
        prompt_id: the test prompt's id.
        prompt: the situational prompt as given (without a baseline prefix).
        answer: the model's answer.
        degenerate: whether :func:`is_degenerate` flags it.
    """

    steered_dimension: str
    condition: str
    gamma: float | None
    prompt_id: str
    prompt: str
    answer: str
    degenerate: bool
