#ifndef ZPS_CSYSTEM_SHIM_H
#define ZPS_CSYSTEM_SHIM_H
/* The C library's allocator settings (malloc.h), CPU affinity and scheduling policy (sched.h, GNU
 * extensions), thread names (sys/prctl.h) and memory advice (sys/mman.h). */
#if defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>

/* Puts the calling thread under SCHED_BATCH (nice value kept); 0, or -1 with errno set. */
static inline int zps_use_batch_scheduling(void) {
    struct sched_param parameters = { .sched_priority = 0 };
    return sched_setscheduler(0, SCHED_BATCH, &parameters);
}

/* Puts the calling thread under the default policy, SCHED_OTHER; 0, or -1 with errno set. */
static inline int zps_use_default_scheduling(void) {
    struct sched_param parameters = { .sched_priority = 0 };
    return sched_setscheduler(0, SCHED_OTHER, &parameters);
}

/* The calling thread's scheduling policy (SCHED_OTHER 0, SCHED_BATCH 3, ...), or -1. */
static inline int zps_current_scheduling_policy(void) {
    return sched_getscheduler(0);
}

/* Names the calling thread (the kernel keeps the first 15 bytes); 0, or -1 with errno set. */
static inline int zps_name_current_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

/* Restricts the calling thread to CPU `cpu`; 0, or -1 with errno set (EINVAL: no such CPU here). */
static inline int zps_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) { errno = EINVAL; return -1; }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* The CPU the calling thread is restricted to when it is exactly one, else -1. */
static inline int zps_current_thread_cpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1) return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) if (CPU_ISSET(cpu, &set)) return cpu;
    return -1;
}

/* Asks the kernel to back the 2 MiB-aligned part of [start, start + length) with transparent huge
 * pages when it is first touched (MADV_HUGEPAGE); 0, 1 when no aligned 2 MiB lies inside, or -1
 * with errno set (EINVAL: a kernel without transparent huge pages). */
static inline int zps_advise_huge_pages(void *start, size_t length) {
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t first = ((uintptr_t)start + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)start + length) & ~(huge - 1);
    if (end <= first) return 1;
    return madvise((void *)first, end - first, MADV_HUGEPAGE);
}
#endif

/* Asks for the cache line holding `address`, to be read soon (a hint: never faults). */
static inline void zps_prefetch_for_reading(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/* Asks for the cache line holding `address`, to be written soon (a hint: never faults). */
static inline void zps_prefetch_for_writing(const void *address) {
    __builtin_prefetch(address, 1, 3);
}
#endif
