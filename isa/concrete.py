"""The concrete backend: each instruction's effects compiled to Python source, once.

A machine state is a flat list ``S`` of ints (one slot per field, in declaration order)
plus one list per memory. For every instruction the compiler writes a *factory*
``make(<operands>)`` whose result ``step(S, <memories>)`` runs the instruction on that
state in place. The factory is compiled once per instruction; calling it for a decoded
word only builds a closure, so running a new program never compiles anything.

``step`` returns ``None`` when the instruction completes, ``HALT`` when it halts, or
``(cause, info)`` when it traps (in which case ``S`` and memory are untouched). Trap
entry and instruction fetch are compiled the same way from their effects.

Set ``VIRTCHECK_DUMP_CODE=1`` (or pass ``dump=True``) to print the generated source.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from virtcheck.isa import expr as E
from virtcheck.isa.errors import IsaError
from virtcheck.isa.expr import Expr, Op, mask
from virtcheck.isa.model import Cause, Instruction, Isa
from virtcheck.isa.semantics import Effects


class _Halt:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HALT"


HALT = _Halt()


@dataclass(frozen=True)
class Layout:
    """Where each field lives in the flat state list."""

    names: tuple[str, ...]
    index: dict[str, int]
    widths: tuple[int, ...]
    memories: tuple[str, ...]
    mem_size: tuple[int, ...]
    bank_of: dict[str, str]

    @staticmethod
    def of(isa: Isa) -> "Layout":
        names = tuple(isa.fields)
        return Layout(
            names,
            {n: i for i, n in enumerate(names)},
            tuple(isa.fields[n].width for n in names),
            tuple(isa.memories),
            tuple(m.size for m in isa.memories.values()),
            {n: f.bank for n, f in isa.fields.items() if f.bank},
        )

    def mem_param(self, name: str) -> str:
        return f"m_{name}"


# Python source for each operator, given operand sources a, b and width w. Every Op must
# have an entry: tests/test_backends.py checks it, and a missing one fails compilation.
def _w(w: int) -> str:
    return hex(mask(w))


BINARY: dict[Op, Callable[[str, str, int], str]] = {
    Op.ADD: lambda a, b, w: f"(({a} + {b}) & {_w(w)})",
    Op.SUB: lambda a, b, w: f"(({a} - {b}) & {_w(w)})",
    Op.MUL: lambda a, b, w: f"(({a} * {b}) & {_w(w)})",
    Op.UDIV: lambda a, b, w: f"_udiv({a}, {b}, {w})",
    Op.UREM: lambda a, b, w: f"_urem({a}, {b}, {w})",
    Op.SDIV: lambda a, b, w: f"_sdiv({a}, {b}, {w})",
    Op.SREM: lambda a, b, w: f"_srem({a}, {b}, {w})",
    Op.AND: lambda a, b, w: f"({a} & {b})",
    Op.OR: lambda a, b, w: f"({a} | {b})",
    Op.XOR: lambda a, b, w: f"({a} ^ {b})",
    Op.SHL: lambda a, b, w: f"_shl({a}, {b}, {w})",
    Op.LSHR: lambda a, b, w: f"({a} >> {b})",
    Op.ASHR: lambda a, b, w: f"_ashr({a}, {b}, {w})",
}
COMPARE: dict[Op, Callable[[str, str, int], str]] = {
    Op.EQ: lambda a, b, w: f"{a} == {b}",
    Op.NE: lambda a, b, w: f"{a} != {b}",
    Op.ULT: lambda a, b, w: f"{a} < {b}",
    Op.ULE: lambda a, b, w: f"{a} <= {b}",
    Op.SLT: lambda a, b, w: f"({a} ^ {hex(1 << (w - 1))}) < ({b} ^ {hex(1 << (w - 1))})",
    Op.SLE: lambda a, b, w: f"({a} ^ {hex(1 << (w - 1))}) <= ({b} ^ {hex(1 << (w - 1))})",
}
UNARY: dict[Op, Callable[[str, int], str]] = {
    Op.NOT: lambda a, w: f"({a} ^ {_w(w)})",
    Op.NEG: lambda a, w: f"(-{a} & {_w(w)})",
}

HELPERS = {
    "_udiv": E.udiv_int,
    "_urem": E.urem_int,
    "_sdiv": E.sdiv_int,
    "_srem": E.srem_int,
    "_shl": E.shl_int,
    "_ashr": E.ashr_int,
}


def _refcounts(roots: Sequence[Expr]) -> dict[int, int]:
    counts: dict[int, int] = {}
    stack = list(roots)
    while stack:
        n = stack.pop()
        k = id(n)
        counts[k] = counts.get(k, 0) + 1
        if counts[k] == 1:
            stack.extend(n.children())
    return counts


class SharedTerms(abc.ABC):
    """What every emitter shares: a subterm read more than once is bound to a temporary
    the first time (``t1``, ``t2``, ... appended to ``lines`` by ``_tmp``) and named after.
    Subclasses give the target language: ``_tmp`` and ``_code``."""

    def __init__(self, layout: Layout, roots: Sequence[Expr], operand_names: dict[str, str]):
        self.layout = layout
        self.counts = _refcounts(roots)
        self.bound: dict[int, str] = {}
        self.lines: list[str] = []
        self.ops = operand_names
        self.n = 0

    @abc.abstractmethod
    def _tmp(self, code: str) -> str:
        """Bind ``code`` to a new temporary (appending its definition to ``lines``)."""

    @abc.abstractmethod
    def _code(self, e: Expr) -> str:
        """The target-language source of node ``e`` over its children's values."""

    def value(self, e: Expr) -> str:
        k = id(e)
        if k in self.bound:
            return self.bound[k]
        code = self._code(e)
        if self.counts.get(k, 0) > 1 and not isinstance(e, (E.Const, E.Field, E.Operand)):
            name = self._tmp(code)
            self.bound[k] = name
            return name
        return code


