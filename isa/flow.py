"""Read/write sets and the information-flow graph, from the same effects every backend runs.

The sets are syntactic, hence an over-approximation: if an instruction's effects never
mention a field, no state difference in that field can reach its results. checks/ uses
that as a *static proof* to skip solver queries, and reports use the graph to explain
results ("MFSR: M -> r"). A register bank is one node (``r``): an operand-indexed access
can touch any member. Memory is one node per memory (``E``).

Flows into a written field come from the value written (explicit flows) and from every
exit condition (implicit flows: whether the write happens at all depends on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from virtcheck.isa import expr as E
from virtcheck.isa.expr import Expr
from virtcheck.isa.model import Instruction, Isa
from virtcheck.isa.semantics import Effects

if TYPE_CHECKING:
    import networkx as nx

OUTCOME = "outcome"  #: node standing for "traps or halts, and with what"


def node_of_field(isa: Isa, name: str) -> str:
    f = isa.fields[name]
    return f.bank if f.bank else name


def reads_of(isa: Isa, roots: Iterable[Expr]) -> set[str]:
    """Nodes (fields, banks, memories) the expressions read."""
    out: set[str] = set()
    seen: set[int] = set()
    for root in roots:
        for n in E.walk(root, seen):
            if isinstance(n, E.Field):
                out.add(node_of_field(isa, n.name))
            elif isinstance(n, E.RegRead):
                out.add(n.bank)
            elif isinstance(n, E.Load):
                out.add(n.memory)
    return out


def field_reads(isa: Isa, roots: Iterable[Expr]) -> set[str]:
    """Scalar field names read (bank reads expand to every member)."""
    out: set[str] = set()
    seen: set[int] = set()
    for root in roots:
        for n in E.walk(root, seen):
            if isinstance(n, E.Field):
                out.add(n.name)
            elif isinstance(n, E.RegRead):
                b = isa.banks[n.bank]
                out.update(b.member(i) for i in range(b.count))
    return out


def has_load(roots: Iterable[Expr]) -> bool:
    seen: set[int] = set()
    return any(isinstance(n, E.Load) for r in roots for n in E.walk(r, seen))


def effect_flows(isa: Isa, eff: Effects) -> set[tuple[str, str]]:
    """(source node, destination node) pairs for one step's effects."""
    implicit = reads_of(isa, [x.cond for x in eff.exits])
    flows: set[tuple[str, str]] = set()
    dests: list[tuple[str, list[Expr]]] = []
    for name, v in eff.writes.items():
        if isinstance(v, E.Field) and v.name == name:
            continue
        dests.append((node_of_field(isa, name), [v]))
    for w in eff.bank_writes:
        dests.append((w.bank, [w.index, w.value]))
    for s in eff.stores:
        dests.append((s.memory, [s.addr, s.value]))
    memo: dict[int, frozenset[str]] = {}
    seen: set[int] = set()
    for dst, vals in dests:
        for src in _reads_memo(isa, vals, memo, seen) | implicit:
            flows.add((src, dst))
    for x in eff.exits:
        for src in _reads_memo(isa, [x.cond, x.info], memo, seen) | implicit:
            flows.add((src, OUTCOME))
    return flows


def _reads_memo(isa: Isa, roots: Iterable[Expr], memo: dict[int, frozenset[str]], seen: set[int]) -> frozenset[str]:
    """``reads_of``, with each node's reads kept in ``memo`` (effects share big subtrees:
    every CSR write of a RISC-V CSR instruction holds the same old-value multiplexer)."""
    out: frozenset[str] = frozenset()
    for root in roots:
        for n in E.walk(root, seen):  # children before parents; nodes in ``memo`` are skipped
            if isinstance(n, E.Field):
                mine = {node_of_field(isa, n.name)}
            elif isinstance(n, E.RegRead):
                mine = {n.bank}
            elif isinstance(n, E.Load):
                mine = {n.memory}
            else:
                mine = set()
            for child in n.children():
                mine |= memo[id(child)]
            memo[id(n)] = frozenset(mine)
        out |= memo[id(root)]
    return out


def read_write(isa: Isa, ins: Instruction) -> tuple[list[str], list[str]]:
    """Sorted read and write sets of an instruction, as graph nodes."""
    eff = ins.effects
    reads = reads_of(isa, eff.roots())
    writes = {node_of_field(isa, n) for n, v in eff.writes.items() if not (isinstance(v, E.Field) and v.name == n)}
    writes |= {w.bank for w in eff.bank_writes} | {s.memory for s in eff.stores}
    return sorted(reads), sorted(writes)


def flow_graph(isa: Isa) -> "nx.MultiDiGraph":
    """Field -> field edges, one per instruction that carries the flow (key = mnemonic)."""
    import networkx as nx  # here, not at the top: importing it costs every command a quarter second

    g = nx.MultiDiGraph()
    for name, f in isa.fields.items():
        node = node_of_field(isa, name)
        g.add_node(node, role=f.role.value)
    for m in isa.memories:
        g.add_node(m, role="memory")
    g.add_node(OUTCOME, role="outcome")
    for ins in isa.instructions:
        for src, dst in effect_flows(isa, ins.effects):
            g.add_edge(src, dst, key=ins.mnemonic)
    return g


def explain(isa: Isa, ins: Instruction, sources: Iterable[str] | None = None) -> list[str]:
    """Flows of one instruction as "src -> dst" lines (optionally only from ``sources``)."""
    wanted = set(sources) if sources is not None else None
    lines = []
    for src, dst in sorted(effect_flows(isa, ins.effects)):
        if wanted is None or src in wanted:
            lines.append(f"{ins.mnemonic}: {src} -> {dst}")
    return lines
