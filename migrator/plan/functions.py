"""A plan's own Python functions (``[plan] functions = "functions.py"``): the few mappings the expression
language cannot say, written as plain functions in a file beside the plan.

The file is imported once, when the plan is loaded (it is the plan author's code and runs with the
migrator's rights, like the plan itself). Every public function it holds (a name not starting with ``_``;
classes are left out) can be used in a map, ``call(name, FirstName, LastName)`` or ``... | fn(name)``; the
compiler checks at plan time that the function exists and accepts that many arguments
(:meth:`PlanFunctions.check`).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.plan.decode import did_you_mean

__all__ = ["PlanFunctions", "load_functions"]


@dataclass(frozen=True)
class PlanFunctions:
    """The public functions of a plan's functions file, by name (``file`` as the plan names it)."""

    file: str = ""
    by_name: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def check(self, name: str, arity: int) -> str | None:
        """Why ``name`` cannot be called with ``arity`` positional arguments, or None when it can."""
        if not self.file:
            return f'function {name!r} needs a functions file: add functions = "functions.py" to [plan]'
        fn = self.by_name.get(name)
        if fn is None:
            known = ", ".join(sorted(self.by_name)) or "none"
            return f"no function {name!r} in {self.file}{did_you_mean(name, self.by_name)}; functions: {known}"
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin without a signature: it answers for itself when called
            return None
        try:
            signature.bind(*range(arity))
        except TypeError:
            return f"function {name!r} in {self.file} is {name}{signature}: it cannot take {arity} argument(s)"
        return None


def load_functions(path: Path, shown: str) -> PlanFunctions | str:
    """Import the functions file at ``path`` (``shown``: its name as the plan writes it), or say why not."""
    if not path.is_file():
        return f"functions file {shown!r} not found (looked for {path})"
    name = f"migrator_plan_functions_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return f"functions file {shown!r} is not a Python file"
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # any error in the author's file is a plan problem, named
        return f"functions file {shown!r} failed to load: {_where(err, path)}{type(err).__name__}: {err}"
    sys.modules.pop(name, None)
    functions = {
        attr: value
        for attr, value in vars(module).items()
        if not attr.startswith("_") and callable(value) and not inspect.isclass(value)
    }
    return PlanFunctions(shown, functions)


def _where(err: BaseException, path: Path) -> str:
    if isinstance(err, SyntaxError) and err.lineno is not None:
        return f"line {err.lineno}: "
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename) == path]
    return f"line {frames[-1].lineno}: " if frames else ""
