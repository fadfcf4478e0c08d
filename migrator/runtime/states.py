"""The states a plan's state steps set (``StateWriter``: Velpic user status), kept by the other steps that
write the same records.

Another write may change a record's state as a side effect its document leaves open (Velpic
``bulkUserImport`` merging into a leaver may make it Active again: ``velpic.bulk_merge_status``): a state step
after it finds the record as that write left it, not as the run found it. So a step that updates the records
a state step of the plan sets (same connection, same list) reads their state too, with the current values of
the fields it writes, and its pre-images keep it: ``migrator undo`` puts back the earliest state a pre-image of
the run holds, the one before the run (:mod:`migrator.undo`).
"""

from __future__ import annotations

from migrator.connectors.base import IdWriter, StateWriter, Writer
from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_writer
from migrator.coverage import same_list
from migrator.graph import TaskGraph
from migrator.plan.model import Plan

__all__ = ["kept_states", "records_of", "state_fields"]


def state_fields(writer: Writer) -> tuple[str, ...]:
    """The fields of the state a ``StateWriter`` writes: its match fields but the record's id (Velpic
    ``clientStatusId``); none for any other writer."""
    if not isinstance(writer, StateWriter):
        return ()
    own_id = writer.id_field if isinstance(writer, IdWriter) else ""
    return tuple(f for f in writer.match_fields if f != own_id)


def records_of(platform: str, entity: str) -> str:
    """The entity whose records ``entity``'s writes reach: itself, or the one read from the same list (Velpic
    ``user_status`` is a ``user``)."""
    spec = CATALOG.get(platform)
    return entity if spec is None else same_list(spec, entity)


def kept_states(plan: Plan, graph: TaskGraph, step: str) -> tuple[str, ...]:
    """The state fields of the plan's state steps that set the records ``step`` writes (none for a state step
    itself): ``step`` reads them for its pre-images."""
    node = graph.steps[step]
    entity = plan.steps[step].write.entity
    if node.write.platform == "files" or state_fields(_writer(plan, graph, step)):
        return ()
    mine = (node.write.connection, records_of(node.write.platform, entity))
    fields: list[str] = []
    for name, other in graph.steps.items():
        theirs = plan.steps[name].write.entity
        if name == step or (other.write.connection, records_of(other.write.platform, theirs)) != mine:
            continue
        fields.extend(state_fields(_writer(plan, graph, name)))
    return tuple(dict.fromkeys(fields))


def _writer(plan: Plan, graph: TaskGraph, step: str) -> Writer:
    node = graph.steps[step]
    return make_writer(node.write.platform, plan.steps[step].write.entity, node.mode, node.match)
