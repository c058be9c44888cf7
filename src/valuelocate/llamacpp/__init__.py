"""Steering where users already run models: the verdict's edit as a llama.cpp control vector.

- :mod:`~valuelocate.llamacpp.fold` turns a constant neuron addition into the residual vector
  it adds after its layer (exact at ``down_in``; for ``act`` on a gated MLP, an approximation
  whose agreement is measured);
- :mod:`~valuelocate.llamacpp.controlvector` writes and reads llama.cpp's control-vector GGUF
  files (``direction.N`` tensors);
- :mod:`~valuelocate.llamacpp.export` exports a run's verdict edits as such
  (``valuelocate export RUN_DIR OUT --gguf``), with :mod:`~valuelocate.llamacpp.agreement`
  measuring an approximate fold.

docs/llamacpp.md has the commands for llama.cpp and Ollama.
"""

from __future__ import annotations

from valuelocate.llamacpp.controlvector import (
    ControlVector,
    ExportRefused,
    read_control_vector,
    write_control_vector,
)
from valuelocate.llamacpp.export import export_control_vectors
from valuelocate.llamacpp.fold import (
    GGUF_ARCHITECTURES,
    FoldRefused,
    residual_vectors,
    up_means,
)

__all__ = [
    "GGUF_ARCHITECTURES",
    "ControlVector",
    "ExportRefused",
    "FoldRefused",
    "export_control_vectors",
    "read_control_vector",
    "residual_vectors",
    "up_means",
    "write_control_vector",
]
