"""The native backend: an ISA's effects compiled to C, built once into a shared library.

The Python backend (`virtcheck.isa.concrete`) runs an instruction in about a microsecond;
a fuzzing campaign that runs tens of thousands of programs a second cannot pay that per
step. This backend writes the *same* effects -- every node of the expression language,
with its edge cases defined once in `virtcheck.isa.expr` (``UDIV x 0`` is all ones,
``UREM x 0`` is ``x``, signed division as Z3, shifts at or past the width) -- as C
functions, compiles them with the system's C compiler and loads them with `ctypes`. Tests
run it against the Python backend and the reference evaluator.

What it emits, for one ISA (`CSource`):

* ``static int ins_K(u64 *S, vc_mem *M, const u64 *o, u64 *info)`` per instruction: the
  effects on the flat state ``S`` (one ``u64`` per field, in `Layout` order) and the
  memory views ``M``; returns `OK`, `HALT`, or ``TRAP + cause index`` with ``*info``;
* ``vc_step`` (fetch through the ISA's translation, decode exactly as
  `CompiledIsa.decode`, execute), ``vc_trap`` (trap entry per cause) and ``vc_fetch``;
* any further effects a caller asks for (`CSource.function`), e.g. a monitor's map f.

A memory view is ``{cells, offset, size}``: an access at ``a < size`` reaches
``cells[offset + a]``; past it a load reads 0 and a store is dropped -- the
`PartitionMemory` rule, and on a whole memory (offset 0, every cell) plain indexing.

Only fixed-width ISAs whose values fit 64 bits are supported (`unsupported` says why
not, in one line); callers keep the Python backend for the rest. Set
``VIRTCHECK_DUMP_CODE=1`` to print the generated C, as the Python backend does.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from virtcheck.isa import expr as E
from virtcheck.isa.concrete import Layout, SharedTerms
from virtcheck.isa.errors import IsaError
from virtcheck.isa.expr import Expr, Op, mask
from virtcheck.isa.model import Isa
from virtcheck.isa.semantics import Effects

#: step results (a trap is ``TRAP + cause index``, causes in declaration order)
OK, HALT, TRAP = 0, 1, 2
#: the widest value the C types hold
MAX_WIDTH = 64
#: operands a decoded instruction may have (``vc_step``'s operand array)
MAX_OPERANDS = 8


class NativeUnavailable(Exception):
    """The native backend cannot serve this ISA or this machine (one-line reason)."""


def unsupported(isa: Isa) -> Optional[str]:
    """Why the native backend cannot compile ``isa``, in one line; None if it can."""
    isa.finalize()
    if isa.variable:
        return f"ISA '{isa.name}' has variable-length instructions (the native backend decodes fixed-width words)"
    if max((len(i.operands) for i in isa.instructions), default=0) > MAX_OPERANDS:
        return f"ISA '{isa.name}': an instruction with more than {MAX_OPERANDS} operands"
    if isa.word > MAX_WIDTH:
        return f"ISA '{isa.name}': its {isa.word}-bit instruction word is wider than {MAX_WIDTH} bits"
    effects = [i.effects for i in isa.instructions] + list(isa.derived.trap_effects.values())
    effects.append(isa.derived.fetch_effects)
    for eff in effects:
        for root in eff.roots():
            for n in E.walk(root):
                if n.width > MAX_WIDTH:
                    return f"ISA '{isa.name}': a {n.width}-bit value is wider than {MAX_WIDTH} bits"
    return None


def _lit(v: int) -> str:
    return f"0x{v:x}ULL"


PRELUDE = r"""
#include <stdint.h>
#include <string.h>
typedef uint64_t u64;
typedef int64_t i64;
typedef struct { u64 *c; u64 off; u64 size; } vc_mem;
static inline u64 LD(const vc_mem *m, u64 a) { return a < m->size ? m->c[m->off + a] : 0; }
static inline void ST(vc_mem *m, u64 a, u64 v) { if (a < m->size) m->c[m->off + a] = v; }
/* the language's edge cases (virtcheck.isa.expr), once */
static inline i64 SX(u64 a, int w) { u64 s = 1ULL << (w - 1); return (i64)((a ^ s) - s); }
static inline u64 SDIV(u64 a, u64 b, int w, u64 m) {
    i64 sa = SX(a, w), sb = SX(b, w);
    if (sb == 0) return sa >= 0 ? m : 1;
    u64 ua = sa < 0 ? 0 - (u64)sa : (u64)sa, ub = sb < 0 ? 0 - (u64)sb : (u64)sb, q = ua / ub;
    if ((sa < 0) != (sb < 0)) q = 0 - q;
    return q & m;
}
static inline u64 SREM(u64 a, u64 b, int w, u64 m) {
    i64 sa = SX(a, w), sb = SX(b, w);
    if (sb == 0) return a;
    u64 ua = sa < 0 ? 0 - (u64)sa : (u64)sa, ub = sb < 0 ? 0 - (u64)sb : (u64)sb, r = ua % ub;
    if (sa < 0) r = 0 - r;
    return r & m;
}
static inline u64 ASHR(u64 a, u64 s, int w, u64 m) {
    i64 sa = SX(a, w);
    u64 k = s < (u64)w ? s : (u64)w;
    if (k > 63) k = 63;
    return ((u64)(sa >> k)) & m;
}
"""


class _CEmitter(SharedTerms):
    """Expression -> C, shared subterms bound once to ``const u64`` temporaries.

    Every node is pure (a load past a view reads 0), so evaluating both arms of an
    ``ite`` or a value before an exit's test changes nothing but cost."""

    def __init__(self, layout: Layout, roots: Sequence[Expr], operands: dict[str, str], mem_index: dict[str, int]):
        super().__init__(layout, roots, operands)
        self.mem = mem_index

    def _tmp(self, code: str) -> str:
        self.n += 1
        name = f"t{self.n}"
        self.lines.append(f"const u64 {name} = {code};")
        return name

    def _code(self, e: Expr) -> str:
        w = e.width
        if w > MAX_WIDTH or any(c.width > MAX_WIDTH for c in e.children()):
            raise NativeUnavailable(f"a {max([w, *(c.width for c in e.children())])}-bit value is wider than "
                                    f"{MAX_WIDTH} bits (the native backend computes in uint64_t)")
        if isinstance(e, E.Const):
            return _lit(e.value)
        if isinstance(e, E.Field):
            return f"S[{self.layout.index[e.name]}]"
        if isinstance(e, E.Operand):
            return self.ops[e.name]
        if isinstance(e, E.RegRead):
            return f"S[{self.layout.index[f'{e.bank}0']} + {self.value(e.index)}]"
        if isinstance(e, E.Load):
            return f"LD(&M[{self.mem[e.memory]}], {self.value(e.addr)})"
        if isinstance(e, E.BinOp):
            return self._binary(e.op, self.value(e.a), self.value(e.b), e.a.width)
        if isinstance(e, E.UnOp):
            a = self.value(e.a)
            if e.op is Op.NOT:
                return f"({a} ^ {_lit(mask(w))})"
            if e.op is Op.NEG:
                return f"((0ULL - {a}) & {_lit(mask(w))})"
            raise IsaError(f"native backend has no rule for operator {e.op.name}")
        if isinstance(e, E.Ite):
            return f"({self.value(e.cond)} ? {self.value(e.then)} : {self.value(e.else_)})"
        if isinstance(e, E.Extract):
            inner = self.value(e.a)
            shifted = inner if e.lo == 0 else f"({inner} >> {e.lo})"
            return shifted if e.hi == e.a.width - 1 else f"({shifted} & {_lit(mask(w))})"
        if isinstance(e, E.Concat):
            return f"(({self.value(e.hi)} << {e.lo.width}) | {self.value(e.lo)})"
        if isinstance(e, E.Extend):
            inner = self.value(e.a)
            if not e.signed:
                return inner
            sign = _lit(1 << (e.a.width - 1))
            return f"((({inner} ^ {sign}) - {sign}) & {_lit(mask(w))})"
        raise IsaError(f"native backend has no rule for node {type(e).__name__}")

    @staticmethod
    def _binary(op: Op, a: str, b: str, w: int) -> str:
        m = _lit(mask(w))
        sign = _lit(1 << (w - 1))
        rules = {
            Op.ADD: lambda: f"(({a} + {b}) & {m})",
            Op.SUB: lambda: f"(({a} - {b}) & {m})",
            Op.MUL: lambda: f"(({a} * {b}) & {m})",
            Op.UDIV: lambda: f"({b} ? {a} / {b} : {m})",
            Op.UREM: lambda: f"({b} ? {a} % {b} : {a})",
            Op.SDIV: lambda: f"SDIV({a}, {b}, {w}, {m})",
            Op.SREM: lambda: f"SREM({a}, {b}, {w}, {m})",
            Op.AND: lambda: f"({a} & {b})",
            Op.OR: lambda: f"({a} | {b})",
            Op.XOR: lambda: f"({a} ^ {b})",
            Op.SHL: lambda: f"({b} < {w} ? ({a} << {b}) & {m} : 0ULL)",
            Op.LSHR: lambda: f"({b} < {w} ? {a} >> {b} : 0ULL)",
            Op.ASHR: lambda: f"ASHR({a}, {b}, {w}, {m})",
            Op.EQ: lambda: f"(u64)({a} == {b})",
            Op.NE: lambda: f"(u64)({a} != {b})",
            Op.ULT: lambda: f"(u64)({a} < {b})",
            Op.ULE: lambda: f"(u64)({a} <= {b})",
            Op.SLT: lambda: f"(u64)(({a} ^ {sign}) < ({b} ^ {sign}))",
            Op.SLE: lambda: f"(u64)(({a} ^ {sign}) <= ({b} ^ {sign}))",
        }
        rule = rules.get(op)
        if rule is None:
            raise IsaError(f"native backend has no rule for operator {op.name}")
        return rule()


