"""Command line: argv and the environment are read here and nowhere else."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(f"migrator: not yet implemented: {' '.join(args)}", file=sys.stderr)
    return 1
