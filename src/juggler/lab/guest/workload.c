/*
 * juggler lab workload: touch a working set as the phases say, and report each
 * second how many pages were touched and how long a touch took.
 *
 * Why: the lab must show, from inside the guest, what ballooning and swapping
 * cost a program (latency of a memory access), while the hypervisor side is
 * measured on the host. The latency is measured the only way a guest can: by
 * timing sampled accesses with clock_gettime; a page the guest swapped out or
 * the host swapped out takes far longer to touch than a resident one.
 *
 * Usage: workload PHASES [SEED [FILE:SIZE_MIB]]
 *
 *   PHASES  comma-separated phases DUR:SIZE:PATTERN:RATE[:CACHE_KIB[:OFFSET_MIB]]
 *           DUR      seconds (0: forever; the last phase always lasts forever), or h:
 *                    until the host says next (see "Host commands")
 *           SIZE     working set in MiB (ignored by idle)
 *           PATTERN  uniform | zipf | zipf<EXP> (e.g. zipf1.2; default 0.9) | scan | idle
 *           RATE     page accesses per second (0: as fast as possible)
 *           CACHE_KIB  KiB per second read from FILE (default 0), cycling over its
 *                    first SIZE_MIB: the guest keeps what it read in its page cache,
 *                    which is how a guest's cache grows and what a balloon takes first
 *           OFFSET_MIB  the working set starts this far into the region; a phase
 *                    that gives an offset (even 0) never releases pages, so one
 *                    phase can leave a cold set that later phases keep without
 *                    touching it
 *           e.g. "60:300:uniform:200000:1024,30:0:idle:0,0:150:zipf1.1:50000"
 *   FILE    a file or block device to read (the lab's data disk), SIZE_MIB of it
 *
 * A phase with a smaller working set than the one before releases the pages
 * beyond it (madvise DONTNEED), except an idle phase, which hoards them.
 *
 * Output, one line per second on stdout (the serial console):
 *   JUGGLER t=12 phase=0 ws_mib=300 accesses=123456 p50_us=0.30 p99_us=4.10 max_us=97.00
 * and once at start:  JUGGLER workload start phases=<n> max_ws_mib=<m>
 *
 * Host commands (only when a phase's DUR is h): the workload reads single bytes
 * from the second serial port (/dev/ttyS1), checked once per 10 ms slice, so
 * `juggler lab calibrate` can move through phases exactly when its measurement
 * needs to and read counters at the instants it chooses:
 *   n   start the next phase;      prints JUGGLER phase=<i> start ns=<monotonic ns>
 *   c   count;                     prints JUGGLER count phase=<i> accesses=<since start> ns=<ns>
 *   m   guest memory (/proc/meminfo, KiB);
 *       prints JUGGLER mem total_kib= free_kib= cache_kib= anon_kib= swap_used_kib= ns=
 * and in that mode a scan phase reports its first two passes over the working set:
 *   JUGGLER pass phase=<i> pass=<1|2> pages=<n> seconds=<s>
 * (the first pass of a fresh working set is its first touch of each page).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAX_PHASES 64
#define SLICE_NS 10000000L /* 10 ms: rate is enforced per slice */
#define SAMPLE_EVERY 16    /* time one access in SAMPLE_EVERY */
#define MAX_SAMPLES 65536  /* per second */

enum pattern { UNIFORM, ZIPF, SCAN, IDLE };

struct phase {
    long duration_s; /* -1: until the host says next */
    unsigned long offset; /* first page of the working set */
    int has_offset;
    unsigned long pages;
    enum pattern pattern;
    double zipf_s;
    double rate;
    double cache_kib; /* KiB per second read from the file */
};

