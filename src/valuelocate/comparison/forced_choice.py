"""The forced-choice instrument: does an edit move the model toward a pole's answers?

Usage:

1. Items: anything with ``id``, ``dimension``, ``situation``, ``affirm`` and ``oppose``
   (``valuelocate.data.forced_choice.load_forced_choice(split="search")``).
2. ``base = likelihood_reading(lm, items)`` is, per item, the mean per-token log-likelihood of
   the affirming answer minus that of the opposing one, given the situation (nats)::

       dLL = mean_t log p(a+_t | s, a+_<t) - mean_t log p(a-_t | s, a-_<t)

   ``likelihood_reading(lm, items, edit=edit)`` is the same under an edit (a neuron
   :class:`~valuelocate.hooks.Edit` or a residual-stream vector), ``prefix=...`` under a
   prompt baseline ("Imagine you are someone who would say ...").
3. ``choice_reading`` shows both answers as options A and B, in both orders, and averages the
   probability of the affirming option over the two orders, so that letter bias cancels.
4. ``summarize_shift(edited - base, toward="affirm", control=control - base)`` gives the mean
   shift with a 95% bootstrap interval over items, the share of items moved the wrong way,
   and the paired p-value against the matched control.

Why likelihood and not a letter: on small models the next letter of a multiple-choice answer
is dominated by letter bias and does not move even under a persona prompt; the answer's own
likelihood does (METHOD.md section 7). With a chat template the situation is the user's turn
and the answer the assistant's; without one (base models) the raw text is
``situation\\nAnswer: answer``. Only the answer's tokens are scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from valuelocate.comparison.answers import answer_logprobs
from valuelocate.data.forced_choice import ForcedChoiceLike
from valuelocate.evaluation.statistics import bootstrap_ci, paired_permutation_pvalue
from valuelocate.forward import run_padded
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_ids, context_ids, left_pad, pad_token_id, uses_chat
from valuelocate.steering.intervention import Intervention, applied

CHOICE_TEMPLATE = (
    "{situation}\n\nWhich of these two would you do or say?\n"
    "A. {first}\nB. {second}\n\nAnswer with the letter A or B only."
)


# ------------------------------------------------------------------ likelihood


def likelihood_reading(
    lm: LoadedModel,
    items: Sequence[ForcedChoiceLike],
    *,
    edit: Intervention | None = None,
    prefix: str = "",
    chat_template: bool = True,
    batch_size: int = 8,
) -> Tensor:
    """Per item, ``dLL`` = mean log-likelihood of the affirming answer minus the opposing one.

    Args:
        lm: the model.
        items: forced-choice items.
        edit: a neuron edit or residual vector, applied at every position; None for none.
        prefix: text put before the situation in the user's turn (the prompt baseline).
        chat_template: use the chat template when the tokenizer has one.
        batch_size: items per forward (each item's context runs once, then its two answers).

    Returns:
        ``[items]`` float64 (nats); positive means the affirming answer is more likely.

    Example:
        >>> base = likelihood_reading(lm, items)
        >>> shift = likelihood_reading(lm, items, edit=edit) - base
    """
    contexts = []
    answers = []
    for item in items:
        contexts.append(
            context_ids(lm, prefix + item.situation.strip(), chat_template=chat_template)
        )
        answers.append(
            [
                answer_ids(lm, item.affirm, chat_template=chat_template),
                answer_ids(lm, item.oppose, chat_template=chat_template),
            ]
        )
    scores = answer_logprobs(lm, contexts, answers, edit=edit, batch_size=batch_size)  # [n, 2]
    return scores[:, 0] - scores[:, 1]


# ------------------------------------------------------------------ choice


def letter_ids(lm: LoadedModel, *, chat_template: bool = True) -> tuple[int, int]:
    """Token ids of the answers ``A`` and ``B`` as the first token the model would write."""
    lead = "" if uses_chat(lm, chat_template) else " "
    ids = [lm.tokenizer(lead + x, add_special_tokens=False)["input_ids"][-1] for x in "AB"]
    return int(ids[0]), int(ids[1])


def choice_prompts(
    lm: LoadedModel,
    items: Sequence[ForcedChoiceLike],
    *,
    prefix: str = "",
    chat_template: bool = True,
) -> tuple[list[list[int]], tuple[int, int]]:
    """The A/B prompts of ``items`` (two per item: the affirming answer shown as A, then as B)
    and the letters' token ids."""
    rows = []
    for item in items:
        for first, second in ((item.affirm, item.oppose), (item.oppose, item.affirm)):
            user = prefix + CHOICE_TEMPLATE.format(
                situation=item.situation.strip(), first=first.strip(), second=second.strip()
            )
            rows.append(context_ids(lm, user, chat_template=chat_template))
    return rows, letter_ids(lm, chat_template=chat_template)


def choice_reading(
    lm: LoadedModel,
    items: Sequence[ForcedChoiceLike],
    *,
    edit: Intervention | None = None,
    prefix: str = "",
    chat_template: bool = True,
    batch_size: int = 16,
) -> Tensor:
    """Per item, P(affirming option) among {A, B}, averaged over both option orders.

    Returns:
        ``[items]`` float64 in [0, 1]; 0.5 is indifference. A model that always says ``A``
        reads 0.5, whatever the answers: the two orders cancel letter bias.
    """
    rows, (a_id, b_id) = choice_prompts(lm, items, prefix=prefix, chat_template=chat_template)
    model = lm.model
    probs: list[Tensor] = []
    with torch.no_grad(), applied(model, edit):
        for begin in range(0, len(rows), batch_size):
            ids, mask = left_pad(rows[begin : begin + batch_size], pad_token_id(lm.tokenizer))
            logits = run_padded(model, ids, mask, logits_to_keep=1).logits[:, -1, [a_id, b_id]]
            probs.append(torch.softmax(logits.double(), dim=-1)[:, 0].cpu())  # P(A)
    p_a = torch.cat(probs)  # [2 * items]: affirm is A in even rows, B in odd rows
    return (p_a[0::2] + (1.0 - p_a[1::2])) / 2.0


# ------------------------------------------------------------------ summary


@dataclass(frozen=True)
class ShiftSummary:
    """One condition's effect on the instrument, against the unedited model.

    Attributes:
        n: items.
        shift: mean over items of (edited - unedited), in the reading's unit.
        ci_low, ci_high: 95% bootstrap interval of ``shift`` (BCa, over items).
        wrong_way: share of items whose shift is of the sign opposite to the target pole's.
        control_shift: the matched control's mean shift (NaN without a control).
        p_control: two-sided paired permutation p-value of shift == control shift.
    """

    n: int
    shift: float
    ci_low: float
    ci_high: float
    wrong_way: float
    control_shift: float = math.nan
    p_control: float = math.nan


def direction(toward: str) -> float:
    """+1 for a push toward the affirming pole, -1 toward the opposing one."""
    if toward not in ("affirm", "oppose"):
        raise ValueError(f"Unknown pole {toward!r}; expected affirm or oppose")
    return 1.0 if toward == "affirm" else -1.0


def summarize_shift(
    shift: Tensor | np.ndarray,
    *,
    toward: str,
    control: Tensor | np.ndarray | None = None,
    seed: int = 0,
) -> ShiftSummary:
    """Summarise per-item shifts (edited minus unedited) of one condition.

    Args:
        shift: ``[items]`` edited reading minus the unedited reading.
        toward: the pole the edit pushes toward (decides what "wrong way" means).
        control: ``[items]`` the matched control's shift on the same items.
        seed: seed of the bootstrap and the permutations.
    """
    x = np.asarray(shift, dtype=np.float64)
    sign = direction(toward)
    low, high = bootstrap_ci(x, resamples=2000, seed=seed)
    finite = x[np.isfinite(x)]
    wrong = float((sign * finite < 0).mean()) if finite.size else math.nan
    control_shift = p = math.nan
    if control is not None:
        c = np.asarray(control, dtype=np.float64)
        control_shift = float(np.nanmean(c)) if c.size else math.nan
        p = paired_permutation_pvalue(x, c, permutations=9999, seed=seed)
    return ShiftSummary(
        n=int(finite.size),
        shift=float(finite.mean()) if finite.size else math.nan,
        ci_low=low,
        ci_high=high,
        wrong_way=wrong,
        control_shift=control_shift,
        p_control=p,
    )
