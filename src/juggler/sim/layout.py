"""Where each number lives in the simulator's flat arrays.

The kernels work on plain numpy arrays, one row per VM, so that numba can
compile them once for any number of VMs. These constants name the columns;
numba folds them into the compiled code as literals -- and numba's on-disk cache is
keyed on ``kernels.py`` alone: after changing a constant here, delete
``src/juggler/sim/__pycache__`` (touching kernels.py was not enough, measured) or the
cached kernels keep the old columns.

Frames (guest-physical pages) of all VMs are concatenated; so are the virtual
pages of their workloads (anonymous pages, then the pages of the file the
workload reads through the page cache).
"""

from __future__ import annotations

# -- guest state of a frame --
G_FREE = 0
G_ANON = 1
G_CACHE = 2
G_BALLOON = 3
G_KERNEL = 4
GUEST_STATE_NAMES = ("free", "anon", "cache", "balloon", "kernel")

# -- host state of a frame --
H_UNBACKED = 0
H_RESIDENT = 1
H_SWAPPED = 2
#: unbacked because the balloon took the frame and the host dropped its copy: the
#: guest's next touch re-faults a page it had (RETOUCH), where H_UNBACKED is a first touch
H_RETURNED = 3
HOST_STATE_NAMES = ("unbacked", "resident", "swapped", "returned")

# -- page flags (one byte per virtual page) --
PF_SWAPPED = 1  # an anonymous page that lives in guest swap
PF_SEEN = 2  # a file page read at least once (a later miss is not compulsory)
PF_HIT = 4  # mapped to a guest frame the host backs: an access is a plain hit
PF_REF = 8  # the guest's CLOCK reference bit (kept per page, cleared by reclaim)
PF_TOUCHED = 16  # accessed since a working-set sampler last cleared it
PF_HOST_REF = 32  # the host's accessed bit (its page-table A bit), cleared by its LRU sweep
#: what every access sets: the guest's, the sampler's and the host's view of "used"
PF_ACCESSED = PF_HIT | PF_REF | PF_TOUCHED | PF_HOST_REF

# -- access patterns --
PAT_IDLE = 0
PAT_UNIFORM = 1
PAT_ZIPF = 2
PAT_SCAN = 3
PATTERN_CODES = {"idle": PAT_IDLE, "uniform": PAT_UNIFORM, "zipf": PAT_ZIPF, "scan": PAT_SCAN}

# -- vm_i: int64 columns, one row per VM --
FRAME_BASE = 0  # first frame of the VM in the frame arrays
N_FRAMES = 1
ANON_BASE = 2  # first anonymous virtual page
N_ANON_CAP = 3  # anonymous pages the workload may ever use
FILE_BASE = 4
N_FILE = 5
N_FREE = 6  # frames on the free stack
CLOCK_HAND = 7
N_ANON = 8
N_CACHE = 9
N_BALLOON = 10
N_RESIDENT = 11
N_HSWAPPED = 12
N_KERNEL = 13
SWAP_USED = 14
SWAP_CAP = 15
BALLOON_TARGET = 16
RESERVATION = 17
LIMIT = 18
WS_PAGES = 19  # current working set, in pages
PATTERN = 20
SCAN_POS = 21
FILE_POS = 22
BALLOON_PRESENT = 23
BALLOON_RATE = 24  # pages per tick
LOW_WM = 25  # guest reclaim starts below this many free frames
HIGH_WM = 26  # and stops at this many
SHARES = 27
BLOCKED = 28  # 1 while the host cannot give this VM a page this tick
ALLOCATED = 29  # anonymous pages the workload has touched and not freed (high mark)
OOM_EVENTS = 30  # cumulative
HOST_SWAP_OUT_PAGES = 31  # cumulative, pages of this VM the host swapped out
RECLAIM_FAILED = 32  # 1 once the guest's reclaim freed nothing this tick (no retry until next)
HOST_CLOCK_HAND = 33  # where the host's LRU sweep over this VM's frames resumes
DEFLATE_RATE = 34  # balloon pages returned per tick (BALLOON_RATE is the inflate rate)
MISS_CURSOR = 35  # where the sweep for compulsory misses the sampling could not draw resumes
N_RESERVED = 36  # frames the guest reserved at boot, outside MemTotal (held like its kernel)
N_VM_I = 37

# -- vm_f: float64 columns, one row per VM --
RATE = 0  # page accesses per tick at full speed
HIT_COST = 1  # seconds of vCPU per resident access
GUEST_READ = 2  # guest disk read latency, seconds per page
BUDGET = 3  # vCPU seconds per tick
CACHE_PAGES = 4  # file pages read per tick
# per-tick accumulators (cleared by clear_tick)
T_NOMINAL = 5  # vCPU time the nominal work needs
STALL_GUEST_SWAP = 6
STALL_HOST_SWAP = 7
STALL_CACHE_MISS = 8
NOMINAL = 9  # accesses asked for
ACHIEVED = 10  # accesses done within the budget
C_GUEST_SWAP_IN = 11  # pages
C_GUEST_SWAP_OUT = 12
C_HOST_SWAP_IN = 13
C_CACHE_MISS = 14
C_FIRST_TOUCH = 15
STALL_BALLOON = 16  # vCPU seconds the balloon driver and the reclaim it triggered took
GUEST_SWAP_READ = 17  # seconds of vCPU one guest swap-in costs (GUEST_READ: a file read)
N_VM_F = 18
TICK_ACCUMULATORS = (T_NOMINAL, STALL_BALLOON + 1)

# -- host_i: int64 host scalars --
POOL = 0  # pages the host can give to guests (memory minus overheads)
HOST_FREE = 1
HOST_SWAP_CAP = 2
HOST_SWAP_USED = 3
SOFT_WM = 4  # free pages below which the host is in the soft state
HARD_WM = 5
LOW_WM_HOST = 6
HOST_SWAP_IN = 7  # cumulative pages
HOST_SWAP_OUT = 8
BLOCKED_ALLOCS = 9  # cumulative
HOST_RECLAIM = 10  # RECLAIM_RANDOM or RECLAIM_LRU: how the host picks frames within a VM
KEEPS_FREE = 11  # 1: the host swaps in the background to keep free memory; 0: a cgroup
N_HOST_I = 12

# -- host reclaim orders (scenario [host] reclaim) --
RECLAIM_RANDOM = 0
RECLAIM_LRU = 1
RECLAIM_CODES = {"random": RECLAIM_RANDOM, "lru": RECLAIM_LRU}

# -- host_f: float64 host scalars --
HOST_READ = 0
HOST_WRITE = 1
ZERO_FILL = 2
# balloon costs, vCPU seconds per page (from the host profile)
INFLATE_CPU_FREE = 3
INFLATE_CPU_CACHE = 4
INFLATE_CPU_ANON = 5
DEFLATE_CPU = 6
RETOUCH = 7  # touching again a page the balloon gave back
N_HOST_F = 8