static struct phase phases[MAX_PHASES];
static int n_phases;
static int host_driven; /* some phase waits for the host: read commands from /dev/ttyS1 */
static uint32_t samples[MAX_SAMPLES];
static unsigned n_samples;
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    /* xorshift64*: fast, and good enough to pick pages */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static double uniform01(void) { return (rng() >> 11) * (1.0 / 9007199254740992.0); }

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    printf("JUGGLER error %s: %s\n", what, detail);
    fflush(stdout);
    exit(2);
}

static void parse_phases(char *text)
{
    char *save = NULL;
    for (char *item = strtok_r(text, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (n_phases == MAX_PHASES)
            die("phases", "too many phases (at most 64)");
        char pattern[32];
        long dur, mib, offset_mib = 0;
        double rate, cache_kib = 0;
        int host = item[0] == 'h' && item[1] == ':';
        /* h:REST parses as 0:REST, then waits for the host */
        int fields = sscanf(host ? item + 2 : item, host ? "%ld:%31[a-z0-9.]:%lf:%lf:%ld"
                                                         : "%*[0-9]:%ld:%31[a-z0-9.]:%lf:%lf:%ld",
                            &mib, pattern, &rate, &cache_kib, &offset_mib);
        if (!host && sscanf(item, "%ld", &dur) != 1)
            fields = 0;
        if (host)
            dur = -1;
        if (fields < 3 || mib < 0 || rate < 0 || cache_kib < 0 || offset_mib < 0)
            die("phase must be DUR:SIZE_MIB:PATTERN:RATE[:CACHE_KIB[:OFFSET_MIB]], got", item);
        if (!host && dur < 0)
            die("phase must be DUR:SIZE_MIB:PATTERN:RATE[:CACHE_KIB[:OFFSET_MIB]], got", item);
        if (host)
            host_driven = 1;
        struct phase *p = &phases[n_phases++];
        p->duration_s = dur;
        p->has_offset = fields == 5;
        p->offset = (unsigned long)offset_mib * (1024 * 1024 / PAGE);
        p->pages = (unsigned long)mib * (1024 * 1024 / PAGE);
        p->rate = rate;
        p->cache_kib = cache_kib;
        p->zipf_s = 0.9;
        if (strcmp(pattern, "uniform") == 0)
            p->pattern = UNIFORM;
        else if (strcmp(pattern, "scan") == 0)
            p->pattern = SCAN;
        else if (strcmp(pattern, "idle") == 0)
            p->pattern = IDLE;
        else if (strncmp(pattern, "zipf", 4) == 0) {
            p->pattern = ZIPF;
            if (pattern[4])
                p->zipf_s = atof(pattern + 4);
            if (p->zipf_s <= 0)
                die("zipf exponent must be > 0, got", pattern);
        } else
            die("pattern must be uniform, zipf, zipf<EXP>, scan or idle, got", pattern);
        if (p->pattern != IDLE && p->pages == 0)
            die("a non-idle phase needs SIZE_MIB > 0, got", item);
    }
    if (n_phases == 0)
        die("phases", "none given");
}

/* A page index in [0, n) drawn from a Zipf(s) law over ranks, by inverting the
 * continuous approximation of its CDF; ranks are scattered over the region by a
 * multiplicative hash so hot pages are not all adjacent. */
static unsigned long zipf_page(unsigned long n, double s)
{
    double u = uniform01(), x;
    if (fabs(s - 1.0) < 1e-9)
        x = exp(u * log((double)n + 1.0));
    else {
        double a = 1.0 - s;
        x = pow(u * (pow((double)n + 1.0, a) - 1.0) + 1.0, 1.0 / a);
    }
    unsigned long rank = (unsigned long)x - 1;
    if (rank >= n)
        rank = n - 1;
    return (rank * 2654435761UL) % n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cache_fd = -1;
static unsigned long cache_size, cache_pos, cache_read;
static char cache_buf[64 * 1024];

/* Read the next `bytes` of the file (cycling), so they are in the page cache. */
static void read_cache(unsigned long bytes)
{
    while (cache_fd >= 0 && bytes > 0) {
        unsigned long chunk = bytes < sizeof cache_buf ? bytes : sizeof cache_buf;
        if (cache_pos + chunk > cache_size)
            chunk = cache_size - cache_pos;
        ssize_t got = pread(cache_fd, cache_buf, chunk, (off_t)cache_pos);
        if (got <= 0) {
            cache_pos = 0; /* shorter than SIZE_MIB, or an error: start over */
            if (got < 0)
                return;
            continue;
        }
        cache_pos = (cache_pos + (unsigned long)got) % cache_size;
        cache_read += (unsigned long)got;
        bytes -= (unsigned long)got;
    }
}

static void report(long t, int phase, unsigned long pages, unsigned long accesses)
{
    double p50 = 0, p99 = 0, max = 0;
    if (n_samples) {
        qsort(samples, n_samples, sizeof samples[0], cmp_u32);
        p50 = samples[n_samples / 2] / 1000.0;
        p99 = samples[(unsigned long)n_samples * 99 / 100] / 1000.0;
        max = samples[n_samples - 1] / 1000.0;
    }
    printf("JUGGLER t=%ld phase=%d ws_mib=%lu accesses=%lu p50_us=%.2f p99_us=%.2f max_us=%.2f"
           " read_kib=%lu\n",
           t, phase, pages * PAGE / (1024 * 1024), accesses, p50, p99, max, cache_read / 1024);
    fflush(stdout);
    n_samples = 0;
    cache_read = 0;
}

static int command_fd = -1;

/* The host's command port: the second serial port, raw, read without blocking. */
static void open_commands(void)
{
    command_fd = open("/dev/ttyS1", O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (command_fd < 0)
        die("/dev/ttyS1 (the host's command port)", strerror(errno));
    struct termios tio;
    if (tcgetattr(command_fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(command_fd, TCSANOW, &tio);
    }
}

/* The next command byte from the host, or 0 when there is none. */
static char next_command(void)
{
    char c;
    while (command_fd >= 0 && read(command_fd, &c, 1) == 1)
        if (c == 'n' || c == 'c' || c == 'm')
            return c;
    return 0;
}

static void print_meminfo(void)
{
    static const char *keys[] = {"MemTotal:", "MemFree:", "Active(file):", "Inactive(file):",
                                 "AnonPages:", "SwapTotal:", "SwapFree:"};
    long v[7] = {0};
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f))
        for (int i = 0; i < 7; i++)
            if (strncmp(line, keys[i], strlen(keys[i])) == 0)
                v[i] = atol(line + strlen(keys[i]));
    if (f)
        fclose(f);
    printf("JUGGLER mem total_kib=%ld free_kib=%ld cache_kib=%ld anon_kib=%ld swap_used_kib=%ld"
           " ns=%ld\n",
           v[0], v[1], v[2] + v[3], v[4], v[5] - v[6], now_ns());
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage", "workload PHASES [SEED]");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2)
        rng_state ^= strtoull(argv[2], NULL, 10) * 0x2545F4914F6CDD1DULL;
    parse_phases(argv[1]);
    if (argc > 3) {
        char path[256];
        unsigned long mib;
        if (sscanf(argv[3], "%255[^:]:%lu", path, &mib) != 2 || mib == 0)
            die("file must be PATH:SIZE_MIB, got", argv[3]);
        cache_fd = open(path, O_RDONLY);
        if (cache_fd < 0)
            die(path, strerror(errno));
        cache_size = mib * 1024 * 1024;
    }

    unsigned long max_pages = 1;
    for (int i = 0; i < n_phases; i++)
        if (phases[i].offset + phases[i].pages > max_pages)
            max_pages = phases[i].offset + phases[i].pages;
    if (host_driven)
        open_commands();
    volatile unsigned char *mem = mmap(NULL, max_pages * PAGE, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap", strerror(errno));
    printf("JUGGLER workload start phases=%d max_ws_mib=%lu\n", n_phases,
           max_pages * PAGE / (1024 * 1024));

    long start = now_ns(), phase_end = start, next_report = start + 1000000000L;
    long slice_start = start;
    unsigned long pages = 0, offset = 0, held = 0, scan_pos = 0, accesses = 0, counter = 0;
    unsigned long total_accesses = 0;
    long phase_start = start;
    int phase = -1, passes = 0;
    for (;;) {
        long now = now_ns();
        int next = 0;
        for (char c; (c = next_command());) {
            if (c == 'n')
                next = 1;
            else if (c == 'c')
                printf("JUGGLER count phase=%d accesses=%lu ns=%ld\n", phase,
                       total_accesses + accesses, now_ns());
            else
                print_meminfo();
        }
        if (phase < n_phases - 1 &&
            (phase < 0 || (phases[phase].duration_s > 0 && now >= phase_end) ||
             (phases[phase].duration_s < 0 && next))) {
            phase++;
            struct phase *p = &phases[phase];
            phase_end = now + p->duration_s * 1000000000L;
            if (p->pattern != IDLE) {
                if (!p->has_offset && p->pages < held)
                    madvise((void *)(mem + p->pages * PAGE), (held - p->pages) * PAGE,
                            MADV_DONTNEED);
                pages = p->pages;
                offset = p->offset;
                held = p->has_offset ? (offset + pages > held ? offset + pages : held) : pages;
                scan_pos = 0;
            }
            phase_start = now_ns();
            passes = 0;
            if (host_driven)
                printf("JUGGLER phase=%d start ns=%ld\n", phase, phase_start);
        }
        struct phase *p = &phases[phase];
        if (p->cache_kib > 0)
            read_cache((unsigned long)(p->cache_kib * 1024 * SLICE_NS / 1e9));
        if (p->pattern != IDLE) {
            long budget = p->rate > 0 ? (long)(p->rate * SLICE_NS / 1e9) : -1;
            long slice_end = slice_start + SLICE_NS;
            for (long done = 0; budget < 0 || done < budget; done++) {
                unsigned long page;
                if (p->pattern == UNIFORM)
                    page = rng() % pages;
                else if (p->pattern == ZIPF)
                    page = zipf_page(pages, p->zipf_s);
                else {
                    page = scan_pos++ % pages;
                    if (host_driven && passes < 2 && scan_pos == (passes + 1) * pages) {
                        long t = now_ns();
                        passes++;
                        printf("JUGGLER pass phase=%d pass=%d pages=%lu seconds=%.6f\n", phase,
                               passes, pages, (t - phase_start) / 1e9);
                        phase_start = t;
                    }
                }
                volatile unsigned char *byte =
                    mem + (offset + page) * PAGE + (counter & (PAGE - 1));
                if (++counter % SAMPLE_EVERY == 0 && n_samples < MAX_SAMPLES) {
                    long t0 = now_ns();
                    *byte += 1;
                    long dt = now_ns() - t0;
                    samples[n_samples++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
                } else
                    *byte += 1;
                accesses++;
                if ((done & 255) == 255 && now_ns() >= slice_end)
                    break; /* too slow for the rate: the shortfall is the slowdown */
            }
        }
        slice_start += SLICE_NS;
        now = now_ns();
        if (slice_start > now) {
            struct timespec ts = {slice_start / 1000000000L, slice_start % 1000000000L};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        } else if (now - slice_start > SLICE_NS)
            slice_start = now; /* fell behind (e.g. the VM was paused): do not catch up */
        now = now_ns();
        if (now >= next_report) {
            unsigned long ws = phases[phase].pattern == IDLE ? 0 : pages;
            report((next_report - start) / 1000000000L, phase, ws, accesses);
            total_accesses += accesses;
            accesses = 0;
            next_report += 1000000000L;
            if (next_report < now)
                next_report = now + 1000000000L;
        }
    }
}
