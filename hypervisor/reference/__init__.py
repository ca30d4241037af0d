"""Reference machines: run one ISA instruction on a real executor and compare with the model.

A reference realises a model state through the ISA's own declaration
(``isa.reference(name, spec)``, see ``isa/machines/x86.py``): how fields map to registers,
where the memory goes, how a mode is entered, and what the reference is known to do
differently. Nothing here names an ISA.

* :mod:`.unicorn` -- the Unicorn CPU emulator (QEMU's TCG), any ISA with a ``unicorn`` spec;
* :mod:`.kvm` -- ``/dev/kvm`` through its ioctl interface (x86 guests with a ``kvm`` spec);
* :mod:`.native` -- the host CPU itself, in ring 3 of a forked child (``native`` spec).

Every run ends in a :class:`RefResult`: completed, trapped with a vector, halted -- or
``skipped`` with the reason (the reference cannot run that instruction in that state, or an
emulator gave up). A skipped run is never counted as agreement.
"""

from __future__ import annotations

from virtcheck.hypervisor.reference.base import (  # noqa: F401
    Example, Reference, RefResult, ReferenceUnavailable, available_references, get_reference,
)
from virtcheck.hypervisor.reference.compare import Comparison, compare, explain, model_result  # noqa: F401