class _Emitter(SharedTerms):
    """Expression -> Python source, with shared subterms bound to temporaries once."""

    def _tmp(self, code: str) -> str:
        self.n += 1
        name = f"t{self.n}"
        self.lines.append(f"{name} = {code}")
        return name

    def cond(self, e: Expr) -> str:
        """Source for a 1-bit expression used as a Python condition (a bool or 0/1)."""
        if id(e) not in self.bound and self.counts.get(id(e), 0) <= 1:
            if isinstance(e, E.BinOp) and e.op.is_compare:
                return f"({COMPARE[e.op](self.value(e.a), self.value(e.b), e.a.width)})"
            if isinstance(e, E.UnOp) and e.op is Op.NOT:
                return f"(not {self.cond(e.a)})"
            if isinstance(e, E.BinOp) and e.op in (Op.AND, Op.OR):
                word = "and" if e.op is Op.AND else "or"
                return f"({self.cond(e.a)} {word} {self.cond(e.b)})"
        return self.value(e)

    def _code(self, e: Expr) -> str:
        if isinstance(e, E.Const):
            return hex(e.value)
        if isinstance(e, E.Field):
            return f"S[{self.layout.index[e.name]}]"
        if isinstance(e, E.Operand):
            return self.ops[e.name]
        if isinstance(e, E.RegRead):
            return f"S[{_offset(self.layout.index[f'{e.bank}0'], self.value(e.index))}]"
        if isinstance(e, E.Load):
            return f"{self.layout.mem_param(e.memory)}[{self.value(e.addr)}]"
        if isinstance(e, E.BinOp):
            if e.op.is_compare:
                return f"(1 if {COMPARE[e.op](self.value(e.a), self.value(e.b), e.a.width)} else 0)"
            return BINARY[e.op](self.value(e.a), self.value(e.b), e.width)
        if isinstance(e, E.UnOp):
            return UNARY[e.op](self.value(e.a), e.width)
        if isinstance(e, E.Ite):
            return f"({self.value(e.then)} if {self.cond(e.cond)} else {self.value(e.else_)})"
        if isinstance(e, E.Extract):
            inner = self.value(e.a)
            if e.lo == 0:
                return inner if e.hi == e.a.width - 1 else f"({inner} & {_w(e.width)})"
            if e.hi == e.a.width - 1:
                return f"({inner} >> {e.lo})"
            return f"(({inner} >> {e.lo}) & {_w(e.width)})"
        if isinstance(e, E.Concat):
            return f"(({self.value(e.hi)} << {e.lo.width}) | {self.value(e.lo)})"
        if isinstance(e, E.Extend):
            inner = self.value(e.a)
            if not e.signed:
                return inner
            sign = hex(1 << (e.a.width - 1))
            return f"((({inner} ^ {sign}) - {sign}) & {_w(e.width)})"
        raise IsaError(f"concrete backend has no rule for node {type(e).__name__}")


