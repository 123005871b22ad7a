"""Engine benchmark: simulated page accesses per second, and the seed run's wall time.

Run by hand (``python benchmarks/engine.py``) or as a CI smoke run
(``--smoke``: smaller and shorter, checks that it runs, not how fast). Prints
the machine it ran on with the figures; nothing here asserts a time.

1. A 64-VM host, 2x over-committed (64 x 512 MiB on 16 GiB) whose VMs use about
   half their memory (working sets of 100-250 MiB, a kernel, page cache), mixed
   uniform and zipf: sampled page accesses simulated per second of wall time on
   one core (the kernels are single-threaded), in three stages: cold start
   (working sets faulting in), steady state, and under pressure (half the VMs
   grow by 30% and the host swaps). Compilation is not counted.
2. The default seed run (``juggler simulate``, 10 simulated minutes) in a fresh
   process, as a user runs it: start-up, numba cache load and the run itself.

``--reclaim lru`` runs the 64-VM host with the LRU host reclaim order instead of
the default random one (the seed run keeps its own scenario's). ``--profile``
picks the host profile (default ``kvm``); ``--profile free`` is the host of the
engine before profiles (nothing reserved or touched at boot, free balloons), the
one to compare with an older engine on the same work.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

from juggler.scenario import validate_scenario
from juggler.sim import layout as L
from juggler.sim.host import SimulatedHost


def machine() -> str:
    cpu = platform.processor() or "unknown cpu"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def big_scenario(
    n_vms: int, memory_mib: int, accesses: int, reclaim: str = "random", profile: str = "kvm"
) -> dict:
    vms = []
    for i in range(n_vms):
        ws = 100 + (i * 37) % 150
        grown = ws * 13 // 10 if i % 2 == 0 else ws
        vms.append(
            {
                "name": f"vm{i:02d}",
                "memory": f"{memory_mib}MiB",
                "guest_kernel": "40MiB",
                "guest_swap": "256MiB",
                "file_size": "64MiB",
                "shares": [500, 1000, 2000][i % 3],
                "workload": [
                    {
                        "duration": 60,
                        "working_set": f"{ws * memory_mib // 512}MiB",
                        "pattern": "zipf" if i % 2 else "uniform",
                        "zipf_exponent": 0.8,
                        "rate": 400_000,
                        "cache_rate": "256KiB/s",
                    },
                    {
                        # half the VMs grow by 30%: the host runs short and swaps
                        "working_set": f"{grown * memory_mib // 512}MiB",
                        "pattern": "zipf" if i % 2 else "uniform",
                        "zipf_exponent": 0.8,
                        "rate": 400_000,
                        "cache_rate": "256KiB/s",
                    },
                ],
            }
        )
    host_mib = n_vms * memory_mib // 2
    return {
        "name": "bench-64",
        "host": {
            "memory": f"{host_mib}MiB",
            "swap": f"{host_mib}MiB",
            "vm_overhead": "8MiB",
            "reclaim": reclaim,
            "profile": profile,
        },
        "manager": {"policy": "static"},
        "run": {"duration": 3600, "accesses_per_tick": accesses},
        "vm": vms,
    }


def engine_rate(
    n_vms: int,
    memory_mib: int,
    accesses: int,
    stages: list[tuple[str, int]],
    reclaim: str,
    profile: str = "kvm",
):
    """Sampled accesses per wall second in each stage of the run (name, ticks)."""
    scenario = validate_scenario(
        big_scenario(n_vms, memory_mib, accesses, reclaim, profile), "<benchmark>"
    )
    sim = SimulatedHost(scenario)
    sim.advance(1)  # compile, or load the numba cache
    results = []
    for name, ticks in stages:
        before = dict(sim.seconds_in_state)
        swapped = int(sim.host_i[L.HOST_SWAP_OUT])
        start = time.perf_counter()
        sim.advance(ticks)
        wall = time.perf_counter() - start
        states = {k: v - before[k] for k, v in sim.seconds_in_state.items() if v - before[k]}
        results.append(
            {
                "stage": name,
                "ticks": ticks,
                "wall_s": wall,
                "sampled_accesses_per_s": n_vms * accesses * ticks / wall,
                "represented_accesses_per_s": float(sim.vm_f[:, L.RATE].sum()) * ticks / wall,
                "host_states": states,
                "host_swap_out_mib": (int(sim.host_i[L.HOST_SWAP_OUT]) - swapped)
                * scenario.run.page_size
                / 2**20,
            }
        )
    return scenario, results


def seed_wall(duration: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "juggler.cli",
            "simulate",
            "-q",
            "--out",
            f"{tmp}/seed.sqlite",
        ]
        if duration:
            command += ["--duration", duration]
        subprocess.run(command, check=True, capture_output=True)  # warm the numba cache
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small and short (for CI)")
    parser.add_argument(
        "--reclaim", choices=["random", "lru"], default="random", help="the host's reclaim order"
    )
    parser.add_argument("--profile", default="kvm", help="the host profile (kvm, tcg, free)")
    args = parser.parse_args()
    if args.smoke:
        n_vms, memory, accesses = 8, 256, 5000
        stages = [("cold start", 5), ("steady", 5), ("under pressure", 5)]
    else:
        n_vms, memory, accesses = 64, 512, 20000
        stages = [("cold start (faulting in)", 29), ("steady", 30), ("under pressure", 60)]
    print(f"machine: {machine()}")
    scenario, results = engine_rate(n_vms, memory, accesses, stages, args.reclaim, args.profile)
    print(
        f"engine: {n_vms} VMs of {memory} MiB, {scenario.overcommit_ratio:.1f}x over-committed, "
        f"{accesses} sampled accesses per VM per tick, one core, {args.reclaim} host reclaim, "
        f"profile {args.profile}"
    )
    for r in results:
        print(
            f"  {r['stage']:<26} {r['ticks']:>3} ticks {r['wall_s']:6.2f} s  "
            f"{r['sampled_accesses_per_s'] / 1e6:6.1f} M sampled/s  "
            f"({r['represented_accesses_per_s'] / 1e6:.0f} M represented/s)  "
            f"host {r['host_states']}, swapped out {r['host_swap_out_mib']:.0f} MiB"
        )
    wall = seed_wall("30s" if args.smoke else None)
    print(
        f"seed run ({'30 s' if args.smoke else '10 min'} simulated), fresh process, warm cache: "
        f"{wall:.2f} s wall"
    )


if __name__ == "__main__":
    main()