#: every operator the native backend implements (tests check it covers `Op`)
SUPPORTED_OPS = frozenset(Op)


class CSource:
    """The C source of one ISA's native backend, plus whatever functions callers add."""

    def __init__(self, isa: Isa):
        why = unsupported(isa)
        if why:
            raise NativeUnavailable(why)
        self.isa = isa
        self.layout = Layout.of(isa)
        self.mem_index = {m: i for i, m in enumerate(self.layout.memories)}
        self.causes = list(isa.causes)
        self.parts: list[str] = [PRELUDE]
        self._core()

    # --- bodies ----------------------------------------------------------------------
    def body(self, eff: Effects, operands: dict[str, str], *, exits: bool = True,
             result_var: Optional[str] = None) -> list[str]:
        """C statements for ``eff``: exits first (``return HALT`` / ``*info = ...; return
        TRAP + k``), then every write, computed from the pre-state, in the Python
        backend's order (stores, bank writes, field writes: the last write wins)."""
        em = _CEmitter(self.layout, eff.roots(), operands, self.mem_index)
        out: list[str] = []

        def flush() -> None:
            out.extend(em.lines)
            em.lines.clear()

        if exits:
            for x in eff.exits:
                c = em.value(x.cond)
                if x.cause is None:
                    flush()
                    out.append(f"if ({c}) return {HALT};")
                else:
                    info = em.value(x.info)
                    flush()
                    out.append(f"if ({c}) {{ *info = {info}; return {TRAP + self.causes.index(x.cause.name)}; }}")
        assigns: list[str] = []
        for st in eff.stores:
            a, v = em._tmp(em.value(st.addr)), em._tmp(em.value(st.value))
            assigns.append(f"ST(&M[{self.mem_index[st.memory]}], {a}, {v});")
        for bw in eff.bank_writes:
            i, v = em._tmp(em.value(bw.index)), em._tmp(em.value(bw.value))
            assigns.append(f"S[{self.layout.index[f'{bw.bank}0']} + {i}] = {v};")
        for name, v in eff.writes.items():
            if isinstance(v, E.Field) and v.name == name:
                continue
            assigns.append(f"S[{self.layout.index[name]}] = {em._tmp(em.value(v))};")
        if result_var is not None and eff.result is not None:
            assigns.append(f"{result_var} = {em._tmp(em.value(eff.result))};")
        flush()
        return out + assigns

    def function(self, decl: str, eff: Effects, operands: dict[str, str], *, exits: bool = True,
                 result_var: Optional[str] = None, head: Sequence[str] = (),
                 tail: Sequence[str] = ("return 0;",)) -> None:
        """Add ``decl { <head> <eff> <tail> }`` (``decl`` names the parameters the body
        uses: ``S``, ``M``, ``info`` and the operand sources)."""
        lines = self.body(eff, operands, exits=exits, result_var=result_var)
        self.parts.append(decl + " {\n" + "".join(f"    {ln}\n" for ln in [*head, *lines, *tail]) + "}\n")

    def add(self, code: str) -> None:
        """Add hand-written C (a run loop over the generated functions)."""
        self.parts.append(code)

    # --- the ISA itself --------------------------------------------------------------
    def _core(self) -> None:
        isa, lay = self.isa, self.layout
        n = len(isa.instructions)
        for k, ins in enumerate(isa.instructions):
            ops = {o.name: f"o[{j}]" for j, o in enumerate(ins.operands)}
            self.function(f"static int ins_{k}(u64 *S, vc_mem *M, const u64 *o, u64 *info)", ins.effects, ops)
        for cname in self.causes:
            eff = isa.derived.trap_effects.get(cname)
            if eff is None:
                self.add(f"static void trap_{cname}(u64 *S, vc_mem *M, u64 info) {{ (void)S; (void)M; (void)info; }}\n")
                continue
            self.function(f"static void trap_{cname}(u64 *S, vc_mem *M, u64 info)", eff, {"info": "info"},
                          exits=False, tail=())
        self.function("static int vc_fetch(u64 *S, vc_mem *M, u64 *addr, u64 *info)", isa.derived.fetch_effects,
                      {}, result_var="*addr")
        code = self.mem_index[isa.code_memory]  # type: ignore[index]
        units = isa.units_per_word
        cell = isa.memories[isa.code_memory].width  # type: ignore[index]
        word = " | ".join(f"(LD(&M[{code}], a + {k}) << {(units - 1 - k) * cell})" for k in range(units))
        opshift, opmask = isa.word - isa.opcode_width, mask(isa.opcode_width)
        cases = []
        for k, ins in enumerate(isa.instructions):
            decode = []
            for j, ((_, hi, lo), o) in enumerate(zip(ins.layout, ins.operands)):
                decode.append(f"o[{j}] = ((w >> {lo}) & {_lit(mask(hi - lo + 1))}) % {_lit(o.domain_size)};")
            cases.append(f"    case {k}: {' '.join(decode)} *idx = {k}; return ins_{k}(S, M, o, info);")
        traps = "\n".join(f"    case {k}: trap_{c}(S, M, info); return;" for k, c in enumerate(self.causes))
        self.add(f"""
/* fetch, decode (as CompiledIsa.decode: the opcode and out-of-domain fields wrap), execute.
   *idx is the instruction's table index, or {n} when the fetch itself traps. */
static int vc_step(u64 *S, vc_mem *M, u64 *info, int *idx) {{
    u64 a, o[{MAX_OPERANDS}];
    int r = vc_fetch(S, M, &a, info);
    if (r != {OK}) {{ *idx = {n}; return r; }}
    const u64 w = {word};
    switch ((int)(((w >> {opshift}) & {_lit(opmask)}) % {n})) {{
{chr(10).join(cases)}
    }}
    return {HALT};
}}
static void vc_trap(int cause, u64 *S, vc_mem *M, u64 info) {{
    switch (cause) {{
{traps}
    }}
}}
#define VC_NFIELDS {len(lay.names)}
#define VC_NMEMS {len(lay.memories)}
#define VC_NINS {n}
#define VC_NCAUSES {len(self.causes)}
""")

    def text(self) -> str:
        return "\n".join(self.parts)


