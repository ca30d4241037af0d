"""The KVM reference: ``/dev/kvm`` through its ioctl interface (ctypes + fcntl, no kernel build).

One VM with one vCPU, kept for every run. The ISA's ``kvm`` spec gives the guest physical
memory (the model's memory at its own addresses plus a harness area), the general and
segment registers -- KVM_SET_SREGS loads the hidden segment caches directly, so the CPL is
the CS/SS DPL and no boot code runs -- the MSRs, and where the fault handlers sit (one HLT
per vector, reached through the harness IDT). The vCPU single-steps (KVM_GUESTDBG_SINGLESTEP):
the first exit after the instruction tells completed, trapped (the vector from which handler
stopped) or halted.

What backs it is reported: with hardware virtualization (``vmx``/``svm`` in /proc/cpuinfo) the
guest runs on the CPU; without it, /dev/kvm is software-backed and a 32-bit guest with paging
off runs in KVM's own instruction emulator, which lacks some instructions (LAR, LSL, VERR,
VERW, INT n, ...). An emulation failure is a skipped example, never agreement.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import struct

from virtcheck.hypervisor.reference.base import Example, Reference, RefResult, ReferenceUnavailable

KVM_DEVICE = "/dev/kvm"
_U8, _U16, _U32, _U64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


class _Segment(ctypes.Structure):
    _fields_ = [("base", _U64), ("limit", _U32), ("selector", _U16), ("type", _U8), ("present", _U8),
                ("dpl", _U8), ("db", _U8), ("s", _U8), ("l", _U8), ("g", _U8), ("avl", _U8),
                ("unusable", _U8), ("padding", _U8)]


class _DTable(ctypes.Structure):
    _fields_ = [("base", _U64), ("limit", _U16), ("padding", _U16 * 3)]


_SEGS = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")


class _SRegs(ctypes.Structure):
    _fields_ = ([(n, _Segment) for n in _SEGS] + [("gdt", _DTable), ("idt", _DTable)]
                + [(n, _U64) for n in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")]
                + [("interrupt_bitmap", _U64 * 4)])


_GPRS = "rax rbx rcx rdx rsi rdi rsp rbp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags".split()


class _Regs(ctypes.Structure):
    _fields_ = [(n, _U64) for n in _GPRS]


class _MemRegion(ctypes.Structure):
    _fields_ = [("slot", _U32), ("flags", _U32), ("guest_phys_addr", _U64), ("memory_size", _U64),
                ("userspace_addr", _U64)]


class _GuestDebug(ctypes.Structure):
    _fields_ = [("control", _U32), ("pad", _U32), ("debugreg", _U64 * 8)]


class _MsrEntry(ctypes.Structure):
    _fields_ = [("index", _U32), ("reserved", _U32), ("data", _U64)]


def _iow(nr: int, size: int) -> int:
    return (1 << 30) | (size << 16) | (0xAE << 8) | nr


def _ior(nr: int, size: int) -> int:
    return (2 << 30) | (size << 16) | (0xAE << 8) | nr


KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_GET_VCPU_MMAP_SIZE = 0xAE00, 0xAE01, 0xAE04
KVM_CREATE_VCPU, KVM_SET_TSS_ADDR, KVM_RUN = 0xAE41, 0xAE47, 0xAE80
KVM_SET_USER_MEMORY_REGION = _iow(0x46, ctypes.sizeof(_MemRegion))
KVM_GET_REGS, KVM_SET_REGS = _ior(0x81, ctypes.sizeof(_Regs)), _iow(0x82, ctypes.sizeof(_Regs))
KVM_GET_SREGS, KVM_SET_SREGS = _ior(0x83, ctypes.sizeof(_SRegs)), _iow(0x84, ctypes.sizeof(_SRegs))
KVM_SET_MSRS = _iow(0x89, 8)
KVM_SET_GUEST_DEBUG = _iow(0x9B, ctypes.sizeof(_GuestDebug))
KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP = 0x1, 0x2
EXIT_IO, EXIT_DEBUG, EXIT_HLT, EXIT_MMIO, EXIT_SHUTDOWN, EXIT_FAIL_ENTRY, EXIT_INTERNAL_ERROR = 2, 4, 5, 6, 8, 9, 17
_EXIT_NAMES = {0: "unknown", 1: "exception", 3: "hypercall", 7: "irq window", 8: "shutdown (triple fault)",
               9: "entry failed (KVM refused the guest state)"}


def hardware_virtualization() -> str:
    """``vmx``, ``svm`` or '' from /proc/cpuinfo."""
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return ""
    return "vmx" if "vmx" in flags else "svm" if "svm" in flags else ""


def _page(n: int) -> int:
    return (n + 0xFFF) & ~0xFFF


class Ref(Reference):
    name = "kvm"

    def __init__(self, isa):
        super().__init__(isa)
        if not os.path.exists(KVM_DEVICE):
            raise ReferenceUnavailable(f"{KVM_DEVICE} does not exist (no KVM on this host)")
        try:
            self.kvm = os.open(KVM_DEVICE, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise ReferenceUnavailable(f"cannot open {KVM_DEVICE}: {exc.strerror}") from exc
        self.api = fcntl.ioctl(self.kvm, KVM_GET_API_VERSION)
        if self.api != 12:
            raise ReferenceUnavailable(f"KVM API version {self.api}, expected 12")
        self.hw = hardware_virtualization()
        self.vm = self.vcpu = -1
        self.run_area = None
        self.slots: dict[int, tuple[int, mmap.mmap]] = {}  # guest base -> (size, host buffer)

    def backing(self) -> str:
        if self.hw:
            return f"KVM (API {self.api}) on hardware virtualization ({self.hw}): the guest runs on the CPU"
        return (f"KVM (API {self.api}) without hardware virtualization (no vmx/svm in /proc/cpuinfo): a "
                "software-backed /dev/kvm; a 32-bit guest with paging off runs in KVM's instruction emulator")

    # --- the VM ------------------------------------------------------------------------
    def _setup_vm(self, regions: list[tuple[int, int]]) -> None:
        self.vm = fcntl.ioctl(self.kvm, KVM_CREATE_VM, 0)
        fcntl.ioctl(self.vm, KVM_SET_TSS_ADDR, 0x7FFBD000)  # VMX needs three pages for real mode; unused
        for slot, (base, size) in enumerate(regions):
            buf = mmap.mmap(-1, size)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            fcntl.ioctl(self.vm, KVM_SET_USER_MEMORY_REGION, _MemRegion(slot, 0, base, size, addr))
            self.slots[base] = (size, buf)
        self.vcpu = fcntl.ioctl(self.vm, KVM_CREATE_VCPU, 0)
        size = fcntl.ioctl(self.kvm, KVM_GET_VCPU_MMAP_SIZE)
        self.run_area = mmap.mmap(self.vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        dbg = _GuestDebug()
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP
        fcntl.ioctl(self.vcpu, KVM_SET_GUEST_DEBUG, dbg)

    def _close_vm(self) -> None:
        if getattr(self, "run_area", None) is not None:
            self.run_area.close()
            self.run_area = None
        for fd in ("vcpu", "vm"):
            v = getattr(self, fd, -1)
            if isinstance(v, int) and v >= 0:
                os.close(v)
                setattr(self, fd, -1)
        for _, buf in self.slots.values():
            buf.close()
        self.slots = {}

    def close(self) -> None:
        self._close_vm()
        if getattr(self, "kvm", -1) >= 0:
            os.close(self.kvm)
            self.kvm = -1

    def _slot_of(self, addr: int, n: int):
        for base, (size, buf) in self.slots.items():
            if base <= addr and addr + n <= base + size:
                return buf, addr - base
        raise ReferenceUnavailable(f"guest address {addr:#x} is in no memory slot")

    def _write(self, addr: int, data: bytes) -> None:
        buf, off = self._slot_of(addr, len(data))
        buf[off:off + len(data)] = data

    # --- one run ------------------------------------------------------------------------
    def run(self, ex: Example) -> RefResult:
        from virtcheck.isa.asm import encode_units

        isa = self.isa
        code = encode_units(isa, ex.ins, [ex.ops[o.name] for o in ex.ins.operands])
        st = self.spec["setup"](ex.state, code)
        mem_lists = {m: (base, isa.memories[m].size) for m, base in st["memory"].items()}
        # A fresh VM every run: a reused vCPU carries state from one run into the next (seen on
        # a software-backed /dev/kvm: CLI at CPL 3 completing after some earlier runs).
        self._close_vm()
        regions = [(base, _page(n)) for base, n in mem_lists.values()]
        regions += [(addr, _page(size)) for addr, size in st["regions"] if isinstance(size, int)]
        try:
            self._setup_vm(regions)
        except OSError as exc:
            raise ReferenceUnavailable(f"KVM could not create a VM: {exc.strerror}") from exc
        for m, (base, n) in mem_lists.items():
            self._write(base, bytes(ex.state.memories[m].to_list(n)))
        for addr, data in st["regions"]:
            if not isinstance(data, int):
                self._write(addr, bytes(data))
        pc, code_bytes = st["code"]
        self._write(pc, bytes(code_bytes))
        ports = st.get("ports")
        io_cells = list(ex.state.memories[ports].to_list(isa.memories[ports].size)) if ports else None

        sregs = _SRegs()
        fcntl.ioctl(self.vcpu, KVM_GET_SREGS, sregs)
        for name, value in st["sregs"].items():
            if name in _SEGS:
                seg = getattr(sregs, name)
                for k, v in value.items():
                    setattr(seg, k, v)
            elif name in ("gdt", "idt"):
                t = getattr(sregs, name)
                t.base, t.limit = value
            else:
                setattr(sregs, name, value)
        regs = _Regs()
        for name, value in st["regs"].items():
            setattr(regs, name, value)
        try:
            fcntl.ioctl(self.vcpu, KVM_SET_SREGS, sregs)
            fcntl.ioctl(self.vcpu, KVM_SET_REGS, regs)
            msrs = st.get("msrs", [])
            if msrs:
                buf = struct.pack("<II", len(msrs), 0) + b"".join(struct.pack("<IIQ", i, 0, v) for i, v in msrs)
                arr = ctypes.create_string_buffer(buf)
                fcntl.ioctl(self.vcpu, KVM_SET_MSRS, arr)
        except OSError as exc:
            return RefResult.skipped(f"KVM refused the state: {exc.strerror}")

        hbase, stride, count = st["handlers"]
        for _ in range(64):
            try:
                fcntl.ioctl(self.vcpu, KVM_RUN, 0)
            except OSError as exc:
                return RefResult.skipped(f"KVM_RUN failed: {exc.strerror}")
            reason = struct.unpack_from("<I", self.run_area, 8)[0]
            if reason == EXIT_IO:
                direction, size, port, n, off = struct.unpack_from("<BBHIQ", self.run_area, 32)
                if io_cells is None:
                    return RefResult.skipped("port I/O with no port memory declared")
                for k in range(n):
                    at = off + k * size
                    if direction == 0:  # in
                        self.run_area[at:at + size] = bytes([io_cells[port % len(io_cells)]] + [0] * (size - 1))
                    else:
                        io_cells[port % len(io_cells)] = self.run_area[at]
                # complete the port access and stop at once (kvm_run.immediate_exit): a plain
                # KVM_RUN would go on to the next instruction before the single-step exit
                self.run_area[1] = 1
                try:
                    fcntl.ioctl(self.vcpu, KVM_RUN, 0)
                except OSError:
                    pass  # EINTR: the expected answer to immediate_exit
                self.run_area[1] = 0
                break
            if reason == EXIT_MMIO:
                return RefResult.skipped("accesses memory outside the model's (the model wraps addresses)")
            if reason == EXIT_INTERNAL_ERROR:
                sub = struct.unpack_from("<I", self.run_area, 32)[0]
                what = "emulation failure: KVM's instruction emulator cannot run it" if sub == 1 else f"suberror {sub}"
                return RefResult.skipped(f"KVM internal error ({what})")
            if reason not in (EXIT_DEBUG, EXIT_HLT):
                return RefResult.skipped(f"KVM exit {_EXIT_NAMES.get(reason, reason)}")
            break
        else:
            return RefResult.skipped("KVM kept exiting for port I/O")
        fcntl.ioctl(self.vcpu, KVM_GET_REGS, regs)
        fcntl.ioctl(self.vcpu, KVM_GET_SREGS, sregs)
        rip = regs.rip & 0xFFFFFFFF
        at = rip - 1 - hbase
        if 0 <= at < stride * count and at % stride == 0:
            vector = at // stride
            missing = self.spec.get("emulator_missing", {})
            if vector == missing.get("vector") and ex.ins.mnemonic in missing.get("mnemonics", ()):
                return RefResult.skipped(f"KVM's instruction emulator lacks {ex.ins.mnemonic} here (it injects "
                                         f"vector {vector})")
            return RefResult("trap", vector=vector)
        halted = self.spec.get("halted")
        if halted and halted(None, code_bytes, pc):
            return RefResult("halt")
        rd = {n: getattr(regs, n) for n in _GPRS}
        sd = {n: {"selector": getattr(sregs, n).selector} for n in _SEGS}
        fields = self.spec["read"](rd, sd)
        mems = {}
        for m, (base, n) in mem_lists.items():
            buf, off = self._slot_of(base, n)
            mems[m] = list(buf[off:off + n])
        if ports:
            mems[ports] = io_cells
        return RefResult("ok", fields=fields, memories=mems)
