"""ValueLocate: find the MLP neurons that carry human values in LLMs, and edit them.

The pipeline runs one way through the modules: prompts (``valuelocate.data``) -> activations
(``hooks``) -> statistics -> neuron sets -> edits -> scores -> report. See the glossary in
``valuelocate.architectures`` for the vocabulary (layer, neuron, site, pole, scope, gamma).
"""

from valuelocate.architectures import (
    ARCHITECTURES,
    ArchSpec,
    ModelShape,
    UnsupportedArchitectureError,
    model_shape,
    supported_families,
)
from valuelocate.hooks import (
    ActivationCapture,
    Edit,
    NeuronEdit,
    capture_activations,
    edit_neurons,
    identity_edit,
    set_value_edit,
    trace_neurons,
)
from valuelocate.models import LoadedModel, ModelLoadError, load_model

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "ActivationCapture",
    "ArchSpec",
    "Edit",
    "LoadedModel",
    "ModelLoadError",
    "ModelShape",
    "NeuronEdit",
    "UnsupportedArchitectureError",
    "capture_activations",
    "edit_neurons",
    "identity_edit",
    "load_model",
    "model_shape",
    "set_value_edit",
    "supported_families",
    "trace_neurons",
]
