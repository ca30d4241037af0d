"""Read/write sets and the flow graph are a static over-approximation of what Z3 finds."""

import pytest
import z3
from hypothesis import given, settings, strategies as st

from virtcheck.isa.flow import OUTCOME, effect_flows, explain, flow_graph, node_of_field, read_write
from virtcheck.isa.z3backend import SymState, operand_domain, operand_vars, sym_step


def test_read_write_sets_of_known_instructions(machines):
    isa = machines["pg3"]
    assert read_write(isa, isa.by_mnemonic("ADD")) == (["P", "r"], ["P", "r"])
    reads, writes = read_write(isa, isa.by_mnemonic("SETR"))
    assert {"M", "r"} <= set(reads) and {"l", "b"} <= set(writes)
    assert explain(machines["pg3-mfsr"], machines["pg3-mfsr"].by_mnemonic("MFSR"), ["M"]) == ["MFSR: M -> r"]


def test_flow_graph_has_an_edge_per_instruction(machines):
    g = flow_graph(machines["pg3-lra"])
    assert g.has_edge("l", "r", key="LRA") and not g.has_edge("l", "r", key="ADD")
    assert g.nodes["M"]["role"] == "system"


def _dynamic_flow(isa, ins, src_field, dst_node):
    """Z3: can a difference in src_field alone change dst_node (or the outcome)?"""
    A = SymState(isa, "A.")
    B = SymState(isa, "B.", fields={n: (z3.BitVec(f"B.{n}", f.width) if n == src_field else A.fields[n])
                                    for n, f in isa.fields.items()}, memories=dict(A.memories))
    ops = operand_vars(ins)
    sa, sb = sym_step(isa, ins, A, ops), sym_step(isa, ins, B, ops)
    if dst_node == OUTCOME:
        diff = z3.Or(*[xa.cond != xb.cond for xa, xb in zip(sa.exits, sb.exits)] or [z3.BoolVal(False)])
    elif dst_node in isa.memories:
        a = z3.BitVec("addr", isa.memories[dst_node].addr_width)
        diff = z3.And(sa.ok, sb.ok, z3.Select(sa.post.memories[dst_node], a) != z3.Select(sb.post.memories[dst_node], a))
    else:
        # a field that keeps its own value is no flow: compare the other members only
        members = [n for n in isa.fields if node_of_field(isa, n) == dst_node and n != src_field]
        if not members:
            return False
        diff = z3.And(sa.ok, sb.ok, z3.Or(*[sa.post.fields[n] != sb.post.fields[n] for n in members]))
    s = z3.Solver()
    s.add(*operand_domain(ins, ops), diff)
    return s.check() == z3.sat


@pytest.mark.parametrize("name", ["pg3", "pg3-lra", "pg3-mfsr"])
def test_static_flows_contain_every_dynamic_flow(machines, name):
    isa = machines[name]
    fields = [n for n in isa.fields]
    nodes = sorted({node_of_field(isa, n) for n in fields} | set(isa.memories) | {OUTCOME})

    @settings(max_examples=80)
    @given(ins=st.sampled_from(isa.instructions), src=st.sampled_from(fields), dst=st.sampled_from(nodes))
    def check(ins, src, dst):
        static = effect_flows(isa, ins.effects)
        if _dynamic_flow(isa, ins, src, dst):
            assert (node_of_field(isa, src), dst) in static, f"{ins.mnemonic}: {src} -> {dst} missed"

    check()
