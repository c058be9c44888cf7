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

Paths of the wrong kind (issue 21, item 5), in process and fast: every path every command
takes (a run directory to read, a file to read, a directory or a file to write), given a file
where a directory is expected and the reverse, a missing parent, a parent that is a file, a
symbolic link loop or one to nothing, an existing output, a folder it may not read or write
(as a user without root's override), each refused with exit 2 and one line that names the
path and what was expected, no traceback, and the tree unchanged. A run's own file where its
directory is expected means the run, and paths with spaces and non-ASCII characters work.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, safe_open, save_file

from report_fixture import make_run
from valuelocate.artifacts import write_json
from valuelocate.artifacts.export import export_run
from valuelocate.locating import LocateOptions, locate

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
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
@pytest.mark.slow
@needs_stories
def test_intact_files_are_accepted(base: Path, tmp_path: Path, kind: str) -> None:
    """The control: every command of the corpus succeeds on the undamaged copy."""
    case = tmp_path / "case"
    shutil.copytree(base, case)
    for args in COMMANDS[kind]:
        result = _run(_fill(args, case))
        assert result.returncode == 0, (args, result.stderr)
        shutil.rmtree(case / "out", ignore_errors=True)


@pytest.mark.slow
@needs_stories
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
    if kind == "dataset" and defect != "directory":  # a directory is a path of the wrong kind
        assert rest and all(line.startswith(str(case / FILES[kind])) for line in rest), rest
    else:
        assert named in errors[0] and not rest, (errors, rest)
    assert _hashes(case) == before
    assert not (case / "out").exists()


@pytest.mark.slow
@needs_stories
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


# =========================================================================== paths (issue 21.5)
# Every path every command takes, by what it must be. ``{p}`` is the path under test, ``{run}``
# a run directory and ``{new}`` a new folder (both valid), so that only ``{p}`` is wrong.
INPUT_RUN: dict[str, list[str]] = {
    "steer --neurons": ["steer", "Hi", "--neurons", "{p}", "--dimension", "conservation"],
    "serve --neurons": ["serve", "--neurons", "{p}"],
    "evaluate RUN_DIR": ["evaluate", "{p}"],
    "report RUN_DIR": ["report", "{p}"],
    "export RUN_DIR": ["export", "{p}", "{new}"],
    "compare --run-dir": ["compare", "--run-dir", "{p}", "--out", "{new}"],
}
INPUT_FILE: dict[str, list[str]] = {
    "locate --prompts-file": ["locate", "--prompts-file", "{p}", "--out", "{new}"],
    "locate --descriptions-file": ["locate", "--descriptions-file", "{p}", "--out", "{new}"],
    "data validate PATH": ["data", "validate", "{p}"],
}
OUTPUT_DIR: dict[str, list[str]] = {
    "locate --out": ["locate", "--out", "{p}"],
    "locate --resume --out": ["locate", "--resume", "--out", "{p}"],
    "run --out": ["run", "--out", "{p}"],
    "compare --out": ["compare", "--out", "{p}"],
    "export OUT_DIR": ["export", "{run}", "{p}"],
    "data export OUT_DIR": ["data", "export", "{p}"],
}
GENERATE = ["data", "generate", "--kind", "descriptions", "--dimension", "conservation",
            "--count", "1", "--backend", "openai"]  # fmt: skip
OUTPUT_FILE: dict[str, list[str]] = {"data generate --out": [*GENERATE, "--out", "{p}"]}
# Commands that write into the run they read.
WRITES_IN_RUN = ("evaluate RUN_DIR", "report RUN_DIR")
# What each command hands its paths to; reaching one of them in a bad case fails the test (and
# keeps it fast: no model is ever loaded here).
LIBRARY = {
    "steer": "valuelocate.cli.steer.steer_prompt",
    "serve": "valuelocate.serve.serve_forever",
    "evaluate": "valuelocate.cli.evaluate.evaluate",
    "report": "valuelocate.cli.report.write_report",
    "export": "valuelocate.cli.export.export_run",
    "compare": "valuelocate.cli.compare.compare",
    "locate": "valuelocate.cli.locate.locate",
    "run": "valuelocate.cli.run.run",
    "generate": "valuelocate.cli.generate.generate",
    "generator": "valuelocate.cli.generate.GeneratorBackendOptions.load",
}


def _a_file(case: Path) -> Path:
    path = case / "a file.txt"
    path.write_text("not a folder")
    return path


def _a_folder(case: Path) -> Path:
    path = case / "a folder"
    path.mkdir()
    (path / "inside.txt").write_text("a folder that holds a file")
    return path


def _missing_parent(case: Path) -> Path:
    return case / "no such folder" / "below" / "x"


def _parent_is_a_file(case: Path) -> Path:
    return _a_file(case) / "x"


def _loop(case: Path) -> Path:
    path = case / "loop"
    path.symlink_to("loop")
    return path


def _dangling(case: Path) -> Path:
    path = case / "dangling"
    path.symlink_to("gone")
    return path


def _closed(case: Path, mode: int, make: Callable[[Path], Path]) -> Path:
    """``make``'s path inside a folder of ``mode`` (0o555: read-only, 0o000: closed)."""
    folder = case / f"mode {mode:o}"
    folder.mkdir()
    path = make(folder)
    folder.chmod(mode)
    return path


def _read_only_run(case: Path) -> Path:
    run = case / "read-only run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    run.chmod(0o555)
    return run


def _unreadable(case: Path, make: Callable[[Path], Path]) -> Path:
    path = make(case)
    path.chmod(0o000)
    return path


# (slot kind, case) -> (make the path, words the line must hold, run as an unprivileged user)
Make = Callable[[Path], Path]
PATH_CASES: dict[tuple[str, str], tuple[Make, str, bool]] = {
    ("input run", "a file"): (_a_file, "is a file; expected a run directory", False),
    ("input run", "missing parent"): (_missing_parent, "does not exist (", False),
    ("input run", "parent is a file"): (_parent_is_a_file, "is a file, not a directory", False),
    ("input run", "symlink loop"): (_loop, "(a symbolic link loop); expected a run dir", False),
    ("input run", "dangling link"): (_dangling, "is a symbolic link to nothing (gone)", False),
    ("input run", "unreadable"): (
        lambda c: _unreadable(c, _a_folder), "cannot be read (permission denied)", True),
    ("input file", "a folder"): (_a_folder, "is a directory; expected a JSONL file", False),
    ("input file", "missing parent"): (_missing_parent, "does not exist (", False),
    ("input file", "parent is a file"): (_parent_is_a_file, "is a file, not a directory", False),
    ("input file", "symlink loop"): (_loop, "(a symbolic link loop); expected a JSONL", False),
    ("input file", "dangling link"): (_dangling, "is a symbolic link to nothing (gone)", False),
    ("input file", "unreadable"): (
        lambda c: _unreadable(c, _a_file), "cannot be read (permission denied)", True),
    ("output dir", "a file"): (_a_file, "is a file; expected a", False),
    ("output dir", "existing output"): (_a_folder, "already exists and is not empty", False),
    ("output dir", "parent is a file"): (_parent_is_a_file, "is a file, not a directory", False),
    ("output dir", "symlink loop"): (_loop, "(a symbolic link loop); expected a", False),
    ("output dir", "dangling link"): (_dangling, "is a symbolic link to nothing (gone)", False),
    ("output dir", "read-only parent"): (
        lambda c: _closed(c, 0o555, lambda f: f / "new"), "(permission denied", True),
    ("output file", "a folder"): (_a_folder, "is a directory; expected a JSONL file", False),
    ("output file", "parent is a file"): (_parent_is_a_file, "is a file, not a directory", False),
    ("output file", "symlink loop"): (_loop, "(a symbolic link loop); expected a JSONL", False),
    ("output file", "dangling link"): (_dangling, "is a symbolic link to nothing (gone)", False),
    ("output file", "read-only parent"): (
        lambda c: _closed(c, 0o555, lambda f: f / "items.jsonl"), "(permission denied", True),
    ("run written", "read-only run"): (_read_only_run, "(permission denied", True),
}  # fmt: skip
SLOTS = {"input run": INPUT_RUN, "input file": INPUT_FILE, "output dir": OUTPUT_DIR,
         "output file": OUTPUT_FILE}  # fmt: skip
PATH_CASE_IDS = [
    (slot, case, command)
    for (slot, case) in PATH_CASES
    for command in (WRITES_IN_RUN if slot == "run written" else SLOTS[slot])
    # --resume continues an existing folder; one that is no run is the library's to refuse.
    if (case, command) != ("existing output", "locate --resume --out")
]


def _tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``, not following links: a file's SHA-256, a link's target, a
    folder's mode (a new, empty or moved entry changes it)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                found[str(path)] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[str(path)] = f"dir {path.stat().st_mode:o}"
            else:
                mode = path.stat().st_mode
                data = path.read_bytes() if os.access(path, os.R_OK) else b""
                found[str(path)] = f"{mode:o} {hashlib.sha256(data).hexdigest()}"
    return found


def _main(args: list[str]) -> int:
    """``valuelocate ARGS`` in this process, through the script's entry point; its exit code.
    Any exception other than the exit propagates (a traceback for a user)."""
    from valuelocate.cli import main

    argv = sys.argv
    sys.argv = ["valuelocate", *args]
    try:
        main()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        sys.argv = argv
    return 0


NOBODY = 65534
CANNOT_DROP = 77


def _main_unprivileged(args: list[str]) -> tuple[int, str]:
    """``_main(args)`` in a forked child that drops root (chmod does not stop root); its exit
    code and stderr. A traceback in the child is its stderr and exit code 99."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(read)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            sys.stderr = open(write, "w", encoding="utf-8")  # noqa: SIM115
            if os.geteuid() == 0:
                try:
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                except OSError:
                    os._exit(CANNOT_DROP)
            code = _main(args)
        except BaseException:  # noqa: BLE001 - reported to the parent as a traceback
            import traceback

            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    with open(read, encoding="utf-8") as pipe:
        err = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder that an unprivileged child can enter (pytest's is root's only);
    removed with everything in it, whatever its modes."""
    root = Path(tempfile.mkdtemp(prefix="valuelocate-paths-"))
    root.chmod(0o755)
    yield root
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o755)
    for path in root.rglob("*"):  # a closed file (0o000) can be removed; rglob follows no loop
        if path.is_file() and not path.is_symlink():
            path.chmod(0o644)
    shutil.rmtree(root)


