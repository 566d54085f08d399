"""Fixtures of the processing tests: ``world`` (a pinned, prepared, locked and published version, copied per test)."""

from tests.prepared.world import world, world_root  # noqa: F401 - fixtures
