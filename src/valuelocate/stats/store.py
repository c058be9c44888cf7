"""The on-disk form of :class:`~valuelocate.stats.NeuronStats` histograms: small and lossless.

Why: a dense ``[layers, neurons, bins]`` int32 histogram is 55 MB per pole for a 135M model
(30 x 1,536 x 301) and 550 MB for an 8B one, yet most of its cells are zero or small. Format
version 3 stores the same counts, exactly, in a few MB:

1. Bin 0 (``a <= 0``) is dropped: it is ``n - sum(bins 1..B-1)`` for every neuron, so ``c``
   and ``p`` stay exact.
2. The remaining ``[layers, neurons, bins - 1]`` counts are written as unsigned integers of
   the narrowest width that holds the largest count (1, 2 or 4 bytes), split into byte planes
   (all low bytes, then all second bytes, ...; the high planes of small counts are all zero),
   and compressed with zlib (Python's standard library), one layer after the other so that
   only one layer is ever copied in memory. A CRC-32 of the dense histogram (bin 0 included)
   in the header checks the rebuilt one.

The result is one ``uint8`` tensor in the same safetensors file as the moments (which stay
float64, exact). Reading checks the decompressed size against the header's geometry before
and after inflating (a corrupt or hostile file cannot make it allocate more than the
histogram's own size) and that every neuron's counts add up to ``n``.

Version 2 files (dense int32 ``hist``) are still read by :meth:`NeuronStats.load`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from valuelocate.stats.constants import FORMAT_NAME, FORMAT_VERSION, READABLE_VERSIONS, STATISTICS

HIST_ENCODING = "zlib-byteplanes"
_WIDTHS = (1, 2, 4)
_LEVEL = 6  # zlib level: 9 saves about 3% more and takes twice as long


def _width(largest: int) -> int:
    """Bytes per count: the narrowest of 1, 2, 4 holding ``largest``."""
    for width in _WIDTHS:
        if largest < 256**width:
            return width
    raise OverflowError(f"A histogram count of {largest} does not fit 32 bits")


def histogram_crc(hist: Tensor) -> int:
    """CRC-32 of a dense int32 histogram's bytes (little-endian), to check a decoded one."""
    crc = 0
    for layer in hist.reshape(hist.shape[0], -1):
        crc = zlib.crc32(layer.cpu().numpy().astype("<i4").tobytes(), crc)
    return crc


def encode_histogram(layers: list[Tensor], neurons: int, bins: int) -> tuple[Tensor, int]:
    """Compress per-layer histograms (``[neurons * bins]`` int32 each, any device).

    Returns:
        ``(blob [bytes] uint8, width)``: the zlib stream and the bytes per count.
    """
    largest = max(int(h.view(neurons, bins)[:, 1:].max()) for h in layers)
    width = _width(largest)
    dtype = np.dtype(f"<u{width}")
    packer = zlib.compressobj(_LEVEL)
    parts = []
    for hist in layers:
        body = hist.view(neurons, bins)[:, 1:].cpu().numpy().astype(dtype)  # [neurons, bins-1]
        planes = body.reshape(-1).view(np.uint8).reshape(-1, width).T  # [width, cells]
        parts.append(packer.compress(np.ascontiguousarray(planes).tobytes()))
    parts.append(packer.flush())
    blob = np.frombuffer(b"".join(parts), dtype=np.uint8)
    return torch.from_numpy(blob.copy()), width