@pytest.fixture
def trapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library behind every command fails the test if a bad path reaches it."""

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the library was reached with {args} {kwargs}")

    for target in LIBRARY.values():
        monkeypatch.setattr(target, trap)


def _fake_run(case: Path) -> Path:
    """A folder that passes for a run where only its kind is checked."""
    run = case / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    return run


def _args(command: list[str], **paths: Path) -> list[str]:
    return [a.format(**{k: str(v) for k, v in paths.items()}) for a in command]


@pytest.mark.usefixtures("trapped")
@pytest.mark.parametrize(("slot", "case", "command"), PATH_CASE_IDS)
def test_a_path_of_the_wrong_kind_is_one_clear_line(
    open_tmp: Path, capsys: pytest.CaptureFixture[str], slot: str, case: str, command: str
) -> None:
    make, words, unprivileged = PATH_CASES[(slot, case)]
    commands = INPUT_RUN if slot == "run written" else SLOTS[slot]
    # Spaces and non-ASCII characters everywhere: the message names the path as given.
    root = open_tmp / "my runs" / "Ünïcødé 値"
    root.mkdir(parents=True)
    run, new = _fake_run(root), root / "new out"
    path = make(root)
    args = _args(commands[command], p=path, run=run, new=new)
    before = _tree(open_tmp)
    if unprivileged:
        code, err = _main_unprivileged(args)
        if code == CANNOT_DROP:
            pytest.skip("running as root, and root's privileges cannot be dropped here")
    else:
        code = _main(args)
        err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, lines)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and str(path) in lines[0], lines
    assert words in lines[0], lines
    assert _tree(open_tmp) == before
    assert not new.exists()


# --------------------------------------------------------------------------- paths that work


class Reached(Exception):
    """Raised by a stand-in for the library: the command accepted its paths and got here."""


def _reach(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    def stand_in(*args: object, **kwargs: object) -> None:
        raise Reached(args, kwargs)

    monkeypatch.setattr(target, stand_in)


def _reached(args: list[str]) -> tuple[tuple[object, ...], dict[str, object]]:
    """What the library's stand-in was called with."""
    with pytest.raises(Reached) as got:
        _main(args)
    return got.value.args  # type: ignore[return-value]


