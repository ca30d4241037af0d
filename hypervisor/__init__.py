"""virtcheck.hypervisor: the real machine, monitors of any policy that stack, snapshots.

* `Machine` -- an ISA's concrete backend with physical memory: run a program bare.
* `Monitor` / `VirtualMachine` -- a monitor over any `Host` (a machine or a VM), doing what
  its policy says (`policies`: trap-emulate, hybrid, emulate; registered once).
* `monitor_stack` -- monitors on monitors on a machine (PG Theorem 2); `monitor_tree` --
  the same with several VMs at every level, `top_monitors` the guests' monitors.
* `snapshot` -- a VM's state as a versioned JSON file (encapsulation, migration).
"""

from virtcheck.hypervisor import policies
from virtcheck.hypervisor.driver import Clock, Host, RunResult, TrapLog
from virtcheck.hypervisor.machine import Machine
from virtcheck.hypervisor.monitor import Monitor, MonitorError, VirtualMachine
from virtcheck.hypervisor.stack import monitor_stack, monitor_tree, top_monitors
from virtcheck.hypervisor.stop import Stop

__all__ = ["Clock", "Host", "Machine", "Monitor", "MonitorError", "RunResult", "Stop", "TrapLog", "VirtualMachine",
           "monitor_stack", "monitor_tree", "policies", "top_monitors"]