def decode_histogram(
    blob: Tensor, width: int, n: Tensor, num_layers: int, neurons: int, bins: int
) -> Tensor:
    """Inverse of :func:`encode_histogram`: the dense ``[layers, neurons, bins]`` int32
    histogram, bin 0 restored as ``n - sum(bins 1..B-1)``.

    Raises:
        ValueError: a bad width, a stream that does not inflate to exactly the geometry's size,
            or counts that do not add up to ``n``.
    """
    if width not in _WIDTHS:
        raise ValueError(f"Histogram width must be one of {_WIDTHS}, got {width}")
    cells = neurons * (bins - 1)
    expected = num_layers * cells * width
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob.numpy().tobytes(), expected + 1)
    except zlib.error as err:
        raise ValueError(f"The histogram stream is corrupt: {err}") from err
    if len(raw) != expected or not inflater.eof or inflater.unconsumed_tail:
        raise ValueError(
            f"The histogram stream holds {len(raw)}+ bytes, expected exactly {expected}"
        )
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(num_layers, width, cells)
    counts = np.ascontiguousarray(planes.transpose(0, 2, 1)).view(f"<u{width}")
    body = torch.from_numpy(counts.reshape(num_layers, neurons, bins - 1).astype(np.int64))
    zero_bin = n.to(torch.int64)[:, None] - body.sum(-1)  # [layers, neurons]
    if bool((zero_bin < 0).any()) or bool((body > 2**31 - 1).any()):
        raise ValueError("The histogram's counts exceed the token counts n")
    return torch.cat([zero_bin[..., None], body], dim=-1).to(torch.int32)


# ---------------------------------------------------------------------- whole files

_STATE_SPEC: dict[str, tuple[int, torch.dtype]] = {
    # key: (number of dimensions, dtype); shapes are checked against hist [L, N, B]
    "n": (1, torch.int64),
    "hist": (3, torch.int32),
    "mean": (2, torch.float64),
    "m2": (2, torch.float64),
    "prompt_n": (1, torch.int64),
    "prompt_mean": (2, torch.float64),
    "prompt_m2": (2, torch.float64),
}
_HIST_BLOB = "hist_zlib"


def validate_state(state: Mapping[str, Tensor], *, histogram: bool = True) -> None:
    """Raise ValueError unless ``state`` has exactly the keys, dtypes and shapes of
    ``NeuronStats.state_dict()``; with ``histogram``, its totals must match ``n``."""
    missing = sorted(set(_STATE_SPEC) - set(state))
    extra = sorted(set(state) - set(_STATE_SPEC))
    if missing or extra:
        raise ValueError(f"State keys differ: missing {missing}, unexpected {extra}")
    for key, (ndim, dtype) in _STATE_SPEC.items():
        t = state[key]
        if t.dim() != ndim or t.dtype != dtype:
            raise ValueError(f"State {key!r} should be {ndim}-D {dtype}, got {t.dim()}-D {t.dtype}")
    num_layers, neurons, bins = state["hist"].shape
    if bins < 3 or num_layers < 1 or neurons < 1:
        raise ValueError(f"State has an invalid histogram shape {tuple(state['hist'].shape)}")
    for key, (ndim, _) in _STATE_SPEC.items():
        expected = (num_layers,) if ndim == 1 else (num_layers, neurons)
        if ndim < 3 and tuple(state[key].shape) != expected:
            raise ValueError(
                f"State {key!r} has shape {tuple(state[key].shape)}, expected {expected}"
            )
    if bool((state["n"] < 0).any()) or bool((state["hist"] < 0).any()):
        raise ValueError("State counts are negative")
    if histogram and not torch.equal(state["hist"].sum((1, 2)), state["n"] * neurons):
        raise ValueError("State histogram totals do not match the token counts n")


def write_state(
    path: str | Path,
    state: Mapping[str, Tensor],
    header: Mapping[str, str],
    hist_layers: list[Tensor] | None,
) -> None:
    """Write a format-3 file: the moments as they are, the histogram (``hist_layers``, one
    ``[neurons * bins]`` tensor per layer; None when not kept) compressed, and no ``m2`` when
    the header's ``statistics`` leave out ``var``."""
    kept = set(header["statistics"].split(","))
    tensors = {k: v.contiguous() for k, v in state.items() if k != "hist"}
    if "var" not in kept:
        del tensors["m2"]
    meta = dict(header)
    if hist_layers is not None:
        _, neurons, bins = state["hist"].shape
        tensors[_HIST_BLOB], width = encode_histogram(hist_layers, neurons, bins)
        crc = str(histogram_crc(state["hist"]))
        meta.update(hist_encoding=HIST_ENCODING, hist_width=str(width), hist_crc32=crc)
    save_file(tensors, str(path), meta)