@pytest.fixture(scope="module")
def spaced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run located through the command line, everything under a path with spaces and
    non-ASCII characters, its own prompts file too; the run's parents did not exist."""
    if not STORIES.is_dir():
        pytest.skip("../shared/models is absent")
    root = tmp_path_factory.mktemp("spaced") / "my runs" / "Ünïcødé 値"
    prompts = root / "dätä files" / "prompts 1.jsonl"
    prompts.parent.mkdir(parents=True)
    shutil.copyfile(SRC / "valuelocate" / "data" / "files" / "prompts.jsonl", prompts)
    args = [*LOCATE, "--prompts-file", str(prompts), "--out", str(root / "run 1")]
    assert _main(args) == 0
    assert (root / "run 1" / "neurons.safetensors").is_file()
    return root


def test_report_export_and_data_work_on_paths_with_spaces_and_non_ascii(
    spaced: Path, tmp_path: Path
) -> None:
    run = tmp_path / "ä run"
    shutil.copytree(spaced / "run 1", run)
    assert _main(["report", str(run)]) == 0
    assert (run / "report.html").is_file()
    exported = tmp_path / "new parent ü" / "export 1"
    assert _main(["export", str(run), str(exported)]) == 0
    assert (exported / "neurons.safetensors").is_file()
    assert _main(["data", "validate", str(spaced / "dätä files" / "prompts 1.jsonl")]) == 0
    assert _main(["data", "export", str(tmp_path / "dätä export")]) == 0
    assert (tmp_path / "dätä export" / "prompts.jsonl").is_file()


