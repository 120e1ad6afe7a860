/* One persistent helper thread: runs a job while the calling thread runs another.
 *
 * A scan hands chain 1 of a layer to it and runs chain 0 itself. The thread is made once and
 * kept: starting a thread per scan costs tens of microseconds, and its first BLAS call a fresh
 * buffer (page faults), which for a short scan took as long as the scan. If the helper is
 * taken (two scans from two Python threads at once) or cannot be started, the caller is told
 * so and runs the job itself. After fork() the child has no helper: it is made again there. */
#include <pthread.h>
#include <time.h>

#include "native.h"

/* Both sides poll before they sleep. Waking a sleeping thread took ~80 us a scan here (a 2-step
 * LSTM layer: 82 us in the C call on 2 threads against 2.5 on 1), and the woken helper was
 * often placed on the caller's own core. The helper polls for the next job for HELPER_SPIN_NS
 * after each one (a layer's next scan or the next call usually comes sooner), the caller for
 * its job's end for up to WAITER_SPIN_NS (it has nothing else to do). Measured (BENCHMARKS.md):
 * the C call of that tiny layer 80 -> 6-21 us; LSTM inference d 0.86x, a 0.95x the time. */
enum { HELPER_SPIN_NS = 200000, WAITER_SPIN_NS = 1000000 };

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Poll *flag (written under the lock) until it equals value or `ns` nanoseconds pass; the
 * caller then takes the lock and checks again, so a job is never missed. */
static void spin_until(const int *flag, int value, int64_t ns) {
    int64_t deadline = now_ns() + ns;
    for (unsigned i = 1;; i++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == value) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        if (i % 64 == 0 && now_ns() > deadline) return;
    }
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* a job was handed over */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* the job finished */
static int started;                                    /* the helper exists in this process */
static int taken;                                      /* a caller holds it (submit .. wait) */
static int pending;                                    /* a job is handed over, not finished */
static worker_job job;
static void *job_arg;

static void *helper(void *unused) {
    (void)unused;
    for (;;) {
        spin_until(&pending, 1, HELPER_SPIN_NS);
        pthread_mutex_lock(&lock);
        while (!pending) pthread_cond_wait(&wake, &lock);
        worker_job fn = job;
        void *arg = job_arg;
        pthread_mutex_unlock(&lock);
        fn(arg);
        pthread_mutex_lock(&lock);
        __atomic_store_n(&pending, 0, __ATOMIC_RELEASE);
        pthread_cond_signal(&done);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void forget_helper(void) { /* in a forked child: the helper thread was not copied */
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    started = taken = pending = 0;
}

int worker_submit(worker_job fn, void *arg) {
    static int fork_handler;
    pthread_mutex_lock(&lock);
    if (taken) {
        pthread_mutex_unlock(&lock);
        return 1;
    }
    if (!started) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, helper, NULL);
        pthread_attr_destroy(&attr);
        if (failed) {
            pthread_mutex_unlock(&lock);
            return 1;
        }
        if (!fork_handler) fork_handler = pthread_atfork(NULL, NULL, forget_helper) == 0;
        started = 1;
    }
    taken = 1;
    job = fn;
    job_arg = arg;
    __atomic_store_n(&pending, 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    return 0;
}

void worker_wait(void) {
    spin_until(&pending, 0, WAITER_SPIN_NS);
    pthread_mutex_lock(&lock);
    while (pending) pthread_cond_wait(&done, &lock);
    taken = 0;
    pthread_mutex_unlock(&lock);
}
