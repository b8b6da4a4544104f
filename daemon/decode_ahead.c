/* decode_ahead.c: the decoder thread and the claim of each slot (see decode_ahead.h).
 *
 * A slot's tag is (generation << 2 | state). The loop publishes a chunk by writing its inputs,
 * resetting the tags of its slots to (gen, TODO) and storing (gen << 16 | n) in job with release
 * order; a thread that loads job with acquire order sees all of that. Whoever moves a tag from
 * (gen, TODO) to (gen, CLAIMED) decodes the slot and then stores (gen, DONE) with release order,
 * so the loop, loading the tag with acquire order, sees the decoded event. The loop begins the
 * next chunk only after it has taken every slot of this one, so while the worker holds a claim
 * the chunk's inputs and arena stay as they are; a worker that wakes late fails its claims on
 * the next chunk's tags and goes back to the job word. */
#include "decode_ahead.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

enum { SLOT_TODO = 0, SLOT_CLAIMED = 1, SLOT_DONE = 2, SLOT_EMPTY = 3 };

/* Payload lines asked for ahead of the one being decoded: the worker reads each payload first,
 * from fetch buffers librdkafka wrote well before. */
#define PAYLOAD_AHEAD 8
#define PREFETCH_PAYLOAD_MAX 512
/* Waiting for a slot the worker is decoding (well under a microsecond), spin; after this many
 * turns the worker has probably been preempted: give the core away instead. */
#define SPINS_BEFORE_YIELD 512

struct slot {
    _Alignas(64) _Atomic uint64_t tag;
    struct ow_decoded d;
};

struct ow_decode_ahead {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;     /* under mu */
    bool sleeping; /* under mu: the worker waits on cv */

    _Atomic uint64_t job; /* gen << 16 | n of the chunk published last; 0 none */
    uint64_t gen;         /* the loop's: the last generation begun */

    struct ow_decode_input inputs[OW_DECODE_AHEAD_MAX];
    size_t arena_at[OW_DECODE_AHEAD_MAX];
    char *arena;
    size_t arena_cap;
    struct slot *slots;

    struct ow_decoder *worker_dec;
    struct ow_decoder *caller_dec;
    _Atomic uint64_t by_worker;
    uint64_t by_caller;
};

static uint64_t tag_of(uint64_t gen, unsigned state)
{
    return gen << 2 | state;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void decode_slot(struct ow_decode_ahead *da, struct ow_decoder *dec, size_t i)
{
    const struct ow_decode_input *in = &da->inputs[i];
    struct ow_decoded *d = &da->slots[i].d;
    struct ow_err err;

    d->rc =
        ow_decoder_decode_into(dec, in->buf, in->len, &d->ev, &err, da->arena + da->arena_at[i]);
    if (d->rc == OW_OK) {
        d->key = ow_dedup_key_of(d->ev.event_id.p, d->ev.event_id.len);
    }
}

static void prefetch_input(const struct ow_decode_input *in)
{
    size_t n = in->len < PREFETCH_PAYLOAD_MAX ? in->len : PREFETCH_PAYLOAD_MAX;

    /* A hint only: never a fault, even should the loop have freed the buffer already. */
    for (size_t off = 0; in->buf != NULL && off < n; off += 64) {
        __builtin_prefetch(in->buf + off);
    }
}

/* Claim and decode the slots of chunk @gen (@n inputs) from the front; stop at its end or as
 * soon as a tag shows a newer chunk. */
static void sweep(struct ow_decode_ahead *da, uint64_t gen, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        struct slot *s = &da->slots[j];
        uint64_t want = tag_of(gen, SLOT_TODO);

        if (!atomic_compare_exchange_strong_explicit(&s->tag, &want, tag_of(gen, SLOT_CLAIMED),
                                                     memory_order_acquire, memory_order_relaxed)) {
            if (want >> 2 != gen) {
                return; /* the loop has moved on to a newer chunk */
            }
            continue; /* the loop decoded it, or nothing to decode */
        }
        /* Holding a claim, the chunk cannot end: its later inputs are still this chunk's. */
        if (j + PAYLOAD_AHEAD < n) {
            prefetch_input(&da->inputs[j + PAYLOAD_AHEAD]);
        }
        decode_slot(da, da->worker_dec, j);
        atomic_store_explicit(&s->tag, tag_of(gen, SLOT_DONE), memory_order_release);
        atomic_fetch_add_explicit(&da->by_worker, 1, memory_order_relaxed);
    }
}

static void *worker(void *arg)
{
    struct ow_decode_ahead *da = arg;
    uint64_t seen = 0;

    for (;;) {
        uint64_t job = seen;

        pthread_mutex_lock(&da->mu);
        while (!da->stop && (job = atomic_load_explicit(&da->job, memory_order_acquire)) == seen) {
            da->sleeping = true;
            pthread_cond_wait(&da->cv, &da->mu);
        }
        da->sleeping = false;
        if (da->stop) {
            pthread_mutex_unlock(&da->mu);
            return NULL;
        }
        pthread_mutex_unlock(&da->mu);
        seen = job;
        sweep(da, job >> 16, (size_t)(job & 0xffff));
    }
}

