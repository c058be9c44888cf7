"""Does a real llama.cpp steer like ValueLocate? The exported control vectors run in llama.cpp
(through ``llama-cpp-python``, ``make install-llamacpp``) on the model's own GGUF file, against
ValueLocate's float model with the neuron edit.

:func:`verify_export` measures, on fixed prompts (chat prompts of forced-choice situations):

1. **the tolerance**: unsteered, the gap between llama.cpp's next-token log-probabilities and
   ours (llama.cpp multiplies by the quantised weights, quantising activations too; ours runs
   on the dequantised float weights), per prompt the largest absolute gap over its 20 most
   likely tokens;
2. per direction, **the steering change** (steered minus unsteered log-probabilities, same
   tokens) in llama.cpp against ours, per prompt the largest absolute gap between the two
   changes, and whether it stays within the tolerance;
3. the **forced-choice shift** (mean over items of the likelihood reading's change, nats per
   token) through llama.cpp and ours: the same sign?
4. **greedy continuations**: the share of prompts whose first 16 generated tokens are the same
   in llama.cpp and ours, unsteered and steered.

Token ids go to llama.cpp as ValueLocate's tokenizer makes them (both read the same GGUF
vocabulary), so tokenisation is not part of the comparison.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.forward import input_device
from valuelocate.llamacpp.agreement import next_token_logprobs
from valuelocate.llamacpp.controlvector import read_control_vector
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_ids, context_ids, left_pad, pad_token_id
from valuelocate.steering.intervention import Intervention, applied

INSTALL = "make install-llamacpp"
TOP_TOKENS = 20
GREEDY_TOKENS = 16


def llama_cpp_available() -> bool:
    """Whether ``llama_cpp`` (llama-cpp-python) can be imported."""
    return importlib.util.find_spec("llama_cpp") is not None


def _log_softmax(logits: np.ndarray) -> Tensor:
    return torch.log_softmax(torch.from_numpy(np.asarray(logits, dtype=np.float64)), dim=-1)


class LlamaCpp:
    """One llama.cpp context on a GGUF file, fed token ids, with an optional control vector.

    Example:
        >>> cpp = LlamaCpp(gguf_path)
        >>> cpp.set_control_vector(read_control_vector("cv/conservation.affirm.gguf").directions)
        >>> cpp.next_token_logprobs([ids])
    """

    def __init__(self, path: str | Path, *, n_ctx: int = 1024, threads: int | None = None) -> None:
        import llama_cpp

        self._lib = llama_cpp
        # Both thread counts: llama-cpp-python's prompt threads default to every core, and on
        # a busy machine OpenMP's waiting makes that ~6x slower than one thread (measured).
        threads = threads or 1
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False,
            n_threads=threads, n_threads_batch=threads,
        )  # fmt: skip
        self.n_embd = int(self.llm.n_embd())
        n_layer = getattr(llama_cpp, "llama_model_n_layer", None) or llama_cpp.llama_n_layer
        self.n_layer = int(n_layer(self.llm.model))

    def set_control_vector(
        self, directions: Mapping[int, np.ndarray] | None, *, strength: float = 1.0
    ) -> None:
        """Steer with ``directions`` (layer N -> vector added to layer N's output), as
        ``--control-vector-scaled FILE strength`` does; ``None`` removes it."""
        # The newer name, else the older one. Any: the binding's ctypes signature wants a
        # pointer where None (NULL) clears the vector.
        set_cvec: Any = getattr(self._lib, "llama_set_adapter_cvec", None)
        set_cvec = set_cvec or self._lib.llama_apply_adapter_cvec
        if directions is None:
            set_cvec(self.llm.ctx, None, 0, self.n_embd, 0, 0)
            return
        last = max(directions)
        data = np.zeros(self.n_embd * last, dtype=np.float32)  # layer 1 first: no layer 0
        for layer, vector in directions.items():
            data[(layer - 1) * self.n_embd : layer * self.n_embd] += strength * np.asarray(
                vector, np.float32
            )
        pointer = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        failed = set_cvec(self.llm.ctx, pointer, data.size, self.n_embd, 1, self.n_layer - 1)
        if failed:
            raise RuntimeError("llama.cpp refused the control vector")
        self._data = data  # keep the buffer alive while llama.cpp may read it

    def close(self) -> None:
        """Free llama.cpp's model and context now (not at interpreter exit, where
        llama-cpp-python's finaliser may fail noisily)."""
        self.llm.close()

    def _scores(self, ids: Sequence[int]) -> np.ndarray:
        """``[len(ids), vocab]`` logits after each position (a fresh context per call)."""
        self.llm.reset()
        self.llm.eval(list(ids))
        return np.array(self.llm.scores[: len(ids)], dtype=np.float64)

    def next_token_logprobs(self, prompts: Sequence[Sequence[int]]) -> Tensor:
        """``[prompts, vocab]`` float64 next-token log-probabilities after each prompt."""
        return torch.stack([_log_softmax(self._scores(p)[-1]) for p in prompts])

    def answer_logprob(self, context: Sequence[int], answer: Sequence[int]) -> float:
        """Mean per-token log-probability of ``answer`` after ``context``."""
        scores = self._scores([*context, *answer])
        logp = _log_softmax(scores[len(context) - 1 : -1])
        return float(logp.gather(-1, torch.tensor(list(answer))[:, None]).mean())

    def greedy(
        self, prompt: Sequence[int], n: int = GREEDY_TOKENS, stop: Sequence[int] = ()
    ) -> list[int]:
        """The first ``n`` greedy tokens after ``prompt`` (stopping at a ``stop`` token)."""
        self.llm.reset()
        self.llm.eval(list(prompt))
        out: list[int] = []
        for _ in range(n):
            token = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            out.append(token)
            if token in stop:
                break
            self.llm.eval([token])
        return out


def _top_gap(a: Tensor, b: Tensor, reference: Tensor, top: int = TOP_TOKENS) -> Tensor:
    """Per row, the largest |a - b| over the row's ``top`` most likely tokens of ``reference``."""
    picked = reference.topk(top, dim=-1).indices
    return (a - b).gather(-1, picked).abs().max(-1).values


def _greedy_ours(
    lm: LoadedModel,
    prompts: Sequence[list[int]],
    edit: Intervention | None,
    n: int,
    stop: Sequence[int],
) -> list[list[int]]:
    device = input_device(lm.model)
    pad = pad_token_id(lm.tokenizer)
    out = []
    generate: Any = lm.model.generate  # type: ignore[operator]
    with torch.no_grad(), applied(lm.model, edit):
        for prompt in prompts:  # one at a time: no padding in the comparison
            ids, mask = left_pad([prompt], pad)
            # Plain argmax, as llama.cpp's loop: no repetition penalty from the model's config.
            generated = generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=n,
                do_sample=False, repetition_penalty=1.0, pad_token_id=pad,
                eos_token_id=list(stop) or None,
            )[0, len(prompt):].tolist()  # fmt: skip
            tokens = []
            for t in generated:
                tokens.append(int(t))
                if t in stop:
                    break
            out.append(tokens)
    return out


