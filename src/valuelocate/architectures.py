"""Where the neurons are: one table that knows each supported model family.

The vocabulary (layer, neuron, site, scope ...) is defined in :mod:`valuelocate.vocab`.

The table maps a ``config.model_type`` to an :class:`ArchSpec`: dotted attribute paths from the
loaded ``*ForCausalLM`` module to its list of decoder layers, and from one layer to its MLP's
activation module and down projection. A model this table does not know can still be used by
passing an explicit :class:`ArchSpec` (``arch=`` in the Python API).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from torch import nn

from valuelocate.vocab import SITES, Site

__all__ = ["SITES", "Site"]  # re-exported: they were defined here before vocab.py


class UnsupportedArchitectureError(ValueError):
    """The model's family is not in the architecture table and no override was given."""


@dataclass(frozen=True)
class ArchSpec:
    """Where one model family keeps its MLP neurons.

    Attributes:
        layers: dotted path from the causal-LM module to the ``nn.ModuleList`` of decoder layers.
        act: dotted path from one decoder layer to the activation-function module whose output
            is the neuron vector (``mlp.act_fn`` for Llama).
        down: dotted path from one decoder layer to the down projection (``mlp.down_proj``).
        gated: whether the MLP multiplies the activation by an ``up`` branch (so ``act`` and
            ``down_in`` differ).

    Example:
        >>> ArchSpec(layers="model.layers", act="mlp.act_fn", down="mlp.down_proj", gated=True)
        ArchSpec(layers='model.layers', act='mlp.act_fn', down='mlp.down_proj', gated=True)
    """

    layers: str
    act: str
    down: str
    gated: bool


_LLAMA_LIKE = ArchSpec(layers="model.layers", act="mlp.act_fn", down="mlp.down_proj", gated=True)

# Keyed by ``config.model_type``. Adding a family is one line here plus a tiny-model entry in
# tests/tiny_models.py, whose tests prove the hooked module is really the MLP's activation.
ARCHITECTURES: dict[str, ArchSpec] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "olmo": _LLAMA_LIKE,
    "olmo2": _LLAMA_LIKE,
    "granite": _LLAMA_LIKE,
    "phi3": ArchSpec(
        layers="model.layers", act="mlp.activation_fn", down="mlp.down_proj", gated=True
    ),
    "gpt2": ArchSpec(layers="transformer.h", act="mlp.act", down="mlp.c_proj", gated=False),
    "gpt_neox": ArchSpec(
        layers="gpt_neox.layers", act="mlp.act", down="mlp.dense_4h_to_h", gated=False
    ),
}


_ATTACHED = "_valuelocate_arch"  # the instance attribute attach_arch sets


def supported_families() -> list[str]:
    """The ``model_type`` names the table knows, sorted."""
    return sorted(ARCHITECTURES)


def arch_for(model: nn.Module, arch: ArchSpec | None = None) -> ArchSpec:
    """Return the :class:`ArchSpec` of ``model`` (or ``arch`` when given).

    Raises:
        UnsupportedArchitectureError: the family is unknown; the message lists the supported
            families, the closest match, and how to pass an override.
    """
    if arch is not None:
        return arch
    attached = getattr(model, _ATTACHED, None)
    if isinstance(attached, ArchSpec):
        return attached
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in ARCHITECTURES:
        return ARCHITECTURES[str(model_type)]
    close = difflib.get_close_matches(str(model_type), ARCHITECTURES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnsupportedArchitectureError(
        f"Model family {model_type!r} is not in ValueLocate's architecture table.{hint} "
        f"Supported families: {', '.join(supported_families())}. "
        "To use another family, pass an override, e.g. in Python "
        "arch=ArchSpec(layers='model.layers', act='mlp.act_fn', down='mlp.down_proj', "
        "gated=True), with the dotted paths of your model's decoder layers, MLP activation "
        "module and down projection (see valuelocate/architectures.py)."
    )


def attach_arch(model: nn.Module, arch: ArchSpec | None) -> None:
    """Make ``arch`` the spec of this one model instance (``None`` does nothing).

    ``locate``, ``evaluate`` and ``steer`` take ``arch=`` and attach it, so that every hook
    they open later finds it without the table (``ARCHITECTURES``) being changed."""
    if arch is not None:
        setattr(model, _ATTACHED, arch)


def _get(root: nn.Module, path: str) -> nn.Module:
    obj: object = root
    for part in path.split("."):
        if not hasattr(obj, part):
            raise UnsupportedArchitectureError(
                f"{type(root).__name__} has no submodule at {path!r} (missing {part!r}); "
                "the architecture spec does not match this model."
            )
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        raise UnsupportedArchitectureError(f"{path!r} is not a module in {type(root).__name__}")
    return obj


def decoder_layers(model: nn.Module, arch: ArchSpec | None = None) -> list[nn.Module]:
    """The decoder layers of ``model``, in order."""
    spec = arch_for(model, arch)
    layers = _get(model, spec.layers)
    return list(layers)  # type: ignore[arg-type, call-overload]


def site_module(layer: nn.Module, site: Site, spec: ArchSpec) -> nn.Module:
    """The module a hook attaches to for ``site`` in one decoder layer.

    ``act`` hooks the output of the activation module; ``down_in`` hooks the input of the down
    projection.
    """
    if site == "act":
        return _get(layer, spec.act)
    if site == "down_in":
        return _get(layer, spec.down)
    raise ValueError(f"Unknown site {site!r}; expected one of {', '.join(SITES)}")


def neurons_per_layer(model: nn.Module, arch: ArchSpec | None = None) -> int:
    """Number of MLP neurons in each layer, read from the down projection's input width."""
    spec = arch_for(model, arch)
    down = _get(decoder_layers(model, spec)[0], spec.down)
    if isinstance(down, nn.Linear):
        return down.in_features
    weight = getattr(down, "weight", None)
    # GPT-2's Conv1D stores its weight as [in, out], transposed from nn.Linear.
    if weight is not None and type(down).__name__ == "Conv1D":
        return int(weight.shape[0])
    if weight is not None:
        return int(weight.shape[1])
    raise UnsupportedArchitectureError(f"Cannot read the neuron count from {type(down).__name__}")


def activation_name(model: nn.Module, arch: ArchSpec | None = None) -> str:
    """A readable name of the activation function the model really uses (read, not assumed)."""
    spec = arch_for(model, arch)
    act = _get(decoder_layers(model, spec)[0], spec.act)
    approx = getattr(act, "approximate", None)
    name = type(act).__name__
    return f"{name}(approximate={approx!r})" if approx not in (None, "none") else name


@dataclass(frozen=True)
class ModelShape:
    """The neuron geometry of a model: what neuron sets and statistics must agree with."""

    family: str
    num_layers: int
    neurons_per_layer: int

    @property
    def total_neurons(self) -> int:
        return self.num_layers * self.neurons_per_layer


def model_shape(model: nn.Module, arch: ArchSpec | None = None) -> ModelShape:
    """Layers x neurons of ``model``'s MLPs."""
    spec = arch_for(model, arch)
    family = str(getattr(getattr(model, "config", None), "model_type", "custom"))
    return ModelShape(
        family=family,
        num_layers=len(decoder_layers(model, spec)),
        neurons_per_layer=neurons_per_layer(model, spec),
    )