struct ow_decode_ahead *ow_decode_ahead_create(void)
{
    struct ow_decode_ahead *da = ow_xcalloc(1, sizeof(*da));
    size_t bytes = OW_DECODE_AHEAD_MAX * sizeof(struct slot);

    da->slots = aligned_alloc(64, bytes);
    if (da->slots == NULL) {
        free(da);
        return NULL;
    }
    memset(da->slots, 0, bytes);
    for (size_t i = 0; i < OW_DECODE_AHEAD_MAX; i++) {
        atomic_init(&da->slots[i].tag, tag_of(0, SLOT_EMPTY));
    }
    atomic_init(&da->job, 0);
    atomic_init(&da->by_worker, 0);
    da->worker_dec = ow_decoder_create();
    da->caller_dec = ow_decoder_create();
    pthread_mutex_init(&da->mu, NULL);
    pthread_cond_init(&da->cv, NULL);
    if (pthread_create(&da->thread, NULL, worker, da) != 0) {
        pthread_cond_destroy(&da->cv);
        pthread_mutex_destroy(&da->mu);
        ow_decoder_destroy(da->worker_dec);
        ow_decoder_destroy(da->caller_dec);
        free(da->slots);
        free(da);
        return NULL;
    }
    return da;
}

void ow_decode_ahead_destroy(struct ow_decode_ahead *da)
{
    if (da == NULL) {
        return;
    }
    pthread_mutex_lock(&da->mu);
    da->stop = true;
    pthread_cond_signal(&da->cv);
    pthread_mutex_unlock(&da->mu);
    pthread_join(da->thread, NULL);
    pthread_cond_destroy(&da->cv);
    pthread_mutex_destroy(&da->mu);
    ow_decoder_destroy(da->worker_dec);
    ow_decoder_destroy(da->caller_dec);
    free(da->arena);
    free(da->slots);
    free(da);
}

struct ow_decode_input *ow_decode_ahead_inputs(struct ow_decode_ahead *da)
{
    return da->inputs;
}

void ow_decode_ahead_begin(struct ow_decode_ahead *da, size_t n)
{
    uint64_t gen = ++da->gen;
    size_t need = 0;

    if (n > OW_DECODE_AHEAD_MAX) {
        abort(); /* a caller's bug: the chunk is larger than its array */
    }
    for (size_t i = 0; i < n; i++) {
        da->arena_at[i] = need;
        if (da->inputs[i].buf != NULL) {
            need += OW_DECODE_ARENA_BYTES(da->inputs[i].len);
        }
    }
    if (need > da->arena_cap) {
        /* No claim is held between chunks: nobody reads the old arena any more. */
        free(da->arena);
        da->arena_cap = need * 2;
        da->arena = ow_xmalloc(da->arena_cap);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned state = da->inputs[i].buf != NULL ? SLOT_TODO : SLOT_EMPTY;

        atomic_store_explicit(&da->slots[i].tag, tag_of(gen, state), memory_order_relaxed);
    }
    atomic_store_explicit(&da->job, gen << 16 | n, memory_order_release);
    pthread_mutex_lock(&da->mu);
    if (da->sleeping) {
        pthread_cond_signal(&da->cv);
    }
    pthread_mutex_unlock(&da->mu);
}

const struct ow_decoded *ow_decode_ahead_get(struct ow_decode_ahead *da, size_t i)
{
    struct slot *s = &da->slots[i];
    uint64_t t = atomic_load_explicit(&s->tag, memory_order_acquire);
    unsigned spins = 0;

    if (t == tag_of(da->gen, SLOT_EMPTY)) {
        return NULL; /* no buffer: nothing was to be decoded */
    }
    if (t == tag_of(da->gen, SLOT_TODO) &&
        atomic_compare_exchange_strong_explicit(&s->tag, &t, tag_of(da->gen, SLOT_CLAIMED),
                                                memory_order_acquire, memory_order_acquire)) {
        decode_slot(da, da->caller_dec, i);
        atomic_store_explicit(&s->tag, tag_of(da->gen, SLOT_DONE), memory_order_relaxed);
        da->by_caller++;
        return &s->d;
    }
    /* Done already, or the worker is on it. */
    while (t != tag_of(da->gen, SLOT_DONE)) {
        if (++spins < SPINS_BEFORE_YIELD) {
            cpu_relax();
        } else {
            sched_yield();
        }
        t = atomic_load_explicit(&s->tag, memory_order_acquire);
    }
    return &s->d;
}

const struct ow_decoded *ow_decode_ahead_peek(const struct ow_decode_ahead *da, size_t i)
{
    const struct slot *s = &da->slots[i];

    return atomic_load_explicit(&s->tag, memory_order_acquire) == tag_of(da->gen, SLOT_DONE) ? &s->d
                                                                                             : NULL;
}

void ow_decode_ahead_counts(const struct ow_decode_ahead *da, uint64_t *by_worker,
                            uint64_t *by_caller)
{
    *by_worker = atomic_load_explicit(&da->by_worker, memory_order_relaxed);
    *by_caller = da->by_caller;
}
