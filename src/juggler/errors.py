"""One error tree for juggler.

Every error a user can cause or a backend can meet is a :class:`JugglerError`,
so the CLI can print it as one clear line and exit non-zero, never a traceback.
Foreign exceptions (``OSError``, ``libvirt.libvirtError``, QMP errors) are
converted at the edge of the backend that met them, keeping the cause
(``raise ... from err``)::

    JugglerError
     ├── ScenarioError          a scenario file is unreadable or invalid
     │    └── AdmissionError    reservations (plus overheads) do not fit the host
     ├── BackendError           a backend could not observe or apply
     │    ├── ConnectError      could not reach a VM (socket, libvirt URI)
     │    ├── CommandError      a command was sent and failed
     │    ├── StateError        a call made in the wrong connection state
 │    └── HostError         the host's description or memory accounting cannot be read
     ├── PolicyError            a policy name or parameter is wrong
     ├── SimulationError        the simulated host met an impossible state
     ├── StoreError             a metrics file is unreadable or not juggler's
     │    └── RunFileBusyError  its writer held the lock longer than a follower waits
     ├── MetricsAddressError    --metrics-addr is malformed, or its port cannot be bound
     ├── ReportError            a report cannot be written where asked
     ├── FidelityError          run files cannot be compared (mixed scenarios, scales)
     └── LabError               the lab could not build its guest image or boot a VM
          ├── MissingToolError  a program the lab needs is not installed (names the package)
          └── BootError         QEMU exited or the guest did not come up in time
"""

from __future__ import annotations


class JugglerError(Exception):
    """Base of every error juggler raises on purpose."""


class ScenarioError(JugglerError):
    """A scenario file cannot be read or does not validate.

    :param source: the file (or ``<built-in seed>``) the problem is in.
    :param problems: one line per problem, each naming the field.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: invalid scenario:\n{lines}")


class AdmissionError(ScenarioError):
    """The VMs' reservations plus overheads do not fit in host memory."""


class BackendError(JugglerError):
    """A backend could not observe or control a VM.

    :param message: what was being done.
    :param vm: the VM concerned, when there is one.
    """

    def __init__(self, message: str, vm: str | None = None) -> None:
        self.vm = vm
        super().__init__(f"{vm}: {message}" if vm else message)


class ConnectError(BackendError):
    """Could not connect to a VM's control channel."""


class CommandError(BackendError):
    """A command reached the VM's control channel and failed."""


class StateError(BackendError):
    """A backend call was made in a state that does not allow it."""


class HostError(BackendError):
    """What plays the host cannot be read: a host description file, a memory cgroup."""


class PolicyError(JugglerError):
    """An unknown policy, or a policy parameter that is not valid."""


class SimulationError(JugglerError):
    """The simulated host reached a state its invariants forbid."""


class StoreError(JugglerError):
    """A metrics file cannot be opened or is not a juggler run."""


class RunFileBusyError(StoreError):
    """The writer of a run file held its lock longer than a reader following it waits
    (``juggler top`` then keeps showing what it read last)."""


class MetricsAddressError(JugglerError):
    """The Prometheus endpoint cannot be served at the ``--metrics-addr`` given.

    :param addr: the address as the user wrote it.
    :param problem: what is wrong and the way out.
    """

    def __init__(self, addr: str, problem: str) -> None:
        self.addr = addr
        self.problem = problem
        super().__init__(f"--metrics-addr {addr!r}: {problem}")


class ReportError(JugglerError):
    """A report (HTML) cannot be written to the path given."""


class FidelityError(JugglerError):
    """Run files cannot be compared: of different scenarios or scales, two of one
    policy in one world, or none."""


class LabError(JugglerError):
    """The lab could not build its guest image or run a VM."""


class MissingToolError(LabError):
    """A program or file the lab needs is not installed.

    :param tool: what is missing (``qemu-system-x86_64``, ``/bin/busybox``).
    :param package: the Debian package that provides it.
    :param why: what it is needed for.
    """

    def __init__(self, tool: str, package: str, why: str) -> None:
        self.tool = tool
        self.package = package
        super().__init__(
            f"{tool} is needed {why} but is not installed: run "
            f"`apt-get install {package}` (or scripts/setup-lab.sh)"
        )


class BootError(LabError):
    """QEMU exited, or the guest did not report ready within the time-out.

    :param message: what happened.
    :param vm: the VM concerned.
    :param log_tail: the last lines of its QEMU output and serial console.
    """

    def __init__(self, message: str, vm: str, log_tail: str = "") -> None:
        self.vm = vm
        self.log_tail = log_tail
        tail = f"\n{log_tail}" if log_tail else ""
        super().__init__(f"{vm}: {message}{tail}")
