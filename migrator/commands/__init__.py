"""One module per CLI command. Each has ``add_arguments(parser)`` and ``run(args) -> int``.

``args.environ`` holds the process environment, read by :mod:`migrator.cli` (the only module that reads it).
"""
