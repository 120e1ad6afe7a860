/* One persistent helper thread: runs a job while the calling thread runs another.
 *
 * A scan hands chain 1 of a layer to it and runs chain 0 itself. The thread is made once and
 * kept: starting a thread per scan costs tens of microseconds, and its first BLAS call a fresh
 * buffer (page faults), which for a short scan took as long as the scan. If the helper is
 * taken (two scans from two Python threads at once) or cannot be started, the caller is told
 * so and runs the job itself. After fork() the child has no helper: it is made again there. */
#include <pthread.h>

#include "native.h"

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
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!pending) pthread_cond_wait(&wake, &lock);
        worker_job fn = job;
        void *arg = job_arg;
        pthread_mutex_unlock(&lock);
        fn(arg);
        pthread_mutex_lock(&lock);
        pending = 0;
        pthread_cond_signal(&done);
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
    taken = pending = 1;
    job = fn;
    job_arg = arg;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    return 0;
}

void worker_wait(void) {
    pthread_mutex_lock(&lock);
    while (pending) pthread_cond_wait(&done, &lock);
    taken = 0;
    pthread_mutex_unlock(&lock);
}
