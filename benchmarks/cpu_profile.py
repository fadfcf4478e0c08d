"""``python -m benchmarks.cpu_profile STATS ARGS…``: run ``migrator ARGS…`` under cProfile timed by the
process's CPU clock, and write the statistics to ``STATS``. ``python -m cProfile`` times by the wall clock, so
on a shared machine a function is charged for the time the process waited for a core; CPU time charges only
what it ran."""

from __future__ import annotations

import cProfile
import sys
import time

from migrator.cli import main as migrator


def main(argv: list[str]) -> int:
    stats, args = argv[0], argv[1:]
    sys.argv = ["migrator", *args]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        code = migrator(args)
    finally:
        profile.disable()
        profile.dump_stats(stats)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