def _fc_reading_cpp(
    cpp: LlamaCpp, rows: Sequence[tuple[list[int], list[int], list[int]]]
) -> np.ndarray:
    return np.array([cpp.answer_logprob(c, a) - cpp.answer_logprob(c, o) for c, a, o in rows])


def _same(a: Sequence[list[int]], b: Sequence[list[int]]) -> float:
    """The share of rows that are equal."""
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


@dataclass
class DirectionCheck:
    """One direction's figures (see :func:`verify_export`)."""

    direction: str
    exact: bool
    change_gap_max: float  # largest per-prompt gap between llama.cpp's change and ours
    change_gap_mean: float
    within_tolerance: float  # share of prompts whose change gap <= the tolerance
    change_size: float  # mean over prompts of our change's largest |entry| (the scale)
    fc_shift_ours: float
    fc_shift_cpp: float
    fc_same_sign: bool
    greedy_same: float  # share of prompts with the same first tokens, steered
    folded_gap_max: float | None = None  # approximate files: llama.cpp vs our folded vectors


@dataclass
class Verification:
    """What :func:`verify_export` measured."""

    prompts: int
    fc_items: int
    tolerance: float  # largest unsteered per-prompt gap
    tolerance_mean: float
    greedy_same_unsteered: float
    directions: list[DirectionCheck] = field(default_factory=list)


