/* saver.c: one writer thread, one job slot, a uv_async_t back to the loop (see saver.h).
 *
 * Why a thread of our own and not libuv's pool (uv_queue_work): a revocation must finish the
 * save in flight before it returns, inside a librdkafka callback on the loop thread, and a
 * pool job's completion can only be seen from the loop's next turn. Here the loop may block on
 * the condition variable instead. */
#include "saver.h"

#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"

struct ow_saver {
    struct ow_state *st;
    ow_saver_done_fn done;
    void *arg;
    uv_async_t wake;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool queued;  /* a job for the thread */
    bool written; /* the thread finished it; @done not yet called */
    bool busy;    /* between start and @done */
    bool quit;
    bool closed;
};

static void *writer(void *arg)
{
    struct ow_saver *sv = arg;

    pthread_mutex_lock(&sv->mu);
    for (;;) {
        while (!sv->queued && !sv->quit) {
            pthread_cond_wait(&sv->cv, &sv->mu);
        }
        if (!sv->queued) {
            break;
        }
        pthread_mutex_unlock(&sv->mu);
        ow_state_save_write(sv->st);
        pthread_mutex_lock(&sv->mu);
        sv->queued = false;
        sv->written = true;
        pthread_cond_broadcast(&sv->cv);
        uv_async_send(&sv->wake);
    }
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

/* On the loop thread: report a written save once (from the async or from a wait). */
static void deliver(struct ow_saver *sv)
{
    bool written;

    pthread_mutex_lock(&sv->mu);
    written = sv->written;
    sv->written = false;
    pthread_mutex_unlock(&sv->mu);
    if (written) {
        sv->busy = false;
        sv->done(sv->arg);
    }
}

static void on_wake(uv_async_t *h)
{
    deliver(h->data);
}

struct ow_saver *ow_saver_create(uv_loop_t *loop, struct ow_state *st, ow_saver_done_fn done,
                                 void *arg)
{
    struct ow_saver *sv = ow_xcalloc(1, sizeof(*sv));

    sv->st = st;
    sv->done = done;
    sv->arg = arg;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->cv, NULL);
    if (pthread_create(&sv->thread, NULL, writer, sv) != 0) {
        pthread_cond_destroy(&sv->cv);
        pthread_mutex_destroy(&sv->mu);
        free(sv);
        return NULL;
    }
    uv_async_init(loop, &sv->wake, on_wake);
    sv->wake.data = sv;
    return sv;
}

bool ow_saver_busy(const struct ow_saver *sv)
{
    return sv->busy;
}

void ow_saver_start(struct ow_saver *sv)
{
    pthread_mutex_lock(&sv->mu);
    sv->busy = true;
    sv->queued = true;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
}

void ow_saver_wait(struct ow_saver *sv)
{
    if (!sv->busy) {
        return;
    }
    pthread_mutex_lock(&sv->mu);
    while (!sv->written) {
        pthread_cond_wait(&sv->cv, &sv->mu);
    }
    pthread_mutex_unlock(&sv->mu);
    deliver(sv);
}

void ow_saver_close(struct ow_saver *sv)
{
    if (sv == NULL || sv->closed) {
        return;
    }
    ow_saver_wait(sv);
    pthread_mutex_lock(&sv->mu);
    sv->quit = true;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->thread, NULL);
    uv_close((uv_handle_t *)&sv->wake, NULL);
    sv->closed = true;
}

void ow_saver_destroy(struct ow_saver *sv)
{
    if (sv == NULL) {
        return;
    }
    pthread_cond_destroy(&sv->cv);
    pthread_mutex_destroy(&sv->mu);
    free(sv);
}
