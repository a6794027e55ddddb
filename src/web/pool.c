/* Long-lived worker threads for the web server's heavy jobs: a connection's thread hands
 * the job over and waits. Thumbnails: at most `threads` made at once however many a page
 * asks for, at a lower priority (nice), so a search that arrives meanwhile gets the CPU
 * first instead of queueing behind them. Query encodings: one thread, so one at a time,
 * on a thread whose per-thread GEMM state stays warm. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "web/web_internal.h"

typedef struct web_job {
    void (*fn)(void *);
    void *arg;
    bool done;
    struct web_job *next;
} web_job;

struct cs__web_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;    /* a job was queued, or stop */
    pthread_cond_t done;    /* a job finished */
    web_job *head, *tail;
    bool stop;
    int nice;
    int n_threads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    cs__web_pool *p = arg;
    /* The nice value is per thread on Linux; failing leaves the normal priority. */
    if (p->nice > 0) (void)setpriority(PRIO_PROCESS, (id_t)gettid(), p->nice);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (!p->head) break;    /* stop, and nothing left to do */
        web_job *j = p->head;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&p->mu);
        j->done = true;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int cs__web_pool_start(int threads, int nice, cs__web_pool **out, cs_error *err)
{
    *out = NULL;
    if (threads < 1) threads = 1;
    cs__web_pool *p = calloc(1, sizeof *p);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    if (!p || !t) {
        free(p);
        free(t);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->nice = nice;
    p->threads = t;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&t[i], NULL, worker, p) != 0) {
            cs__web_pool_stop(p);
            return cs_error_set(err, CS_E_INTERNAL, "cannot start the thumbnail threads");
        }
        p->n_threads++;
    }
    *out = p;
    return 0;
}

void cs__web_pool_run(cs__web_pool *p, void (*fn)(void *), void *arg)
{
    web_job j = {fn, arg, false, NULL};
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = &j;
    else p->head = &j;
    p->tail = &j;
    pthread_cond_signal(&p->work);
    while (!j.done) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void cs__web_pool_stop(cs__web_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}
