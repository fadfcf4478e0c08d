"""What the CLI imports when it starts: structlog without rich (rich's traceback and pretty-printing modules
cost about 0.1 s of CPU per start, only to format tracebacks), while rich stays importable for the progress
display, and the console formats a logged exception plainly whether rich was loaded first or not (no frame's
local values: they could hold a secret)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout + done.stderr


def test_the_cli_starts_without_rich_and_rich_is_still_importable() -> None:
    out = _python(
        """
        import sys
        import migrator.cli
        print("structlog" in sys.modules, "rich" in sys.modules)
        from rich.progress import Progress
        print(Progress.__name__)
        """
    )
    assert out.split() == ["True", "False", "Progress"]


@pytest.mark.parametrize("rich_first", [False, True], ids=["structlog-first", "rich-first"])
def test_a_logged_exception_is_formatted_plainly_on_the_console(rich_first: bool) -> None:
    out = _python(
        f"""
        import sys
        if {rich_first}:
            import rich.traceback
        import structlog
        from migrator.logging import Redactor, configure_logging
        configure_logging(redactor=Redactor(), console=sys.stdout)
        try:
            raise ValueError("boom")
        except ValueError:
            structlog.get_logger("migrator.test").warning("failed", exc_info=True)
        """
    )
    assert "Traceback (most recent call last):" in out
    assert 'File "<string>", line 9, in <module>' in out and "ValueError: boom" in out
    assert "╭" not in out  # no rich panel (whose locals of every frame could show a secret)