def read_state(path: str | Path, header: Mapping[str, str]) -> tuple[dict[str, Tensor], list[str]]:
    """The state dict and kept statistics of a version 2 or 3 file whose ``header`` has been
    read (and its format checked); raises ValueError naming the file."""
    try:
        tensors = load_file(str(path))
    except (SafetensorError, RuntimeError) as err:
        raise ValueError(f"Cannot read statistics from {path}: {err}") from err
    try:
        geometry = tuple(int(header[k]) for k in ("num_layers", "neurons", "hist_bins"))
        if header["version"] == "2":
            statistics = ["histogram", "mean", "var", "prompt"]
            state = tensors
        else:
            statistics = header["statistics"].split(",")
            state = _dense_state(tensors, header, geometry, statistics)
        validate_state(state, histogram="histogram" in statistics)
    except (KeyError, ValueError, OverflowError) as err:
        raise ValueError(f"Invalid statistics file {path}: {err}") from err
    if tuple(state["hist"].shape) != geometry:
        raise ValueError(
            f"Invalid statistics file {path}: header says (layers, neurons, bins) "
            f"{geometry}, tensors have {tuple(state['hist'].shape)}"
        )
    return state, statistics


def _dense_state(
    tensors: dict[str, Tensor],
    header: Mapping[str, str],
    geometry: tuple[int, ...],
    statistics: list[str],
) -> dict[str, Tensor]:
    """A format-3 file's tensors back in ``state_dict`` form (dense histogram, ``m2``)."""
    num_layers, neurons, bins = geometry
    if num_layers < 1 or neurons < 1 or bins < 3:
        raise ValueError(f"Invalid geometry {geometry}")
    state = dict(tensors)
    if "var" not in statistics:
        if "m2" in state:
            raise ValueError("m2 is stored although var is not kept")
        state["m2"] = torch.zeros(num_layers, neurons, dtype=torch.float64)
    blob = state.pop(_HIST_BLOB, None)
    if "histogram" in statistics:
        if blob is None or blob.dtype != torch.uint8 or blob.dim() != 1:
            raise ValueError(f"The histogram ({_HIST_BLOB}, 1-D uint8) is missing")
        if header.get("hist_encoding") != HIST_ENCODING:
            raise ValueError(f"Unknown histogram encoding {header.get('hist_encoding')!r}")
        if "n" not in state or tuple(state["n"].shape) != (num_layers,):
            raise ValueError("The token counts n are missing or of the wrong shape")
        width = int(header["hist_width"])
        state["hist"] = decode_histogram(blob, width, state["n"], num_layers, neurons, bins)
        # Bin 0 is rebuilt from n, so a wrong n would go unnoticed without this check.
        if histogram_crc(state["hist"]) != int(header["hist_crc32"]):
            raise ValueError("The histogram does not match its checksum (n or the counts differ)")
    else:
        if blob is not None:
            raise ValueError("A histogram is stored although it is not kept")
        state["hist"] = torch.zeros(num_layers, neurons, bins, dtype=torch.int32)
    return state


_RESERVED_METADATA = (
    "format", "version", "num_layers", "neurons", "hist_bins", "bin_width", "statistics",
    "hist_encoding", "hist_width", "hist_crc32",
)  # fmt: skip


def file_header(stats: Any, metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The reserved format keys of a :class:`~valuelocate.stats.NeuronStats` file, plus the
    user's free-form ``metadata`` (which may not reuse a reserved key)."""
    extra = dict(metadata or {})
    clash = sorted(set(extra) & set(_RESERVED_METADATA))
    if clash:
        raise ValueError(f"Metadata keys {clash} are reserved")
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "num_layers": str(stats.num_layers),
        "neurons": str(stats.neurons),
        "hist_bins": str(stats.hist_bins),
        "bin_width": repr(stats.bin_width),
        "statistics": ",".join(s for s in STATISTICS if s in stats.statistics),
        **{str(k): str(v) for k, v in extra.items()},
    }


def read_header(path: str | Path) -> dict[str, str]:
    """The header of a statistics file; ValueError naming the file if it is not one."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
    except (SafetensorError, RuntimeError) as err:
        raise ValueError(f"Cannot read statistics from {path}: {err}") from err
    if header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a {FORMAT_NAME} file (format={header.get('format')})")
    if header.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} has format version {header.get('version')}; this code reads "
            f"versions {', '.join(READABLE_VERSIONS)}"
        )
    return header
