/* threads: pthreads (clone/futex/set_robust_list/TLS). 4 worker threads sum
 * disjoint ranges, a mutex-protected shared counter, a condition-variable
 * handoff, thread-local storage, atomics, pthread_join return values.
 * Output is deterministic (results are printed only after joining).
 * Exit status 0. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NT 4
#define PER 200000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static uint64_t shared_counter;
static int turn; /* token passed around the ring with the condvar */
static uint64_t ring_log[NT * 5];
static int ring_n;
static _Atomic uint64_t atomic_sum;
static __thread uint64_t tls_value = 1000;

struct job {
    int id;
    uint64_t result;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    uint64_t s = 0;
    tls_value += (uint64_t)j->id; /* per-thread copy */
    for (uint64_t i = (uint64_t)j->id * PER; i < (uint64_t)(j->id + 1) * PER; i++)
        s += i * i % 7919;
    j->result = s;
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&mu);
        shared_counter++;
        pthread_mutex_unlock(&mu);
        atomic_sum += (uint64_t)(j->id + 1);
    }
    /* token ring: thread k acts when turn % NT == k, 5 rounds */
    for (int round = 0; round < 5; round++) {
        pthread_mutex_lock(&mu);
        while (turn % NT != j->id)
            pthread_cond_wait(&cv, &mu);
        ring_log[ring_n++] = (uint64_t)j->id * 100 + (uint64_t)round;
        turn++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return (void *)(uintptr_t)(tls_value * 10 + (uint64_t)j->id);
}

int main(void)
{
    pthread_t th[NT];
    struct job jobs[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i].id = i;
        if (pthread_create(&th[i], NULL, worker, &jobs[i]) != 0) {
            puts("pthread_create failed");
            return 1;
        }
    }
    uint64_t total = 0;
    for (int i = 0; i < NT; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        printf("thread %d: partial sum %lu, returned %lu\n", i, jobs[i].result, (uint64_t)(uintptr_t)ret);
        total += jobs[i].result;
    }
    printf("total %lu\n", total);
    printf("mutex counter %lu (expect %d), atomic sum %lu (expect %d)\n", shared_counter, NT * 10000,
           (uint64_t)atomic_sum, 10000 * (1 + 2 + 3 + 4));
    printf("token ring order:");
    for (int i = 0; i < ring_n; i++)
        printf(" %lu", ring_log[i]);
    printf("\nmain thread tls_value %lu\n", tls_value);
    return 0;
}
