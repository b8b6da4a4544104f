/* render.c: one thread, a FIFO in and a FIFO out, a uv_async_t back to the loop (see render.h).
 *
 * Why dumping on another thread is safe: the records are not changed once submitted, the
 * objects they share with the engine (alert dims and records) are never changed after they are
 * made, jansson's reference counts are atomic, and its dump keeps no marks in the objects. */
#include "render.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "alloc.h"

struct job {
    struct job *next;
    uint64_t seq;
    json_t *rec; /* until rendered */
    char *text;  /* once rendered */
};

struct fifo {
    struct job *head;
    struct job *tail;
};

struct ow_render {
    ow_render_done_fn done;
    void *arg;
    uv_async_t wake;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fifo todo;  /* submitted, not yet taken by the thread */
    struct fifo ready; /* rendered, not yet handed to @done */
    bool working;      /* the thread holds a job */
    bool quit;
    bool closed;
    uint64_t pending; /* submitted and not yet handed to @done (loop thread only) */
};

static void fifo_push(struct fifo *q, struct job *j)
{
    j->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
}

static struct job *fifo_pop(struct fifo *q)
{
    struct job *j = q->head;

    if (j != NULL) {
        q->head = j->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
    }
    return j;
}

static void *renderer(void *arg)
{
    struct ow_render *r = arg;

    pthread_mutex_lock(&r->mu);
    for (;;) {
        struct job *j;

        while (r->todo.head == NULL && !r->quit) {
            pthread_cond_wait(&r->cv, &r->mu);
        }
        if ((j = fifo_pop(&r->todo)) == NULL) {
            break; /* quit, and nothing left */
        }
        r->working = true;
        pthread_mutex_unlock(&r->mu);
        j->text = json_dumps(j->rec, JSON_COMPACT);
        json_decref(j->rec);
        j->rec = NULL;
        pthread_mutex_lock(&r->mu);
        r->working = false;
        fifo_push(&r->ready, j);
        pthread_cond_broadcast(&r->cv);
        uv_async_send(&r->wake);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* On the loop thread: hand every rendered record to @done, in order. */
static void deliver(struct ow_render *r)
{
    struct fifo got;
    struct job *j;

    pthread_mutex_lock(&r->mu);
    got = r->ready;
    r->ready.head = r->ready.tail = NULL;
    pthread_mutex_unlock(&r->mu);
    while ((j = fifo_pop(&got)) != NULL) {
        r->pending--;
        r->done(r->arg, j->seq, j->text);
        free(j);
    }
}

static void on_wake(uv_async_t *h)
{
    deliver(h->data);
}

struct ow_render *ow_render_create(uv_loop_t *loop, ow_render_done_fn done, void *arg)
{
    struct ow_render *r = ow_xcalloc(1, sizeof(*r));

    r->done = done;
    r->arg = arg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, renderer, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    uv_async_init(loop, &r->wake, on_wake);
    r->wake.data = r;
    return r;
}

void ow_render_submit(struct ow_render *r, uint64_t seq, json_t *rec)
{
    struct job *j = ow_xcalloc(1, sizeof(*j));

    j->seq = seq;
    j->rec = rec;
    r->pending++;
    pthread_mutex_lock(&r->mu);
    fifo_push(&r->todo, j);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

uint64_t ow_render_pending(const struct ow_render *r)
{
    return r->pending;
}

void ow_render_settle(struct ow_render *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->todo.head != NULL || r->working) {
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    deliver(r);
}

void ow_render_close(struct ow_render *r)
{
    if (r == NULL || r->closed) {
        return;
    }
    ow_render_settle(r);
    pthread_mutex_lock(&r->mu);
    r->quit = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    uv_close((uv_handle_t *)&r->wake, NULL);
    r->closed = true;
}

void ow_render_destroy(struct ow_render *r)
{
    if (r == NULL) {
        return;
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
