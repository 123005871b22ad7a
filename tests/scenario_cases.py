"""Bad scenario files, and the line each must produce, shared by the scenario and CLI tests.

Each case is a small edit of ``GOOD``; ``expected`` is a regular expression for the
problem line (field path, problem and way out), which follows ``<file>: invalid
scenario:`` in the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from juggler.policy import POLICIES

GOOD = """\
name = "t"

[host]
memory = "4GiB"

[run]
duration = "10m"

[[vm]]
name = "A"
memory = "1GiB"
  [[vm.workload]]
  working_set = "256MiB"

[[vm]]
name = "B"
memory = "1GiB"
reservation = "512MiB"
  [[vm.workload]]
  duration = "2m"
  working_set = "256MiB"
  [[vm.workload]]
  working_set = "512MiB"
"""

#: the policies an unknown name is told to choose from, as a regular expression
KNOWN_POLICIES = re.escape(", ".join(sorted(POLICIES)))

_B = 'name = "B"\nmemory = "1GiB"\n'
_B_RESERVATION = 'reservation = "512MiB"\n'
_B_PHASE0 = '  duration = "2m"\n  working_set = "256MiB"\n'


def edit(old: str, new: str, text: str = GOOD) -> str:
    """``text`` with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


@dataclass(frozen=True)
class Bad:
    id: str
    text: str
    expected: str
    admission: bool = False


