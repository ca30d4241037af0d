"""The Unicorn reference: QEMU's TCG CPU models through the ``unicorn`` package.

The ISA's ``unicorn`` spec names the constants module (``unicorn.x86_const``), the
architecture and mode constants (``UC_ARCH_X86``...), the register-name prefix, the IN/OUT
instruction ids when the ISA has a port memory, an optional CPU model, and functions that set a fitted state up
(registers in order, memory regions, an optional boot sequence run first -- x86 enters ring
3 by a real IRET from ring 0) and read the user fields back. Exceptions arrive at Unicorn's
interrupt hook, which stops the run and records the vector.
"""

from __future__ import annotations

import gc

from virtcheck.hypervisor.reference.base import Example, Reference, RefResult, ReferenceUnavailable

PAGE = 0x1000


def _module():
    try:
        import unicorn
    except ImportError as exc:
        raise ReferenceUnavailable(
            "the 'unicorn' package is not installed (pip install 'virtcheck[reference]')") from exc
    return unicorn


def _pages(addr: int, size: int) -> tuple[int, int]:
    lo = addr & ~(PAGE - 1)
    hi = (addr + size + PAGE - 1) & ~(PAGE - 1)
    return lo, hi - lo


class Ref(Reference):
    name = "unicorn"

    def __init__(self, isa):
        super().__init__(isa)
        self.uc_mod = _module()
        u = self.uc_mod
        import importlib

        self.consts = importlib.import_module(self.spec["constants"])
        self.arch = getattr(u, self.spec["arch"])
        self.mode = getattr(u, self.spec["mode"])
        self.cpu = self.spec.get("cpu_model")
        self.prefix = self.spec["registers"]
        self._reg_ids: dict[str, int] = {}
        self._isolated = None
        self._uc = None  #: the one Uc kept when the spec asks for ``reuse``
        self._mapped: list[tuple[int, int]] = []

    def backing(self) -> str:
        u = self.uc_mod
        cpu = f", CPU model {self.cpu}" if self.cpu else ""
        return f"Unicorn {u.__version__} (QEMU TCG emulation; {self.spec['arch']}, {self.spec['mode']}{cpu})"

    def reg(self, name: str) -> int:
        r = self._reg_ids.get(name)
        if r is None:
            r = getattr(self.consts, self.prefix + name)
            self._reg_ids[name] = r
        return r

    def _new(self):
        u = self.uc_mod
        uc = u.Uc(self.arch, self.mode)
        if self.cpu:
            uc.ctl_set_cpu_model(getattr(self.consts, self.cpu))
        return uc

    def run(self, ex: Example) -> RefResult:
        """In a forked worker (see :mod:`.isolate`): Unicorn can crash the whole process."""
        if self._isolated is None:
            from virtcheck.hypervisor.reference.isolate import Isolated

            self._isolated = Isolated(self.isa, self.run_here, "Unicorn")
        return self._isolated.run(ex)

    def close(self) -> None:
        if self._isolated is not None:
            self._isolated.close()
            self._isolated = None

    def run_here(self, ex: Example) -> RefResult:
        # The hooks' closures refer to the Uc object: a cycle. Left to the garbage collector,
        # a Uc may be freed from inside another one's emu_start (a collection triggered in a
        # hook), which crashes Unicorn 2.1.4 (a segmentation fault). So hooks are removed
        # before returning, and no collection runs while Unicorn executes.
        hooks: list[tuple] = []
        was = gc.isenabled()
        gc.disable()
        try:
            return self._run(ex, hooks)
        finally:
            for uc, h in hooks:
                uc.hook_del(h)
            hooks.clear()
            if was:
                gc.enable()

    def _run(self, ex: Example, hooks: list) -> RefResult:
        u = self.uc_mod
        from virtcheck.isa.asm import encode_units

        isa = self.isa
        code = encode_units(isa, ex.ins, [ex.ops[o.name] for o in ex.ins.operands])
        st = self.spec["setup"](ex.state, code)
        if self.spec.get("reuse"):
            if self._uc is None:
                self._uc, self._mapped = self._new(), []
            uc, mapped = self._uc, self._mapped
            uc.ctl_flush_tb()
        else:
            uc, mapped = self._new(), []

        def ensure(addr: int, size: int) -> None:
            lo, n = _pages(addr, size)
            for p in range(lo, lo + n, PAGE):
                if not any(a <= p < a + s for a, s in mapped):
                    uc.mem_map(p, PAGE)
                    mapped.append((p, PAGE))

        mem_lists = {}
        for m, base in st["memory"].items():
            cells = ex.state.memories[m].to_list(isa.memories[m].size)
            ensure(base, len(cells))
            uc.mem_write(base, bytes(cells))
            mem_lists[m] = (base, len(cells))
        for addr, data in st.get("regions", []):
            if isinstance(data, int):
                ensure(addr, data)
            elif data:
                ensure(addr, len(data))
                uc.mem_write(addr, bytes(data))
        pc, code_bytes = st["code"]
        ensure(pc, len(code_bytes))
        uc.mem_write(pc, bytes(code_bytes))

        ports = st.get("ports")
        io_cells = list(ex.state.memories[ports].to_list(isa.memories[ports].size)) if ports else None
        trap: list[int] = []

        def on_intr(uc_, intno, _):
            trap.append(intno)
            uc_.emu_stop()

        hooks.append((uc, uc.hook_add(u.UC_HOOK_INTR, on_intr)))
        started = [False]

        def on_fetch_unmapped(uc_, access, addr, size, value, _):
            # after a transfer of control, Unicorn fetches the target before it stops: give
            # it a page (the count stops it before anything there runs)
            if not started[0]:
                return False
            try:
                ensure(addr, 1)
            except u.UcError:
                return False
            return True

        hooks.append((uc, uc.hook_add(u.UC_HOOK_MEM_FETCH_UNMAPPED, on_fetch_unmapped)))
        port_insns = self.spec.get("port_instructions")
        if ports and port_insns:
            size_mask = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}

            def on_in(uc_, port, size, _):
                return io_cells[port % len(io_cells)] & size_mask[size]

            def on_out(uc_, port, size, value, _):
                io_cells[port % len(io_cells)] = value & 0xFF

            hooks.append((uc, uc.hook_add(u.UC_HOOK_INSN, on_in, None, 1, 0, getattr(self.consts, port_insns[0]))))
            hooks.append((uc, uc.hook_add(u.UC_HOOK_INSN, on_out, None, 1, 0, getattr(self.consts, port_insns[1]))))
        try:
            for name, value in st["registers"]:
                uc.reg_write(self.reg(name), value)
            for msr, value in st.get("msrs", []):
                uc.msr_write(msr, value)
        except u.UcError as exc:
            return RefResult.skipped(f"setup refused: {exc}")
        boot = st.get("boot")
        if boot:
            bpc, count = boot
            try:
                uc.emu_start(bpc, 0, count=count)
            except u.UcError as exc:
                return RefResult.skipped(f"boot failed: {exc}")
            if trap:
                return RefResult.skipped(f"boot trapped with vector {trap[0]}")
            for name, value in st.get("after_boot", []):
                uc.reg_write(self.reg(name), value)
        started[0] = True
        try:
            uc.emu_start(pc, 0, count=1)
        except u.UcError as exc:
            if exc.errno in (u.UC_ERR_READ_UNMAPPED, u.UC_ERR_WRITE_UNMAPPED, u.UC_ERR_FETCH_UNMAPPED):
                return RefResult.skipped("accesses memory outside the model's (the model wraps addresses)")
            if exc.errno == u.UC_ERR_INSN_INVALID:
                return RefResult.skipped("Unicorn: invalid instruction for this CPU model")
            return RefResult.skipped(f"Unicorn error: {exc}")
        if trap:
            return RefResult("trap", vector=trap[0])
        values: dict[str, int] = {}

        def get(n: str) -> int:
            if n not in values:
                values[n] = uc.reg_read(self.reg(n))
            return values[n]

        probe = st.get("probe")
        if probe:
            # registers Unicorn reads back wrongly are read by the guest itself: the probe
            # runs after everything else has been read (see the ISA's spec)
            for n in self.spec.get("probe_first", []):
                get(n)
            mems_before = {m: bytes(uc.mem_read(base, n)) for m, (base, n) in mem_lists.items()}
            paddr, pcode, pcount = probe
            ensure(paddr, len(pcode))
            uc.mem_write(paddr, bytes(pcode))
            uc.reg_write(self.reg(self.spec["pc_register"]), paddr)
            try:
                uc.emu_start(paddr, 0, count=pcount)
            except u.UcError as exc:
                return RefResult.skipped(f"read-back probe failed: {exc}")
            if trap:
                return RefResult.skipped(f"read-back probe trapped with vector {trap[0]}")
            fields = self.spec["read"](get, lambda n: uc.reg_read(self.reg(n)))
            mems = {m: list(b) for m, b in mems_before.items()}
        else:
            fields = self.spec["read"](get)
            mems = {m: list(uc.mem_read(base, n)) for m, (base, n) in mem_lists.items()}
        if ports:
            mems[ports] = io_cells
        halted = self.spec.get("halted")
        if halted and halted(fields, code_bytes, pc):
            return RefResult("halt")
        return RefResult("ok", fields=fields, memories=mems)
