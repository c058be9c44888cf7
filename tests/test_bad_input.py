"""A corpus of bad input, run through every command that reads each file, as a user would.

Files: the dataset JSONL (``locate --prompts-file``; ``data validate``, whose own contract is
exit 1 with one ``FILE:LINE: ...`` line per defect), ``neurons.safetensors`` (``export``,
``steer --neurons``), ``stats/*.safetensors`` (``locate --resume``), ``manifest.json``
(``report``, ``export``, ``locate --resume``), ``summary.json`` (``report``, ``export``),
``evaluation/results.json`` (``report``, ``export``) and an exported folder
(``steer --neurons``). Defects: empty, truncated, wrong type, wrong shape, NaN/inf, another
model's geometry, another version, not UTF-8, a directory where a file is expected (those that
make sense for the file).

For each case, in a fresh copy of a real run on the 260k-parameter Llama: the command exits 2,
prints exactly one line on stderr that names the file, no traceback, and no file of the run
changes (every file's SHA-256 before and after; a new output folder must not appear).

Slow (one Python start-up per case): ``pytest -m slow tests/test_bad_input.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, safe_open, save_file

from report_fixture import make_run
from valuelocate.artifacts import write_json
from valuelocate.artifacts.export import export_run
from valuelocate.locating import LocateOptions, locate

from tiny_models import STORIES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent"),
]
SRC = Path(__file__).resolve().parents[1] / "src"
DIMS = "conservation,self_enhancement"
LOCATE = [
    "locate", "--model", str(STORIES), "--dimensions", DIMS, "--prompts-per-pole", "3",
    "--max-new-tokens", "4", "--checkpoint-seconds", "0", "--param", "min_required=5",
]  # fmt: skip
STEER = [
    "steer",
    "Hi",
    "--model",
    str(STORIES),
    "--dimension",
    "conservation",
    "--max-new-tokens",
    "2",
]

# --------------------------------------------------------------------------- defects


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _not_utf8(path: Path) -> None:
    path.write_bytes(b'{"id": "\xff\xfe\xfa"}\n')


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("a directory where a file is expected")


def _json_edit(edit: Callable[[object], object]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        data = json.loads(path.read_text())
        path.write_text(json.dumps(edit(data)))  # allow_nan: writes NaN/Infinity literals

    return apply


def _set(keys: str, value: object) -> Callable[[object], object]:
    def edit(data: object) -> object:
        node = data
        *parents, last = keys.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value  # type: ignore[index]
        return data

    return edit


def _tensors_edit(
    edit: Callable[[dict[str, torch.Tensor], dict[str, str]], None],
) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
        tensors = load_file(str(path))
        edit(tensors, meta)
        save_file(tensors, str(path), meta)

    return apply


def _neurons_2d(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    t["conservation.affirm.layer"] = t["conservation.affirm.layer"].reshape(-1, 1).repeat(1, 2)


def _neurons_nan(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    d = t["conservation.affirm.d"].clone()
    d[0] = math.nan
    t["conservation.affirm.d"] = d


def _neurons_geometry(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    m["num_layers"] = str(int(m["num_layers"]) + 3)


def _version(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    m["version"] = "99"


def _stats_shape(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    key = next(k for k, v in t.items() if v.dim() == 2)
    t[key] = t[key][:, :-1].contiguous()


def _stats_nan(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    key = next(k for k, v in t.items() if v.is_floating_point() and v.dim() == 2)
    bad = t[key].clone()
    bad[0, 0] = math.inf
    t[key] = bad


def _stats_geometry(t: dict[str, torch.Tensor], m: dict[str, str]) -> None:
    m["neurons"] = str(int(m["neurons"]) * 2)


def _safetensors_wrong_type(path: Path) -> None:
    path.write_text(json.dumps({"format": "valuelocate.NeuronSets"}))


def _jsonl_wrong_type(path: Path) -> None:
    path.write_text('"just a string"\n[1, 2, 3]\n')


def _jsonl_wrong_shape(path: Path) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["text"] = {"nested": ["not", "text"]}
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")


def _jsonl_nan(path: Path) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["text"] = math.nan
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")


def _jsonl_version(path: Path) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["dimension"] = "kindness"  # a dimension of another scheme
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")


COMMON = {
    "empty": _empty,
    "truncated": _truncated,
    "not_utf8": _not_utf8,
    "directory": _directory,
}
JSON_TYPE = {"wrong_type": _json_edit(lambda d: [1, 2, 3])}
DEFECTS: dict[str, dict[str, Callable[[Path], None]]] = {
    "dataset": {
        **COMMON,
        "wrong_type": _jsonl_wrong_type,
        "wrong_shape": _jsonl_wrong_shape,
        "nan": _jsonl_nan,
        "version": _jsonl_version,
    },
    "neurons": {
        **COMMON,
        "wrong_type": _safetensors_wrong_type,
        "wrong_shape": _tensors_edit(_neurons_2d),
        "nan": _tensors_edit(_neurons_nan),
        "geometry": _tensors_edit(_neurons_geometry),
        "version": _tensors_edit(_version),
    },
    "stats": {
        **COMMON,
        "wrong_type": _safetensors_wrong_type,
        "wrong_shape": _tensors_edit(_stats_shape),
        "nan": _tensors_edit(_stats_nan),
        "geometry": _tensors_edit(_stats_geometry),
        "version": _tensors_edit(_version),
    },
    "manifest": {
        **COMMON,
        **JSON_TYPE,
        "wrong_shape": _json_edit(_set("model", ["not", "a", "record"])),
        "nan": _json_edit(_set("model.num_layers", math.nan)),
        "geometry": _json_edit(_set("model.neurons_per_layer", 7)),
        "version": _json_edit(_set("version", 99)),
    },
    "summary": {
        **COMMON,
        **JSON_TYPE,
        "wrong_shape": _json_edit(_set("dimensions", [1, 2])),
        "nan": _json_edit(_set("total_neurons", math.inf)),
        "geometry": _json_edit(_set("num_layers", 99)),
    },
    "results": {
        **COMMON,
        **JSON_TYPE,
        "wrong_shape": _json_edit(_set("scores", {"not": "a list"})),
        "nan": _json_edit(_set("scores.0.mean", math.nan)),
        "version": _json_edit(_set("version", 99)),
    },
    "exported": {
        "empty": lambda p: [f.unlink() for f in p.iterdir()] and None,
        "truncated": lambda p: _truncated(p / "neurons.safetensors"),
        "not_utf8": lambda p: _not_utf8(p / "manifest.json"),
        "directory": lambda p: _directory(p / "neurons.safetensors"),
        "geometry": lambda p: _tensors_edit(_neurons_geometry)(p / "neurons.safetensors"),
        "version": lambda p: _tensors_edit(_version)(p / "neurons.safetensors"),
    },
}

# Where each file lives in the case's copy, and the commands that read it ({run}, {out},
# {file}, {exp} are filled in). The dataset's base file is the shipped prompts.
FILES = {
    "dataset": "prompts.jsonl",
    "neurons": "run/neurons.safetensors",
    "stats": "run/stats/conservation.affirm.safetensors",
    "manifest": "run/manifest.json",
    "summary": "run/summary.json",
    "results": "run/evaluation/results.json",
    "exported": "exp",
}
COMMANDS: dict[str, list[list[str]]] = {
    "dataset": [[*LOCATE, "--prompts-file", "{file}", "--out", "{out}"]],
    "neurons": [["export", "{run}", "{out}"], [*STEER, "--neurons", "{run}"]],
    "stats": [[*LOCATE, "--resume", "--out", "{run}"]],
    "manifest": [
        ["report", "{run}"],
        ["export", "{run}", "{out}"],
        [*LOCATE, "--resume", "--out", "{run}"],
    ],
    "summary": [["report", "{run}"], ["export", "{run}", "{out}"]],
    "results": [["report", "{run}"], ["export", "{run}", "{out}"]],
    "exported": [[*STEER, "--neurons", "{exp}"]],
}
# What a command does not read closely, by design (kept out of the count): the report shows
# the manifest as text and works without one, has nothing to check a summary's geometry
# against, and draws a NaN figure as a gap, like null.
NOT_READ = {
    ("manifest", "wrong_shape", "report"),
    ("manifest", "nan", "report"),
    ("manifest", "geometry", "report"),
    ("manifest", "version", "report"),
    ("summary", "geometry", "report"),
    ("results", "nan", "report"),
}


def _name(cmd: list[str]) -> str:
    if cmd[0] == "locate":
        return "locate --resume" if "--resume" in cmd else "locate"
    return cmd[0]


CASES = [
    (kind, defect, _name(cmd), i)
    for kind, defects in DEFECTS.items()
    for defect in defects
    for i, cmd in enumerate(COMMANDS[kind])
    if (kind, defect, _name(cmd)) not in NOT_READ
]


# --------------------------------------------------------------------------- the base run


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real finished run (with an evaluation's results.json), its export, the prompts file."""
    root = tmp_path_factory.mktemp("base")
    options = LocateOptions(
        model=str(STORIES),
        dimensions=tuple(DIMS.split(",")),
        prompts_per_pole=3,
        max_new_tokens=4,
        checkpoint_seconds=0.0,
        method_params={"min_required": 5},
    )
    run = locate(options, root / "run").run_dir
    results = json.loads((make_run(root / "fixture") / "evaluation" / "results.json").read_text())
    (run / "evaluation").mkdir()
    write_json(run / "evaluation" / "results.json", results)
    export_run(run, root / "exp")
    shipped = SRC / "valuelocate" / "data" / "files" / "prompts.jsonl"
    shutil.copyfile(shipped, root / "prompts.jsonl")
    return root


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _error_lines(stderr: str) -> tuple[list[str], list[str]]:
    """The ``error:`` lines, and the other lines (progress bars of model loading left out)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if "Loading weights" not in line]
    return [x for x in lines if x.startswith("error:")], [
        x for x in lines if not x.startswith("error:")
    ]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    cmd = [sys.executable, "-m", "valuelocate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _fill(args: list[str], case: Path) -> list[str]:
    names = {"run": case / "run", "out": case / "out", "exp": case / "exp"}
    names["file"] = case / FILES["dataset"]
    return [a.format(**{k: str(v) for k, v in names.items()}) for a in args]


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_intact_files_are_accepted(base: Path, tmp_path: Path, kind: str) -> None:
    """The control: every command of the corpus succeeds on the undamaged copy."""
    case = tmp_path / "case"
    shutil.copytree(base, case)
    for args in COMMANDS[kind]:
        result = _run(_fill(args, case))
        assert result.returncode == 0, (args, result.stderr)
        shutil.rmtree(case / "out", ignore_errors=True)


@pytest.mark.parametrize(("kind", "defect", "command", "index"), CASES)
def test_bad_input_is_one_clear_line(
    base: Path, tmp_path: Path, kind: str, defect: str, command: str, index: int
) -> None:
    case = tmp_path / "case"
    shutil.copytree(base, case)
    target = case / FILES[kind]
    DEFECTS[kind][defect](target)
    before = _hashes(case)
    result = _run(_fill(COMMANDS[kind][index], case))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    errors, rest = _error_lines(result.stderr)
    assert len(errors) == 1, errors
    named = FILES[kind].split("/")[-1] if kind != "exported" else "exp"
    # The line names the file; a dataset's line is followed by one FILE:LINE: FIELD line per
    # defect (the dataset reader's format), nothing else.
    if kind == "dataset":
        assert rest and all(line.startswith(str(case / FILES[kind])) for line in rest), rest
    else:
        assert named in errors[0] and not rest, (errors, rest)
    assert _hashes(case) == before
    assert not (case / "out").exists()


@pytest.mark.parametrize("defect", list(DEFECTS["dataset"]))
def test_data_validate_reports_every_defect_by_file(
    base: Path, tmp_path: Path, defect: str
) -> None:
    """``data validate`` is a linter: exit 1, one ``FILE...`` line per defect on stdout."""
    target = tmp_path / "prompts.jsonl"
    shutil.copyfile(base / "prompts.jsonl", target)
    DEFECTS["dataset"][defect](target)
    before = _hashes(tmp_path)
    result = _run(["data", "validate", str(target)])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (1, 2), (result.stdout, result.stderr)
    out = [line for line in result.stdout.splitlines() if line.strip()]
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith(str(target)) for line in out), out
    assert (out or err) and len(err) == 1, (out, err)
    assert _hashes(tmp_path) == before
