"""``valuelocate doctor``: what each feature needs, and the exact command for what is missing."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from valuelocate.doctor import run_checks


def doctor_command() -> None:
    """Check torch and the device, the bundled weights, chromium and vLLM; print what to install.

    Always exits 0: a missing optional piece only disables the feature it is listed for.
    """
    console = Console(highlight=False, soft_wrap=True)
    checks = run_checks()
    for check in checks:
        mark = "[green]ok[/]     " if check.ok else "[yellow]missing[/]"
        console.print(
            f"{mark} {check.name}: {escape(check.detail)} [dim](for {escape(check.needed_for)})[/]"
        )
        if check.fix:
            console.print(f"        install: {escape(check.fix)}")
    missing = [c for c in checks if not c.ok]
    console.print(
        "everything is in place" if not missing else f"{len(missing)} missing; see the lines above"
    )