# --- building ------------------------------------------------------------------------
def compiler() -> Optional[str]:
    """The C compiler: the one Python was built with if present, else ``cc`` / ``gcc``."""
    cc = (sysconfig.get_config_var("CC") or "").split()
    for cand in ([cc[0]] if cc else []) + ["cc", "gcc", "clang"]:
        path = shutil.which(cand)
        if path:
            return path
    return None


def cache_dir() -> Path:
    """Where built libraries are kept, keyed by a hash of their source."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = Path(base) / "virtcheck" / "native"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".w"
        probe.touch()
        probe.unlink()
        return d
    except OSError:
        d = Path(tempfile.gettempdir()) / f"virtcheck-native-{os.getuid()}"
        d.mkdir(parents=True, exist_ok=True)
        return d


_loaded: dict[str, ctypes.CDLL] = {}


def build(source: str, name: str) -> ctypes.CDLL:
    """Compile ``source`` (once per distinct text, cached on disk) and load it.

    Raises NativeUnavailable with the compiler's first error line when it fails, or when
    no C compiler is installed."""
    if os.environ.get("VIRTCHECK_DUMP_CODE"):
        print(f"/* --- native {name} */\n{source}")
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    hit = _loaded.get(digest)
    if hit is not None:
        return hit
    lib = cache_dir() / f"{name}-{digest}.so"
    if not lib.exists():
        cc = compiler()
        if cc is None:
            raise NativeUnavailable("no C compiler found (cc, gcc or clang): the native engine needs one")
        with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
            src = Path(tmp) / f"{name}.c"
            src.write_text(source)
            out = Path(tmp) / "lib.so"
            proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-std=c99", "-w", "-o", str(out), str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
                raise NativeUnavailable(f"the C compiler failed on the native code for {name}: {first}")
            os.replace(out, lib)  # atomic: another process sees the whole library or none
    dll = ctypes.CDLL(str(lib))
    _loaded[digest] = dll
    return dll