BAD: list[Bad] = [
    Bad("unknown-top-level-key", 'colour = "red"\n' + GOOD, r"colour: unknown key"),
    Bad(
        "unknown-host-key",
        edit('memory = "4GiB"\n', 'memory = "4GiB"\nswapp = "1GiB"\n'),
        r"host\.swapp: unknown key",
    ),
    Bad(
        "unknown-vm-key",
        edit(_B_RESERVATION, _B_RESERVATION + 'memroy = "1GiB"\n'),
        r"vm\[1\] 'B'\.memroy: unknown key",
    ),
    Bad(
        "unknown-workload-key",
        edit(_B_PHASE0, _B_PHASE0 + '  patern = "zipf"\n'),
        r"vm\[1\] 'B'\.workload\[0\]\.patern: unknown key",
    ),
    Bad(
        "key-that-looks-like-markup",
        '"[/x]" = 1\n' + GOOD,
        r"\[/x\]: unknown key",
    ),
    Bad(
        "malformed-size",
        edit(_B, 'name = "B"\nmemory = "12 parsecs"\n'),
        r"vm\[1\] 'B'\.memory: '12 parsecs' is not a size \(write a number with a unit, "
        r"such as 512MiB, 2GiB or 4096\)",
    ),
    Bad(
        "negative-size",
        edit(_B, 'name = "B"\nmemory = "-1GiB"\n'),
        r"vm\[1\] 'B'\.memory: size '-1GiB' must not be negative",
    ),
    Bad(
        "zero-vm-memory",
        edit(_B, 'name = "B"\nmemory = 0\n'),
        r"vm\[1\] 'B'\.memory: 0: Input should be greater than 0",
    ),
    Bad(
        "zero-host-memory",
        edit('memory = "4GiB"\n', 'memory = "0GiB"\n'),
        r"host\.memory: 0: Input should be greater than 0",
    ),
    Bad(
        "zero-working-set",
        edit(_B_PHASE0, '  duration = "2m"\n  working_set = "0MiB"\n'),
        r"vm\[1\] 'B'\.workload\[0\]\.working_set: .*Input should be greater than 0",
    ),
    Bad(
        "infinite-size",
        edit('memory = "4GiB"\n', "memory = inf\n"),
        r"host\.memory: size inf must be a finite number of bytes",
    ),
    Bad(
        "reservation-above-memory",
        edit(_B_RESERVATION, 'reservation = "2GiB"\n'),
        r"vm\[1\] 'B'\.reservation: reservation \(2 GiB\) is larger than memory \(1 GiB\); "
        r"lower reservation or raise memory",
    ),
    Bad(
        "limit-below-reservation",
        edit(_B_RESERVATION, _B_RESERVATION + 'limit = "256MiB"\n'),
        r"vm\[1\] 'B'\.limit: limit \(256 MiB\) is below reservation \(512 MiB\); "
        r"raise limit or lower reservation",
    ),
    Bad(
        "limit-above-memory",
        edit(_B_RESERVATION, _B_RESERVATION + 'limit = "2GiB"\n'),
        r"vm\[1\] 'B'\.limit: limit \(2 GiB\) is above memory \(1 GiB\); lower limit",
    ),
    Bad(
        "guest-kernel-fills-memory",
        edit(_B_RESERVATION, _B_RESERVATION + 'guest_kernel = "1GiB"\n'),
        r"vm\[1\] 'B'\.guest_kernel: guest_kernel \(1 GiB\) leaves no memory for the workload",
    ),
    Bad(
        "duplicate-vm-name",
        edit(_B, 'name = "A"\nmemory = "1GiB"\n'),
        r"vm\[1\] 'A'\.name: duplicate VM name 'A' \(vm\[0\] has it too\); "
        r"give each VM its own name",
    ),
    Bad(
        "phase-times-go-backwards",
        edit(
            '  working_set = "512MiB"\n',
            '  until = "1m"\n  working_set = "512MiB"\n  [[vm.workload]]\n  pattern = "idle"\n',
        ),
        r"vm\[1\] 'B'\.workload\[1\]\.until: until=1m is not after the phase's start at 2m "
        r"\(phase times go backwards\); make until later than 2m or use duration",
    ),
    Bad(
        "phase-until-equals-start",
        edit(
            '  working_set = "512MiB"\n',
            '  until = "2m"\n  working_set = "512MiB"\n  [[vm.workload]]\n  pattern = "idle"\n',
        ),
        r"vm\[1\] 'B'\.workload\[1\]\.until: until=2m is not after the phase's start at 2m",
    ),
    Bad(
        "non-last-phase-without-end",
        edit(_B_PHASE0, '  working_set = "256MiB"\n'),
        r"vm\[1\] 'B'\.workload\[0\]: needs a duration or an until "
        r"\(only the last phase may have neither\)",
    ),
    Bad(
        "duration-and-until",
        edit(_B_PHASE0, _B_PHASE0 + '  until = "3m"\n'),
        r"vm\[1\] 'B'\.workload\[0\]: give either duration or until, not both",
    ),
    Bad(
        "phase-without-working-set",
        edit(_B_PHASE0, '  duration = "2m"\n  pattern = "zipf"\n'),
        r"vm\[1\] 'B'\.workload\[0\]: working_set is required for a 'zipf' phase",
    ),
    Bad(
        "unknown-pattern",
        edit(_B_PHASE0, _B_PHASE0 + '  pattern = "zigzag"\n'),
        r"vm\[1\] 'B'\.workload\[0\]\.pattern: 'zigzag': "
        r"Input should be 'uniform', 'zipf', 'scan' or 'idle'",
    ),
    Bad(
        "unknown-host-device",
        edit('memory = "4GiB"\n', 'memory = "4GiB"\nswap_device = "floppy"\n'),
        r"host\.swap_device: 'floppy': Input should be 'nvme', 'ssd' or 'hdd'",
    ),
    Bad(
        "unknown-host-reclaim",
        edit('memory = "4GiB"\n', 'memory = "4GiB"\nreclaim = "fifo"\n'),
        r"host\.reclaim: 'fifo': Input should be 'random' or 'lru'",
    ),
    Bad(
        "unknown-host-profile",
        edit('memory = "4GiB"\n', 'memory = "4GiB"\nprofile = "xen"\n'),
        r"host\.profile: no profile 'xen': name a shipped one \(kvm, tcg, free\) "
        r"or the path of a profile TOML file",
    ),
    Bad(
        "unknown-guest-device",
        edit(_B_RESERVATION, _B_RESERVATION + 'guest_swap_device = "tape"\n'),
        r"vm\[1\] 'B'\.guest_swap_device: 'tape': Input should be 'nvme', 'ssd' or 'hdd'",
    ),
    Bad(
        "unknown-policy",
        edit("[run]\n", '[manager]\npolicy = "nosuch"\n\n[run]\n'),
        rf"manager\.policy: unknown policy 'nosuch' \(choose one of: {KNOWN_POLICIES}\)",
    ),
    Bad(
        "unknown-policy-parameter",
        edit("[run]\n", "[manager.params]\nnosuch = 1\n\n[run]\n"),
        r"manager: params: policy 'juggler' has no parameter 'nosuch' \(its parameters: ",
    ),
    Bad(
        "negative-seed",
        edit('duration = "10m"\n', 'duration = "10m"\nseed = -1\n'),
        r"run\.seed: -1: Input should be greater than or equal to 0",
    ),
    Bad(
        "infinite-duration",
        edit('duration = "10m"\n', 'duration = "inf"\n'),
        r"run\.duration: 'inf' is not a duration \(write a number with a unit",
    ),
    Bad(
        "empty-workload",
        edit(
            'name = "A"\nmemory = "1GiB"\n', 'name = "A"\nmemory = "1GiB"\nworkload = []\n'
        ).replace('  [[vm.workload]]\n  working_set = "256MiB"\n\n', "\n", 1),
        r"vm\[0\] 'A'\.workload: needs at least one phase \(or leave workload out",
    ),
    Bad("no-vms", 'name = "t"\n[host]\nmemory = "4GiB"\n', r"vm: missing \(required\)"),
    Bad(
        "invalid-toml",
        edit('memory = "4GiB"\n', 'memory = "4GiB\n'),
        r"not valid TOML: .*\(at line 4, column \d+\)",
    ),
    Bad(
        "admission",
        edit('memory = "4GiB"\n', 'memory = "540MiB"\n'),
        r"admission control: reservations plus overheads need 576 MiB but host\.memory is "
        r"540 MiB; reserved VMs: B \(512 MiB\); lower a reservation or raise host\.memory",
        admission=True,
    ),
]

BAD_PARAMS = [pytest.param(case, id=case.id) for case in BAD]
