"""The plan language: model (frozen Structs), loading with every problem reported, env, field maps."""

from migrator.plan.env import ResolvedConnection, read_env_file, resolve_connections, secret_values
from migrator.plan.load import LoadedPlan, load_plan, parse_plan_text
from migrator.plan.mapping import CompiledMap, MappingError, compile_map
from migrator.plan.model import Plan, Step
from migrator.plan.rates import Rate, parse_rate

__all__ = [
    "CompiledMap",
    "LoadedPlan",
    "MappingError",
    "Plan",
    "Rate",
    "ResolvedConnection",
    "Step",
    "compile_map",
    "load_plan",
    "parse_plan_text",
    "parse_rate",
    "read_env_file",
    "resolve_connections",
    "secret_values",
]