def test_steer_takes_a_runs_neurons_file_for_the_run(
    spaced: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--neurons RUN/neurons.safetensors`` answers exactly as ``--neurons RUN``."""
    run = spaced / "run 1"
    before = _tree(run)
    answers = []
    for neurons in (run, run / "neurons.safetensors"):
        capsys.readouterr()
        assert _main([*STEER, "--neurons", str(neurons)]) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1] and "unedited" in answers[0]
    assert _tree(run) == before


def test_a_neurons_file_outside_a_run_is_no_run(
    spaced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "neurons.safetensors"
    shutil.copyfile(spaced / "run 1" / "neurons.safetensors", bare)
    assert _main([*STEER, "--neurons", str(bare)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: --neurons {bare} is a file; expected a run directory"), line


@pytest.mark.parametrize("name", ["neurons.safetensors", "manifest.json", "summary.json"])
def test_a_runs_own_file_means_the_run_everywhere(
    spaced: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Where a run directory is read, a file of the run stands for it (the library gets the
    directory), through the library's stand-ins."""
    run = spaced / "run 1"
    for target in ("evaluate", "report", "export", "compare", "serve"):
        _reach(monkeypatch, LIBRARY[target])
    assert _reached(["evaluate", str(run / name)])[0] == (run,)
    assert _reached(["report", str(run / name)])[0] == (run,)
    assert _reached(["export", str(run / name), str(spaced / "unused")])[0][0] == run
    options = _reached(["compare", "--run-dir", str(run / name), "--dimensions", "conservation",
                        "--out", str(spaced / "unused")])[0][0]  # fmt: skip
    assert options.run_dir == str(run)  # type: ignore[attr-defined]
    assert _reached(["serve", "--neurons", str(run / name)])[0][1] == run
    assert not (spaced / "unused").exists()


def test_serve_with_model_reads_a_bare_neurons_file(
    spaced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "sets" / "neurons.safetensors"
    bare.parent.mkdir()
    shutil.copyfile(spaced / "run 1" / "neurons.safetensors", bare)
    _reach(monkeypatch, LIBRARY["serve"])
    assert _reached(["serve", "--model", str(STORIES), "--neurons", str(bare)])[0][1] == bare


def test_serve_hands_its_tie_margin_to_the_server(
    spaced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reach(monkeypatch, LIBRARY["serve"])
    run = str(spaced / "run 1")
    assert _reached(["serve", "--neurons", run])[1]["tie_margin"] == 1e-3
    assert _reached(["serve", "--neurons", run, "--tie-margin", "0"])[1]["tie_margin"] == 0.0
    assert _main(["serve", "--neurons", run, "--tie-margin", "-1"]) == 2


def test_the_model_commands_take_paths_with_spaces_and_non_ascii(
    spaced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run, compare, evaluate, serve and data generate pass such paths on unchanged (their
    models replaced by stand-ins: locate and steer above run for real)."""
    for target in ("run", "compare", "evaluate", "serve", "generate"):
        _reach(monkeypatch, LIBRARY[target])
    monkeypatch.setattr(LIBRARY["generator"], lambda self: object())
    run = spaced / "run 1"
    out = tmp_path / "nöt yet" / "out 1"
    assert _reached(["run", "--out", str(out)])[0][1] == out
    called = _reached(["compare", "--run-dir", str(run), "--dimensions", "conservation",
                       "--out", str(out)])[0]  # fmt: skip
    assert called[0].run_dir == str(run) and called[1] == out  # type: ignore[attr-defined]
    assert _reached(["evaluate", str(run)])[0] == (run,)
    assert _reached(["serve", "--neurons", str(run)])[0][1] == run
    # An existing file is what `data generate` appends to (it resumes).
    items = tmp_path / "ïtems 1.jsonl"
    items.write_text("")
    assert _reached([*GENERATE, "--out", str(items)])[0][0].out == items  # type: ignore[attr-defined]
    assert not out.exists()
