"""Starter plans (``migrator init``): route knowledge as data (``model``, ``routes``, ``connections``) and its
rendering as commented TOML (``render``)."""
