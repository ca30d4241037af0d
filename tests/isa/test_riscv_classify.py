"""What Z3 derives for the RISC-V configurations, against what the manual says.

Each expectation is written from the RISC-V Privileged Architecture (Vol. II, v1.12) or the
Sail model, with its citation; the classification itself is derived (checks.classify), never
restated in isa/ or checks/. Full-configuration runs are slow (docs/riscv.md has the times).
"""

from __future__ import annotations

import functools

import pytest

from virtcheck.checks.classify import FieldClasses, classify_instruction, classify_isa
from virtcheck.checks.verdict import Budget
from virtcheck.isa.machines import bundled

CSR_OPS = ["CSRRW", "CSRRS", "CSRRC", "CSRRWI", "CSRRSI", "CSRRCI"]


@functools.lru_cache(maxsize=None)
def derived(config: str, mnemonic: str):
    isa = bundled()[config]
    return classify_instruction(isa, isa.by_mnemonic(mnemonic), Budget(), FieldClasses.of(isa))


# (configuration, instruction, privileged, sensitive, citation)
EXPECTED = [
    # Vol. II §3.3.2: "An xRET instruction can be executed in privilege mode x or higher";
    # both change the privilege level (control-sensitive).
    ("riscv32", "MRET", True, True, "Vol. II §3.3.2"),
    ("riscv32", "SRET", True, True, "Vol. II §3.3.2"),
    # Sail (riscv_insts_base.sail, WFI): illegal in U-mode; the model's WFI changes nothing.
    ("riscv32", "WFI", True, False, "Vol. II §3.3.3; Sail WFI"),
    # Vol. II §4.2.1: SFENCE.VMA is illegal in U-mode; no TLB state changes in the model.
    ("riscv32", "SFENCE_VMA", True, False, "Vol. II §4.2.1"),
    # Vol. I §2.8: ECALL and EBREAK trap in every mode: neither privileged nor sensitive.
    ("riscv32", "ECALL", False, False, "Vol. I §2.8"),
    ("riscv32", "EBREAK", False, False, "Vol. I §2.8"),
    # Vol. II §3.1.6.5: "When TSR=0, this operation is permitted in S-mode" -- SRET completes in
    # S-mode and changes the privilege level: sensitive and not privileged.
    ("riscv32-s", "SRET", False, True, "Vol. II §3.1.6.5 (TSR)"),
    # TW = 0: WFI completes in S-mode (not privileged); it changes no state either way.
    ("riscv32-s", "WFI", False, False, "Vol. II §3.1.6.5 (TW)"),
    ("riscv32-s", "SFENCE_VMA", False, False, "Vol. II §3.1.6.5 (TVM)"),
    ("riscv32-s", "MRET", True, True, "Vol. II §3.3.2"),
    # TSR/TW/TVM = 1: "attempts to execute SRET while executing in S-mode will raise an
    # illegal-instruction exception"; likewise WFI (TW) and SFENCE.VMA (TVM).
    ("riscv32-s-trap", "SRET", True, True, "Vol. II §3.1.6.5 (TSR)"),
    ("riscv32-s-trap", "WFI", True, False, "Vol. II §3.1.6.5 (TW)"),
    ("riscv32-s-trap", "SFENCE_VMA", True, False, "Vol. II §3.1.6.5 (TVM)"),
]


@pytest.mark.parametrize("config,mnemonic,privileged,sensitive,citation", EXPECTED,
                         ids=[f"{c}-{m}" for c, m, *_ in EXPECTED])
def test_derived_classification_matches_the_manual(config, mnemonic, privileged, sensitive, citation):
    r = derived(config, mnemonic)
    assert (r.value("privileged"), r.value("sensitive")) == (privileged, sensitive), citation


@pytest.mark.slow
@pytest.mark.parametrize("config", ["riscv32", "riscv32-s", "riscv32-s-trap"])
@pytest.mark.parametrize("mnemonic", ["LW", "SW", "LB", "SB"])
def test_loads_and_stores_are_innocuous(config, mnemonic):
    """Vol. II §4.3: address translation (and PMP, §3.7) is invisible to the program it
    translates: what a load returns and what a store leaves is memory as the guest sees it."""
    r = derived(config, mnemonic)
    assert (r.value("privileged"), r.value("sensitive")) == (False, False)


@pytest.mark.slow
@pytest.mark.parametrize("config,privileged,user_sensitive,citation", [
    # Vol. II §2.1: every CSR of RV32I + Zicsr (no F) needs S or M, except the counters,
    # which mcounteren = 0 denies (§3.1.11): all traps from U-mode.
    ("riscv32", True, False, "Vol. II §2.1, §3.1.11"),
    # TVM = 0: satp is writable from S-mode (§3.1.6.5) -- the guest changes the monitor's
    # translation without trapping.
    ("riscv32-s", False, True, "Vol. II §3.1.6.5"),
    # TVM = 1: what an S-mode guest reaches without trapping is its own S-level state
    # ("obviates the need to trap accesses to most S-mode CSRs", §3.1.6.5).
    ("riscv32-s-trap", False, False, "Vol. II §3.1.6.5"),
])
def test_csr_instructions(config, privileged, user_sensitive, citation):
    for op in CSR_OPS:
        r = derived(config, op)
        assert (r.value("privileged"), r.value("user_sensitive")) == (privileged, user_sensitive), (op, citation)


@pytest.mark.slow
@pytest.mark.parametrize("config,theorem1,theorem3", [
    ("riscv32", set(), set()),
    ("riscv32-s", set(CSR_OPS) | {"SRET"}, set(CSR_OPS) | {"SRET"}),
    ("riscv32-s-trap", set(CSR_OPS), set()),
])
def test_theorems(config, theorem1, theorem3):
    """The violation lists docs/riscv.md explains; nothing is left undecided."""
    res = classify_isa(bundled()[config], Budget())
    t1, t3 = res.theorems["1"], res.theorems["3"]
    assert set(t1.violations) == theorem1
    assert set(t3.violations) == theorem3
    assert t1.undecided == [] and t3.undecided == []
