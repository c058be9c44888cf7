"""The constants the modules of :mod:`valuelocate.stats` share: which statistics can be kept,
the histogram's count type and limit, and the file format's name and versions. A leaf: it
imports nothing of valuelocate, so every module of the package may import it."""

from __future__ import annotations

import torch

# What can be kept (``statistics=``): ``histogram`` gives c, p, q95 and quantile(); ``mean``
# the token mean; ``var`` the token variance; ``prompt`` the prompt-level count, mean and
# variance. ``mean`` and ``prompt`` come from the same per-prompt sums and are always kept;
# leaving out ``histogram`` or ``var`` skips work in every ``add``.
STATISTICS = ("histogram", "mean", "var", "prompt")
ALWAYS_KEPT = frozenset({"mean", "prompt"})

HIST_DTYPE = torch.int32
HIST_LIMIT = 2**31 - 1  # largest count an int32 histogram cell holds

FORMAT_NAME = "valuelocate.NeuronStats"
# 3: the histogram is stored compressed (stats.store), 2: dense int32 (still read);
# 2 and 3: bin 0 is a <= 0 and c is derived from it (1 stored c, bin 0 a < 0).
FORMAT_VERSION = "3"
READABLE_VERSIONS = ("2", "3")