def _effects_body(layout: Layout, eff: Effects, ops: dict[str, str], *, exits: bool, result: bool = False,
                  exit_format: str = "return {}", result_var: Optional[str] = None, prefix: str = "") -> list[str]:
    """The body's source lines. ``exit_format`` shapes each exit's statement from the exit
    value's source; ``result_var`` assigns the result instead of returning it; ``prefix``
    names the namespace constants (see `_namespace`) so several bodies can share one."""
    em = _Emitter(layout, eff.roots(), ops)
    out: list[str] = []

    def flush() -> None:
        out.extend(em.lines)
        em.lines.clear()

    if exits:
        for k, x in enumerate(eff.exits):
            c = em.cond(x.cond)
            flush()
            if x.cause is None:
                out.append(f"if {c}: " + exit_format.format("_HALT_"))
            elif isinstance(x.info, E.Const):
                out.append(f"if {c}: " + exit_format.format(f"_{prefix}X{k}"))
            else:
                info = em.value(x.info)
                flush()
                out.append(f"if {c}: " + exit_format.format(f"(_{prefix}C{k}, {info})"))
    # Every value is computed from the pre-state. A value is computed in place, at its
    # assignment, only when no earlier assignment can change what it reads; otherwise it
    # goes to a temporary first. (dst template, address expr or None, base, value, touches)
    plan: list[tuple[str, Optional[Expr], int, Expr, frozenset]] = []
    for st in eff.stores:
        plan.append((f"{layout.mem_param(st.memory)}[{{a}}]", st.addr, 0, st.value, frozenset({("mem", st.memory)})))
    for w in eff.bank_writes:
        plan.append(("S[{a}]", w.index, layout.index[f"{w.bank}0"], w.value, frozenset({("bank", w.bank)})))
    for name, v in eff.writes.items():
        if isinstance(v, E.Field) and v.name == name:
            continue  # written back unchanged
        bank = layout.bank_of.get(name)
        touches = {("field", name)} | ({("bank", bank)} if bank else set())
        plan.append((f"S[{layout.index[name]}]", None, 0, v, frozenset(touches)))
    written: set = set()
    deferred: list[str] = []
    for dst, addr_e, base, val_e, touches in plan:
        roots = (val_e,) if addr_e is None else (addr_e, val_e)
        a = "" if addr_e is None else _offset(base, em.value(addr_e))
        v = em.value(val_e)
        if written and _reads(roots, layout) & written:
            if a and not _atom(a):
                a = em._tmp(a)
            if not _atom(v):
                v = em._tmp(v)
        flush()
        deferred.append(f"{dst.format(a=a)} = {v}")
        written |= touches
    # the deferred list is in order; the temporaries were emitted before any assignment
    out += deferred
    if result and eff.result is not None:
        r = em.value(eff.result)
        flush()
        out.append(f"return {r}" if result_var is None else f"{result_var} = {r}")
    return out


def _offset(base: int, index: str) -> str:
    return index if base == 0 else f"{base} + {index}"


def _atom(code: str) -> bool:
    return code.isidentifier() or code.startswith("0x") or code.isdigit()


def _reads(roots, layout: Layout) -> set:
    """What the expressions read, as ("field", n) / ("bank", b) / ("mem", m) keys."""
    out: set = set()
    for root in roots:
        for n in E.walk(root):
            if isinstance(n, E.Field):
                out.add(("field", n.name))
                b = layout.bank_of.get(n.name)
                if b:
                    out.add(("bank", b))
            elif isinstance(n, E.RegRead):
                out.add(("bank", n.bank))
                out |= {("field", f) for f, bk in layout.bank_of.items() if bk == n.bank}
            elif isinstance(n, E.Load):
                out.add(("mem", n.memory))
    return out


def _namespace(eff: Effects, prefix: str = "") -> dict[str, Any]:
    ns: dict[str, Any] = dict(HELPERS)
    ns["_HALT_"] = HALT  # a private name: generated functions are named after mnemonics
    for k, x in enumerate(eff.exits):
        if x.cause is not None:
            ns[f"_{prefix}C{k}"] = x.cause
            if isinstance(x.info, E.Const):
                ns[f"_{prefix}X{k}"] = (x.cause, x.info.value)
    return ns


def effects_source(layout: Layout, eff: Effects, operands: dict[str, str], *, exits: bool = True,
                   exit_format: str = "return {}", result_var: Optional[str] = None,
                   prefix: str = "") -> tuple[list[str], dict[str, Any]]:
    """The source lines of one effects body and the names they use, for callers that
    generate their own functions around several bodies (a run loop inlining the fetch, a
    straight-line block of instructions).

    The lines read ``S`` and the memory parameters (`Layout.mem_param`); ``operands`` maps
    each operand name to its source (a parameter name, or a literal to specialise on).
    Each exit becomes ``if <cond>: <exit_format.format(value)>``, where the value is
    ``_HALT_`` or a ``(cause, info)`` tuple, exactly what the compiled step returns; the
    result, if any, is assigned to ``result_var``. Exits come first and every write is
    computed from the pre-state, so an exit taken leaves ``S`` and memory untouched.
    Temporaries are ``t1``, ``t2``, ... and are assigned before use, so bodies may follow
    one another in one function. ``prefix`` keeps the namespace names of several bodies
    apart."""
    lines = _effects_body(layout, eff, operands, exits=exits, result=result_var is not None,
                          exit_format=exit_format, result_var=result_var, prefix=prefix)
    return lines, _namespace(eff, prefix)


