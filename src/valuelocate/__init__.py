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
from valuelocate.artifacts import load_neuron_sets
from valuelocate.edits import random_control_edit, steering_edit
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
from valuelocate.locating import LocateOptions, locate
from valuelocate.models import LoadedModel, ModelLoadError, load_model
from valuelocate.selection import NeuronSet, Selection, get_method
from valuelocate.stats import NeuronStats

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "ActivationCapture",
    "ArchSpec",
    "Edit",
    "LoadedModel",
    "LocateOptions",
    "ModelLoadError",
    "ModelShape",
    "NeuronEdit",
    "NeuronSet",
    "NeuronStats",
    "Selection",
    "UnsupportedArchitectureError",
    "capture_activations",
    "edit_neurons",
    "get_method",
    "identity_edit",
    "load_model",
    "load_neuron_sets",
    "locate",
    "model_shape",
    "random_control_edit",
    "set_value_edit",
    "steering_edit",
    "supported_families",
    "trace_neurons",
]