def verify_export(
    lm: LoadedModel,
    gguf_path: str | Path,
    files: Mapping[str, Path],
    edits: Mapping[str, Intervention],
    items: Sequence[Any],
    *,
    prompts: int = 16,
    fc_items: int | None = None,
    chat_template: bool = True,
    folded: Mapping[str, Intervention] | None = None,
    exact: Mapping[str, bool] | None = None,
    threads: int | None = None,
    runtime: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Verification:
    """Compare llama.cpp steered by ``files`` with ``lm`` steered by ``edits``.

    Args:
        lm: ValueLocate's model (the same weights as ``gguf_path``, dequantised).
        gguf_path: the model's GGUF file, as llama.cpp runs it.
        files: direction name (``conservation.affirm``) -> control-vector GGUF.
        edits: the same names -> ValueLocate's edit (the verdict's neuron edit).
        items: forced-choice items: the first ``prompts`` situations are the fixed prompts;
            the first ``fc_items`` (all by default) give the forced-choice shift.
        folded: names -> the files' vectors applied in our model (``LayerVectors``), for
            approximate files: llama.cpp is then also compared with them.
        exact: names -> whether the file is an exact fold.
        runtime: what stands for llama.cpp (default: :class:`LlamaCpp` on ``gguf_path``);
            anything with its four methods (the tests pass ValueLocate's own model).
    """
    say = progress or (lambda _line: None)
    if runtime is not None:
        return _verify(runtime, lm, files, edits, items, prompts, fc_items, chat_template,
                       folded, exact, say)  # fmt: skip
    cpp = LlamaCpp(gguf_path, threads=threads)
    try:
        return _verify(cpp, lm, files, edits, items, prompts, fc_items, chat_template,
                       folded, exact, say)  # fmt: skip
    finally:
        cpp.close()


def _verify(
    cpp: Any,
    lm: LoadedModel,
    files: Mapping[str, Path],
    edits: Mapping[str, Intervention],
    items: Sequence[Any],
    prompts: int,
    fc_items: int | None,
    chat_template: bool,
    folded: Mapping[str, Intervention] | None,
    exact: Mapping[str, bool] | None,
    say: Callable[[str], None],
) -> Verification:
    stop = [int(t) for t in {lm.tokenizer.eos_token_id} if t is not None]
    fixed = [
        context_ids(lm, i.situation.strip(), chat_template=chat_template) for i in items[:prompts]
    ]
    fc = list(items if fc_items is None else items[:fc_items])
    rows = [
        (context_ids(lm, i.situation.strip(), chat_template=chat_template),
         answer_ids(lm, i.affirm, chat_template=chat_template),
         answer_ids(lm, i.oppose, chat_template=chat_template))
        for i in fc
    ]  # fmt: skip
    say("unsteered: next-token log-probabilities, greedy answers, forced-choice reading")
    ours = next_token_logprobs(lm, fixed)
    theirs = cpp.next_token_logprobs(fixed)
    gaps = _top_gap(theirs, ours, ours)
    greedy_ours = _greedy_ours(lm, fixed, None, GREEDY_TOKENS, stop)
    greedy_cpp = [cpp.greedy(p, GREEDY_TOKENS, stop) for p in fixed]
    fc_ours = likelihood_reading(lm, fc, chat_template=chat_template).numpy()
    fc_cpp = _fc_reading_cpp(cpp, rows)
    tolerance = float(gaps.max())
    result = Verification(
        prompts=len(fixed), fc_items=len(fc), tolerance=tolerance,
        tolerance_mean=float(gaps.mean()), greedy_same_unsteered=_same(greedy_ours, greedy_cpp),
    )  # fmt: skip
    for name, path in files.items():
        say(f"{name}: steered")
        edit = edits[name]
        cpp.set_control_vector(read_control_vector(path).directions)
        ours_s = next_token_logprobs(lm, fixed, edit)
        theirs_s = cpp.next_token_logprobs(fixed)
        change_gap = _top_gap(theirs_s - theirs, ours_s - ours, ours)
        size = _top_gap(ours_s, ours, ours)
        g_ours = _greedy_ours(lm, fixed, edit, GREEDY_TOKENS, stop)
        g_cpp = [cpp.greedy(p, GREEDY_TOKENS, stop) for p in fixed]
        shift_ours = float(
            np.mean(
                likelihood_reading(lm, fc, edit=edit, chat_template=chat_template).numpy() - fc_ours
            )
        )
        shift_cpp = float(np.mean(_fc_reading_cpp(cpp, rows) - fc_cpp))
        folded_gap = None
        if folded is not None and name in folded:
            ours_f = next_token_logprobs(lm, fixed, folded[name])
            folded_gap = float(_top_gap(theirs_s - theirs, ours_f - ours, ours).max())
        cpp.set_control_vector(None)
        result.directions.append(DirectionCheck(
            direction=name, exact=bool((exact or {}).get(name, True)),
            change_gap_max=float(change_gap.max()), change_gap_mean=float(change_gap.mean()),
            within_tolerance=float((change_gap <= tolerance).double().mean()),
            change_size=float(size.mean()), fc_shift_ours=shift_ours, fc_shift_cpp=shift_cpp,
            fc_same_sign=bool(np.sign(shift_ours) == np.sign(shift_cpp)),
            greedy_same=_same(g_ours, g_cpp),
            folded_gap_max=folded_gap,
        ))  # fmt: skip
    return result


__all__ = [
    "GREEDY_TOKENS",
    "INSTALL",
    "DirectionCheck",
    "LlamaCpp",
    "Verification",
    "llama_cpp_available",
    "verify_export",
]
