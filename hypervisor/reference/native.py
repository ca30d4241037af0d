"""The native reference: this machine's own CPU, in ring 3 of a forked child process.

For the user-mode behaviour of instructions (POPF, PUSHF, LAR, LSL, VERR, VERW, reads of CS
and SS, the arithmetic core): one instruction runs in 32-bit compatibility mode, entered by
a far return to the host's 32-bit user code segment, with the model's 4 KiB memory mapped at
address 0 and its registers and EFLAGS loaded. Afterwards the registers, EFLAGS, the segment
selectors and the memory are stored into a block shared with the parent, and the child ends
with exit_group. A fault arrives as a signal whose handler (64-bit machine code, on an
alternate stack) records the kernel's trap number -- the exception vector -- and ends the
child: a fault never reaches the caller.

Only a Linux x86-64 host with 32-bit compatibility mode can do this; elsewhere the reference
is unavailable. The harness is machine code written here as bytes (no compiler, no committed
binary). The ISA's ``native`` spec says which of its states the host can realise (CPL 3, the
host's IOPL 0 and IF 1, the host's GDT), which instructions are not run (transfers of control
and software interrupts leave the harness; with UMIP on, the kernel emulates SGDT, SIDT,
SLDT, SMSW and STR with fixed values) and how the stored registers map back to fields.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

from virtcheck.hypervisor.reference.base import Example, Reference, RefResult, ReferenceUnavailable

PAGE = 0x1000
_PROT_RWX = 7
_MAP_SHARED, _MAP_PRIVATE, _MAP_FIXED, _MAP_ANON, _MAP_32BIT = 0x01, 0x02, 0x10, 0x20, 0x40
_SA_SIGINFO, _SA_ONSTACK = 0x4, 0x08000000
_SIGNALS = (4, 5, 7, 8, 11)  # SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV

# the shared block (below 2 GiB, so 32-bit code can address it absolutely)
IN, OUT, STATUS, MEMCOPY, SCRATCH, CODE64, CODE32, HANDLER, ALTSTACK, SIZE = (
    0x000, 0x040, 0x080, 0x1000, 0x2F00, 0x3000, 0x3400, 0x3800, 0x4000, 0x8000)
_GPR = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")  # ModRM register numbers 0-7
_SREG = ("es", "cs", "ss", "ds", "fs", "gs")
USER32_CS, USER_DS = 0x23, 0x2B  # Linux x86-64: __USER32_CS, __USER_DS


def _d(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def host_flags() -> set[str]:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


class Ref(Reference):
    name = "native"

    def __init__(self, isa):
        super().__init__(isa)
        if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
            raise ReferenceUnavailable(f"the native reference needs Linux on x86-64, not {platform.system()} "
                                       f"{platform.machine()}")
        self.libc = _libc()
        self.libc.mmap.restype = ctypes.c_void_p
        self.libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_long]
        addr = self.libc.mmap(None, SIZE, _PROT_RWX, _MAP_SHARED | _MAP_ANON | _MAP_32BIT, -1, 0)
        if addr in (None, ctypes.c_void_p(-1).value) or addr >= 1 << 31:
            raise ReferenceUnavailable("cannot map an executable block below 2 GiB (MAP_32BIT)")
        self.base = addr
        self.block = (ctypes.c_char * SIZE).from_address(addr)
        self.umip = "umip" in host_flags()
        self.cpu = min(os.sched_getaffinity(0))
        probe = self._probe()
        if probe is not None:
            raise ReferenceUnavailable(probe)
        self.gdt = self._host_gdt()

    def backing(self) -> str:
        umip = ("UMIP on: the kernel emulates SGDT, SIDT, SLDT, SMSW, STR for user processes with fixed values "
                "(not compared)" if self.umip else "UMIP off")
        return (f"the host CPU ({platform.processor() or platform.machine()}) in ring 3, 32-bit compatibility "
                f"mode through selector {USER32_CS:#x}, one forked child per example, pinned to CPU {self.cpu}; "
                + umip)

    # --- the harness --------------------------------------------------------------------
    def _write(self, off: int, data: bytes) -> None:
        ctypes.memmove(self.base + off, data, len(data))

    def _read32(self, off: int) -> int:
        return struct.unpack_from("<I", self.block, off)[0]

    def _code(self, ins_bytes: bytes) -> None:
        b = self.base
        c64 = (b"\x53\x55\x41\x54\x41\x55\x41\x56\x41\x57"          # save callee-saved registers
               + b"\xb8" + _d(USER_DS) + b"\x8e\xd8\x8e\xc0\x8e\xd0"  # ds, es, ss := user data (may be null)
               + b"\x6a" + bytes([USER32_CS]) + b"\x68" + _d(b + CODE32) + b"\x48\xcb")  # retfq to 32-bit code
        c32 = b"\xbc" + _d(b + SCRATCH) + b"\xff\x35" + _d(b + IN + 32) + b"\x9d"  # esp := scratch; popfd
        for k, _ in enumerate(_GPR):
            c32 += b"\x8b" + bytes([0x05 | (k << 3)]) + _d(b + IN + 4 * k)  # mov reg, [IN + 4k]
        self.ins_at = (b + CODE32 + len(c32), b + CODE32 + len(c32) + len(ins_bytes))
        c32 += ins_bytes
        # the stores go through SS (prefix 36H): the instruction may have left DS null or read-only
        for k, _ in enumerate(_GPR):
            c32 += b"\x36\x89" + bytes([0x05 | (k << 3)]) + _d(b + OUT + 4 * k)  # mov ss:[OUT + 4k], reg
        c32 += b"\xbc" + _d(b + SCRATCH) + b"\x9c\x36\x8f\x05" + _d(b + OUT + 32)  # pushfd; pop ss:[OUT + 32]
        for k, _ in enumerate(_SREG):
            c32 += b"\x36\x8c" + bytes([0x05 | (k << 3)]) + _d(b + OUT + 36 + 4 * k)  # mov ss:[..], sreg
        c32 += (b"\x6a" + bytes([USER_DS]) + b"\x1f\x6a" + bytes([USER_DS]) + b"\x07"  # ds, es := user data
                + b"\xfc\x31\xf6\xbf" + _d(b + MEMCOPY) + b"\xb9" + _d(PAGE // 4) + b"\xf3\xa5"  # copy page 0
                + b"\xc7\x05" + _d(b + STATUS) + _d(1)  # done
                + b"\xb8" + _d(252) + b"\x31\xdb\xcd\x80")  # exit_group(0) (ia32 system call)
        h = (b"\x89\x3c\x25" + _d(b + STATUS + 4)  # signo
             + b"\x8b\x46\x08\x89\x04\x25" + _d(b + STATUS + 8)  # si_code
             + b"\x48\x8b\x82" + _d(200) + b"\x89\x04\x25" + _d(b + STATUS + 12)  # uc_mcontext REG_TRAPNO
             + b"\x48\x8b\x82" + _d(192) + b"\x89\x04\x25" + _d(b + STATUS + 16)  # REG_ERR
             + b"\x48\x8b\x82" + _d(168) + b"\x89\x04\x25" + _d(b + STATUS + 20)  # REG_RIP
             + b"\xb8" + _d(231) + b"\x31\xff\x0f\x05")  # exit_group(0)
        self._write(CODE64, c64)
        self._write(CODE32, c32)
        self._write(HANDLER, h)

    def _child(self, memory: bytes) -> None:
        """In the forked child: page 0, signal handlers, then the harness. Never returns."""
        try:
            os.sched_setaffinity(0, {self.cpu})
            libc = self.libc
            if memory is not None:
                got = libc.mmap(0, PAGE, _PROT_RWX, _MAP_PRIVATE | _MAP_ANON | _MAP_FIXED, -1, 0)
                if got != 0 and got is not None:
                    os._exit(3)
                ctypes.memmove(0, memory, PAGE) if memory.strip(b"\0") else None
            stack = struct.pack("<QiiQ", self.base + ALTSTACK, 0, 0, SIZE - ALTSTACK)
            if libc.sigaltstack(ctypes.c_char_p(stack), None) != 0:
                os._exit(4)
            act = struct.pack("<Q", self.base + HANDLER) + bytes(128) + struct.pack("<iiQ", _SA_SIGINFO | _SA_ONSTACK,
                                                                                    0, 0)
            for sig in _SIGNALS:
                if libc.sigaction(sig, ctypes.c_char_p(act), None) != 0:
                    os._exit(5)
            ctypes.CFUNCTYPE(None)(self.base + CODE64)()
        finally:
            os._exit(6)

    def _execute(self, ins_bytes: bytes, regs: list[int], eflags: int, memory: bytes) -> tuple[str, dict]:
        self._write(0, bytes(MEMCOPY))
        self._write(IN, b"".join(_d(v) for v in regs) + _d(eflags))
        self._code(ins_bytes)
        pid = os.fork()
        if pid == 0:
            self._child(memory)
        _, status = os.waitpid(pid, 0)
        done, signo, code, trapno, err, rip = struct.unpack_from("<6I", self.block, STATUS)
        if done:
            return "ok", {}
        if signo:
            return "trap", {"signal": signo, "si_code": code, "vector": trapno, "error": err, "rip": rip,
                            "in_instruction": self.ins_at[0] <= rip < self.ins_at[1]}
        why = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return "failed", {"status": why}

    def _probe(self):
        """None when a NOP runs in compatibility mode with page 0 mapped; else why not."""
        kind, info = self._execute(b"\x90", [0] * 4 + [0x800] + [0] * 3, 0x202, bytes(PAGE))
        if kind == "ok":
            return None
        return f"the native harness could not run a NOP in 32-bit compatibility mode ({kind} {info})"

    def _host_gdt(self) -> dict[int, tuple[int, int]]:
        """Selector index -> (LAR access rights, LSL limit) for every GDT entry ring 3 can see
        (the rest are DPL 0: invisible to LAR/LSL/VERR/VERW at CPL 3 whatever they hold)."""
        out = {}
        for idx in range(1, 32):
            sel = (idx << 3) | 3
            # LAR eax, ecx; LSL edx, ecx (a failed probe leaves EAX at 0)
            code = b"\x0f\x02\xc1\x0f\x03\xd1"
            kind, _ = self._execute(code, [0, sel, 0, 0, 0x800, 0, 0, 0], 0x202, bytes(PAGE))
            if kind != "ok":
                continue
            ax, dx = self._read32(OUT), self._read32(OUT + 8)
            if ax:
                out[idx] = (ax, dx)
        return out

    # --- one run ------------------------------------------------------------------------
    def fit(self, state, ins, ops, rng):
        fn = self.spec["fit"]
        return fn(self.isa, state, ins, ops, rng, self.gdt)

    def run(self, ex: Example) -> RefResult:
        from virtcheck.isa.asm import encode_units

        reason = self.spec.get("not_run", {}).get(ex.ins.mnemonic)
        if reason is None and self.umip:
            reason = self.spec.get("umip_emulated", {}).get(ex.ins.mnemonic)
        if reason is not None:
            return RefResult.skipped(reason)
        code = bytes(encode_units(self.isa, ex.ins, [ex.ops[o.name] for o in ex.ins.operands]))
        st = self.spec["setup"](ex.state)
        kind, info = self._execute(code, st["registers"], st["eflags"], bytes(st["memory"]))
        if kind == "trap":
            if info["signal"] == 5 or info["vector"] == 1:
                return RefResult.skipped("a trace trap (TF set by the instruction) cut the harness short")
            if not info["in_instruction"]:
                return RefResult.skipped(f"the harness itself faulted after the instruction (vector {info['vector']})")
            return RefResult("trap", vector=info["vector"])
        if kind != "ok":
            return RefResult.skipped(f"the native child ended without a result ({info})")
        out = {"GPR": [self._read32(OUT + 4 * k) for k in range(8)], "EFLAGS": self._read32(OUT + 32),
               "SREG": {s: self._read32(OUT + 36 + 4 * k) & 0xFFFF for k, s in enumerate(_SREG)}}
        fields = self.spec["read"](out)
        mems = {st["memory_name"]: list(bytes(self.block[MEMCOPY:MEMCOPY + PAGE]))}
        return RefResult("ok", fields=fields, memories=mems)