def _indent(lines: list[str], n: int) -> str:
    return "\n".join(" " * n + ln for ln in lines) if lines else " " * n + "pass"


def _compile(src: str, ns: dict[str, Any], name: str, dump: bool) -> Any:
    if dump or os.environ.get("VIRTCHECK_DUMP_CODE"):
        print(f"# --- {name}\n{src}")
    code = compile(src, f"<virtcheck:{name}>", "exec")
    exec(code, ns)
    return ns


class CompiledIsa:
    """The compiled concrete backend of one ISA: decode, step, trap entry, fetch."""

    def __init__(self, isa: Isa, *, dump: bool = False):
        isa.finalize()
        self.isa = isa
        self.layout = Layout.of(isa)
        self.mem_params = ", ".join(self.layout.mem_param(m) for m in self.layout.memories)
        self.factories: list[Callable[..., Callable]] = []
        self.sources: dict[str, str] = {}
        for ins in isa.instructions:
            self.factories.append(self._factory(ins, dump))
        self.trap_entry: dict[str, Callable] = {}
        for cname, eff in isa.derived.trap_effects.items():
            self.trap_entry[cname] = self._plain(f"trap_{cname}", eff, ["info"], dump)
        self.fetch = self._plain("fetch", isa.derived.fetch_effects, [], dump, exits=True, result=True)
        self._cache: dict[int, Callable] = {}
        self.n = len(isa.instructions)
        self.opshift = isa.word - isa.opcode_width
        self.opmask = mask(isa.opcode_width)

    def _factory(self, ins: Instruction, dump: bool) -> Callable:
        params = [f"o_{o.name}" for o in ins.operands]
        ops = {o.name: f"o_{o.name}" for o in ins.operands}
        body = _effects_body(self.layout, ins.effects, ops, exits=True)
        src = (
            f"def make({', '.join(params)}):\n"
            f"    def step_{ins.mnemonic}(S, {self.mem_params}):\n"
            f"{_indent(body, 8)}\n"
            f"    return step_{ins.mnemonic}\n"
        )
        self.sources[ins.mnemonic] = src
        return _compile(src, _namespace(ins.effects), ins.mnemonic, dump)["make"]

    def _plain(self, name: str, eff: Effects, params: list[str], dump: bool, *, exits: bool = False,
               result: bool = False) -> Callable:
        ops = {p: p for p in params}
        body = _effects_body(self.layout, eff, ops, exits=exits, result=result)
        args = ", ".join(["S", self.mem_params] + params)
        src = f"def {name}({args}):\n{_indent(body, 4)}\n"
        self.sources[name] = src
        return _compile(src, _namespace(eff), name, dump)[name]

    def compile_effects(self, name: str, eff: Effects, params: list[str], *, exits: bool = True,
                        result: bool = False) -> Callable:
        """Compile other effects (a translation, a monitor's helper) in this ISA's layout:
        ``fn(S, <memories>, *params)``."""
        return self._plain(name, eff, params, False, exits=exits, result=result)

    # --- decoding ------------------------------------------------------------------
    def decode(self, word: int) -> tuple[Instruction, tuple[int, ...]]:
        """Every word decodes: the opcode and out-of-domain operand fields wrap around."""
        ins = self.isa.instructions[((word >> self.opshift) & self.opmask) % self.n]
        vals = []
        for (name, hi, lo), o in zip(ins.layout, ins.operands):
            raw = (word >> lo) & mask(hi - lo + 1)
            vals.append(raw % o.domain_size)
        return ins, tuple(vals)

    def step_for(self, word: int) -> Callable:
        """The compiled step of the instruction ``word`` encodes (cached per word)."""
        f = self._cache.get(word)
        if f is None:
            ins, vals = self.decode(word)
            f = self.factories[ins.opcode](*vals)
            self._cache[word] = f
        return f

    def step_of(self, ins: Instruction, operands: Sequence[int]) -> Callable:
        return self.factories[ins.opcode](*operands)

    def dump(self, name: str) -> str:
        return self.sources[name]


def compiled(isa: Isa) -> CompiledIsa:
    """The compiled backend of ``isa``, built once (a fact of ``isa.derived``)."""
    return isa.derived.fact("concrete.compiled", lambda: CompiledIsa(isa))
