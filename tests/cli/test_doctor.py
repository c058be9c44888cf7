"""`valuelocate doctor` in process: one line per check of :func:`valuelocate.doctor.run_checks`,
an install line for each missing piece, and exit status 0 (tests/test_doctor.py runs it in
other environments)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from valuelocate.cli.doctor import doctor_command
from valuelocate.doctor import run_checks


def test_every_check_is_printed_with_its_fix() -> None:
    app = typer.Typer()
    app.command()(doctor_command)
    result = CliRunner().invoke(app, [], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    checks = run_checks()
    for check in checks:
        assert f"{check.name}: " in result.output
    missing = [c for c in checks if not c.ok]
    assert result.output.count("install: ") == sum(1 for c in missing if c.fix)
    last = result.output.strip().splitlines()[-1]
    expected = f"{len(missing)} missing; see the lines above" if missing else ""
    assert last == (expected or "everything is in place")
