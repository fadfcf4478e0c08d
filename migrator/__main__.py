"""``python -m migrator``: :func:`migrator.cli.main`; a Ctrl-C while ``migrator.cli`` itself is being imported
ends like one anywhere else (one line, exit 130), not with a traceback."""

import sys

try:
    from migrator.cli import main
except KeyboardInterrupt:
    print("migrator: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
