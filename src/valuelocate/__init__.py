"""ValueLocate: find the MLP neurons that carry human values in LLMs, and edit them.

The pipeline runs one way through the modules: prompts (``valuelocate.data``) -> activations
(``hooks``) -> statistics (``stats``) -> neuron sets (``selection``, ``locating``) -> edits
(``steering``) -> answers (``generation``) -> scores (``evaluation``) -> report (``reporting``).
``valuelocate.cli`` is the command line. See the glossary in ``valuelocate.vocab`` for the
vocabulary (dimension, pole, layer, neuron, site, scope, gamma, condition).
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
from valuelocate.artifacts.export import export_run
from valuelocate.artifacts.files import package_version
from valuelocate.artifacts.verdict import run_edit
from valuelocate.comparison.options import CompareOptions
from valuelocate.comparison.run import compare
from valuelocate.comparison.verdict import VerdictOptions, run_verdict
from valuelocate.evaluation import EvaluateOptions, EvaluationResult, evaluate
from valuelocate.generation import GenerationConfig, generate_answers
from valuelocate.hooks import (
    ActivationCapture,
    Edit,
    NeuronEdit,
    capture_activations,
    edit_neurons,
    identity_edit,
    trace_neurons,
)
from valuelocate.locating import LocateOptions, locate
from valuelocate.models import LoadedModel, ModelLoadError, load_model
from valuelocate.pipeline import RunOptions, run
from valuelocate.reporting import write_report
from valuelocate.selection import NeuronSet, Selection, get_method
from valuelocate.stats import NeuronStats
from valuelocate.steer import SteerOptions, steer_prompt
from valuelocate.steering.dynamic import random_control_edit, steering_edit
from valuelocate.steering.simple import set_value_edit
from valuelocate.vocab import DIMENSIONS, POLES, SCOPES, SITES

__version__ = package_version()

__all__ = [
    "ARCHITECTURES",
    "DIMENSIONS",
    "POLES",
    "SCOPES",
    "SITES",
    "ActivationCapture",
    "ArchSpec",
    "CompareOptions",
    "Edit",
    "EvaluateOptions",
    "EvaluationResult",
    "GenerationConfig",
    "LoadedModel",
    "LocateOptions",
    "ModelLoadError",
    "ModelShape",
    "NeuronEdit",
    "NeuronSet",
    "NeuronStats",
    "RunOptions",
    "Selection",
    "SteerOptions",
    "UnsupportedArchitectureError",
    "VerdictOptions",
    "capture_activations",
    "compare",
    "edit_neurons",
    "evaluate",
    "export_run",
    "generate_answers",
    "get_method",
    "identity_edit",
    "load_model",
    "load_neuron_sets",
    "locate",
    "model_shape",
    "random_control_edit",
    "run",
    "run_edit",
    "run_verdict",
    "set_value_edit",
    "steer_prompt",
    "steering_edit",
    "supported_families",
    "trace_neurons",
    "write_report",
]
