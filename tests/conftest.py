"""Test-wide settings: offline, deterministic, and `tests/` importable for the tiny-model
helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Tests never reach a model hub: everything is built locally or read from ../shared.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))
