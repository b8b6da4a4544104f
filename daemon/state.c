/* state.c: checkpoints in a folder: an append-only id log and an atomically replaced
 * state.json (see state.h). */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Inline XXH64: a restore checks 10M records of 40 bytes, where the call cost shows. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"

#define RECORD_BYTES 48
#define STATE_FORMAT 1

/* One remembered id on disk: key, content, time, and a checksum of those 40 bytes. */
struct record {
    uint64_t key[2];
    uint64_t content[2];
    int64_t occurred_us;
    uint64_t check;
};

/* What a save takes from the engine on the loop thread (prepare), for the file half (write),
 * which touches nothing else the loop uses: the id logs, state.json, and this job. */
struct save_job {
    bool prepared;
    json_t *doc;     /* state.json but its "ids", serialised by the write (off the loop) */
    bool compacted;  /* this save rewrites the log, from the log, as ids-<gen + 1>.log */
    int64_t edge_us; /* then: records older than this are past the span, and dropped */
    int64_t gen;     /* of the id log this save commits */
    uint64_t bytes;  /* its committed length after this save (a compaction knows it at write) */
    uint64_t compacted_bytes; /* its length when its compaction wrote it */
    uint64_t taken;           /* ids copied from the engine at prepare */
    size_t written;           /* bytes written */
    double started_ms;
    double prepare_ms;
    int rc;
    struct ow_err err;
};

struct ow_state {
    char *dir;
    int lock_fd;
    int log_fd;             /* the current id log, opened for appending */
    int64_t gen;            /* its number */
    uint64_t committed;     /* its length as of the last committed save */
    uint64_t compacted;     /* its length when a compaction wrote it (0: never compacted) */
    struct record *pending; /* drained from the engine, not yet committed */
    size_t npending;
    size_t cap_pending;
    struct ow_state_stats stats;
    struct save_job job; /* the save between prepare and finish */
};

static void job_clear(struct save_job *job)
{
    json_decref(job->doc);
    memset(job, 0, sizeof(*job));
}

static uint64_t record_check(const struct record *r)
{
    return XXH64(r, offsetof(struct record, check), 0x6f70737761746368ULL);
}

static void path_of(const struct ow_state *st, char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", st->dir, name);
}

static void log_path(const struct ow_state *st, int64_t gen, char *buf, size_t len)
{
    snprintf(buf, len, "%s/ids-%" PRId64 ".log", st->dir, gen);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int io_err(struct ow_err *err, const char *path, const char *what)
{
    return ow_err_set(err, OW_EIO, path, "%s: %s", what, strerror(errno));
}

static int fsync_dir(const struct ow_state *st, struct ow_err *err)
{
    int fd = open(st->dir, O_RDONLY | O_DIRECTORY);
    int rc = OW_OK;

    if (fd < 0 || fsync(fd) != 0) {
        rc = io_err(err, st->dir, "fsync of the folder");
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

static int open_log(struct ow_state *st, struct ow_err *err)
{
    char path[4200];

    if (st->log_fd >= 0) {
        close(st->log_fd);
    }
    log_path(st, st->gen, path, sizeof(path));
    st->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (st->log_fd < 0) {
        return io_err(err, path, "cannot open");
    }
    return OW_OK;
}

struct ow_state *ow_state_open(const char *dir, struct ow_err *err)
{
    struct ow_state *st = ow_xcalloc(1, sizeof(*st));
    char path[4200];

    st->dir = ow_xstrdup(dir);
    st->lock_fd = -1;
    st->log_fd = -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        io_err(err, dir, "cannot create the state folder");
        goto out_fail;
    }
    path_of(st, path, sizeof(path), "LOCK");
    st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->lock_fd < 0) {
        io_err(err, path, "cannot open");
        goto out_fail;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ow_err_set(err, OW_EIO, dir, "the state folder is in use by another opswatchd");
        goto out_fail;
    }
    return st;
out_fail:
    ow_state_close(st);
    return NULL;
}

void ow_state_close(struct ow_state *st)
{
    if (st == NULL) {
        return;
    }
    if (st->log_fd >= 0) {
        close(st->log_fd);
    }
    if (st->lock_fd >= 0) {
        close(st->lock_fd); /* releases the flock */
    }
    job_clear(&st->job);
    free(st->pending);
    free(st->dir);
    free(st);
}

/* Records a compaction reads and checks at a time: 192 KiB. */
#define LOAD_BLOCK 4096

_Static_assert(sizeof(struct record) == RECORD_BYTES, "struct record is the record on disk");

/* Read @len bytes into @buf. @returns 0, -1 on an error (errno set), or 1 if the file ends
 * first. */
static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t got = read(fd, p, len);

        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return got < 0 ? -1 : 1;
        }
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

/* ow_dedup_load's reader over the mapped log: verify each record's checksum (the first time)
 * and copy it, up to the first bad one. */
static size_t read_records(void *arg, size_t from, size_t count, bool again,
                           struct ow_dedup_entry *out)
{
    const struct record *recs = (const struct record *)arg + from;

    for (size_t i = 0; i < count; i++) {
        const struct record *r = &recs[i];

        if (!again && r->check != record_check(r)) {
            return i;
        }
        out[i].key.h[0] = r->key[0];
        out[i].key.h[1] = r->key[1];
        out[i].content[0] = r->content[0];
        out[i].content[1] = r->content[1];
        out[i].occurred_us = r->occurred_us;
    }
    return count;
}

/* Load the committed part of the id log into @eng. The log is mapped, not read: the load reads
 * each record twice, from two threads (see ow_dedup_load), with no copy into buffers. Records
 * before a corrupt one are restored, none after it. */
static int load_ids(struct ow_state *st, struct ow_engine *eng, struct ow_err *err)
{
    char path[4200];
    struct stat sb;
    uint64_t total = st->committed / RECORD_BYTES;
    uint64_t n;
    void *map;
    int fd;

    log_path(st, st->gen, path, sizeof(path));
    if (stat(path, &sb) != 0) {
        return st->committed == 0 ? OW_OK : io_err(err, path, "the id log is missing");
    }
    if ((uint64_t)sb.st_size < st->committed) {
        return ow_err_set(err, OW_EINVAL, path,
                          "truncated: %lld bytes, but %" PRIu64 " were committed",
                          (long long)sb.st_size, st->committed);
    }
    if ((uint64_t)sb.st_size > st->committed && truncate(path, (off_t)st->committed) != 0) {
        return io_err(err, path, "cannot cut the uncommitted tail");
    }
    st->stats.ids_logged = 0;
    if (total == 0) {
        return OW_OK;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return io_err(err, path, "cannot read");
    }
    map = mmap(NULL, total * RECORD_BYTES, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return io_err(err, path, "cannot map");
    }
    (void)madvise(map, total * RECORD_BYTES, MADV_SEQUENTIAL); /* advice only: readahead */
    n = ow_engine_load_ids(eng, (size_t)total, read_records, map);
    munmap(map, total * RECORD_BYTES);
    st->stats.ids_logged = n;
    if (n < total) {
        return ow_err_set(err, OW_EINVAL, path,
                          "record %" PRIu64 " (byte %" PRIu64 ") is corrupt: checksum mismatch", n,
                          n * RECORD_BYTES);
    }
    return OW_OK;
}

/* Remove id logs other than the current one (left by a compaction). */
static void remove_old_logs(struct ow_state *st)
{
    char path[4200];

    for (int64_t g = st->gen - 1; g >= 0 && g >= st->gen - 4; g--) {
        log_path(st, g, path, sizeof(path));
        unlink(path);
    }
}

int ow_state_load(struct ow_state *st, struct ow_engine *eng, json_t **daemon, struct ow_err *err)
{
    char path[4200];
    json_error_t jerr;
    json_t *doc;
    const json_t *ids;
    int rc;

    *daemon = NULL;
    path_of(st, path, sizeof(path), "state.json");
    if (access(path, F_OK) != 0) {
        st->gen = 0;
        st->committed = 0;
        st->compacted = 0;
        return open_log(st, err); /* a new folder */
    }
    doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        return ow_err_set(err, OW_EINVAL, path, "corrupt: %s (line %d)", jerr.text, jerr.line);
    }
    ids = json_object_get(doc, "ids");
    if (json_integer_value(json_object_get(doc, "format")) != STATE_FORMAT ||
        !json_is_integer(json_object_get(ids, "gen")) ||
        !json_is_integer(json_object_get(ids, "bytes")) ||
        json_integer_value(json_object_get(ids, "bytes")) % RECORD_BYTES != 0) {
        json_decref(doc);
        return ow_err_set(err, OW_EINVAL, path, "not an opswatch state of format %d", STATE_FORMAT);
    }
    st->gen = json_integer_value(json_object_get(ids, "gen"));
    st->committed = (uint64_t)json_integer_value(json_object_get(ids, "bytes"));
    /* absent (0) in saves made before it was recorded: the next compaction sets it */
    st->compacted = (uint64_t)json_integer_value(json_object_get(ids, "compacted_bytes"));
    rc = ow_engine_restore(eng, json_object_get(doc, "engine"), err);
    if (rc == OW_OK) {
        rc = load_ids(st, eng, err);
    }
    if (rc == OW_OK) {
        rc = open_log(st, err);
    }
    if (rc == OW_OK) {
        remove_old_logs(st);
        *daemon = json_incref(json_object_get(doc, "daemon"));
    }
    json_decref(doc);
    return rc;
}

static void take_id(void *arg, struct ow_dedup_key key, const uint64_t content[2],
                    int64_t occurred_us)
{
    struct ow_state *st = arg;
    struct record *r;

    if (st->npending == st->cap_pending) {
        st->cap_pending = st->cap_pending ? st->cap_pending * 2 : 4096;
        st->pending = ow_xrealloc(st->pending, st->cap_pending * sizeof(*st->pending));
    }
    r = &st->pending[st->npending++];
    r->key[0] = key.h[0];
    r->key[1] = key.h[1];
    r->content[0] = content[0];
    r->content[1] = content[1];
    r->occurred_us = occurred_us;
}

/* The checksums of the pending ids, here on the saver thread: a hash per id was 2 to 3% of the
 * loop thread's time in a backlog (perf, bench_live). The loop leaves the pending ids alone
 * from prepare to finish, and a retry after a failed save only computes them again. */
static void check_pending(struct ow_state *st)
{
    for (size_t i = 0; i < st->npending; i++) {
        st->pending[i].check = record_check(&st->pending[i]);
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Append the pending ids (the log is cut back by the caller on failure). */
static int append_pending(struct ow_state *st, struct ow_err *err)
{
    char path[4200];
    size_t len = st->npending * RECORD_BYTES;

    log_path(st, st->gen, path, sizeof(path));
    if ((len > 0 && write_all(st->log_fd, st->pending, len) != 0) || fsync(st->log_fd) != 0) {
        return io_err(err, path, "cannot append the new ids");
    }
    st->job.bytes = st->committed + len;
    return OW_OK;
}

/* Rewrite the log as ids-<gen + 1>.log from the log itself, here on the saver thread: its
 * committed records not past the span (the edge taken at prepare), read and checked in blocks
 * as a load does, then the pending ids. A corrupt record fails the save (a load would refuse
 * that log too): neither dropped nor copied. Written to a .tmp, fsynced, renamed; the
 * state.json that follows commits it, and the pending ids stay in their buffer until then. */
static int write_compacted(struct ow_state *st, struct ow_err *err)
{
    struct save_job *job = &st->job;
    char old[4200];
    char path[4200];
    char tmp[4300];
    struct record *recs = ow_xmalloc(LOAD_BLOCK * sizeof(*recs));
    uint64_t total = st->committed / RECORD_BYTES;
    uint64_t n = 0;
    uint64_t kept = 0;
    int in = -1;
    int out;
    int rc = OW_OK;

    log_path(st, st->gen, old, sizeof(old));
    log_path(st, job->gen, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = io_err(err, tmp, "cannot write the compacted id log");
        goto out_free;
    }
    if (total > 0 && (in = open(old, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = io_err(err, old, "cannot read the id log to compact it");
        goto out_unlink;
    }
    if (in >= 0) {
        (void)posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    while (n < total) {
        size_t len = total - n < LOAD_BLOCK ? (size_t)(total - n) : LOAD_BLOCK;
        size_t keep = 0;
        int got = read_full(in, recs, len * RECORD_BYTES);

        if (got != 0) {
            rc = got < 0 ? io_err(err, old, "read failed while compacting")
                         : ow_err_set(err, OW_EIO, old,
                                      "read failed while compacting: the file ends before "
                                      "record %" PRIu64,
                                      n);
            goto out_unlink;
        }
        for (size_t i = 0; i < len; i++) {
            if (recs[i].check != record_check(&recs[i])) {
                rc = ow_err_set(err, OW_EINVAL, old,
                                "cannot compact: record %" PRIu64 " (byte %" PRIu64
                                ") is corrupt: checksum mismatch",
                                n + i, (n + i) * RECORD_BYTES);
                goto out_unlink;
            }
            if (recs[i].occurred_us >= job->edge_us) {
                recs[keep++] = recs[i];
            }
        }
        if (write_all(out, recs, keep * RECORD_BYTES) != 0) {
            rc = io_err(err, tmp, "cannot write the compacted id log");
            goto out_unlink;
        }
        kept += keep;
        n += len;
    }
    if (write_all(out, st->pending, st->npending * RECORD_BYTES) != 0 || fsync(out) != 0 ||
        rename(tmp, path) != 0) {
        rc = io_err(err, tmp, "cannot write the compacted id log");
        goto out_unlink;
    }
    job->bytes = (kept + st->npending) * RECORD_BYTES;
    job->compacted_bytes = job->bytes;
    job->written = job->bytes;
    goto out_close;
out_unlink:
    unlink(tmp);
out_close:
    if (in >= 0) {
        close(in);
    }
    close(out);
out_free:
    free(recs);
    return rc;
}

static int write_state_json(struct ow_state *st, struct ow_err *err)
{
    char path[4200];
    char tmp[4300];
    char *text = st->job.doc != NULL ? json_dumps(st->job.doc, JSON_COMPACT) : NULL;
    int fd;
    int rc = OW_OK;

    path_of(st, path, sizeof(path), "state.json");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || text == NULL || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        rc = io_err(err, tmp, "cannot write");
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == OW_OK && rename(tmp, path) != 0) {
        rc = io_err(err, path, "cannot replace");
    }
    if (rc == OW_OK) {
        rc = fsync_dir(st, err);
    }
    st->job.written += text != NULL ? strlen(text) : 0;
    free(text);
    return rc;
}

/* The loop's part: the new ids (copied, they are few) and the state tree. A compaction only
 * decides here, and takes the span's edge: the write reads the old log, so the loop never
 * walks the remembered ids. */
void ow_state_save_prepare(struct ow_state *st, struct ow_engine *eng, const json_t *daemon)
{
    struct save_job *job = &st->job;
    struct ow_dedup_stats ds;
    size_t before = st->npending;
    uint64_t logged;
    uint64_t keeps;

    job_clear(job);
    job->started_ms = now_ms();
    ow_engine_journal_drain(eng, take_id, st);
    ow_engine_dedup_stats(eng, &ds);
    job->gen = st->gen;
    job->bytes = st->committed + st->npending * RECORD_BYTES;
    job->compacted_bytes = st->compacted;
    /* Compact when the log holds more than twice what a compaction would keep. Ids the table
     * forgot early (its memory bound) are in the log and not past the span, so a compaction
     * keeps them: weighed against the live ids alone, such a log would compact at every save;
     * hence also against the last compacted length. (A load inserts those ids again and the
     * bound forgets the oldest again, as it did here.) */
    logged = st->committed / RECORD_BYTES + st->npending;
    keeps = ds.ids > st->compacted / RECORD_BYTES ? ds.ids : st->compacted / RECORD_BYTES;
    if (logged > 2 * keeps + 100000) {
        job->compacted = true;
        job->gen = st->gen + 1;
        job->edge_us = ow_engine_dedup_edge_us(eng);
    }
    /* Why the text is made by the write: dumping megabytes of alert states took tens of ms on
     * the loop. The tree is the save's own; the objects it shares with the engine (alert dims
     * and last records) are never changed after they are made, and jansson's reference counts
     * are atomic and its dump keeps no marks in the objects, so a dump on another thread is
     * safe while the loop goes on. Its "ids" are added by the write, which knows a compacted
     * log's length only once it has written it. */
    job->doc = json_pack("{s:i, s:o, s:O?}", "format", STATE_FORMAT, "engine", ow_engine_save(eng),
                         "daemon", daemon);
    job->taken = st->npending - before;
    job->prepared = true;
    job->prepare_ms = now_ms() - job->started_ms;
}

void ow_state_save_write(struct ow_state *st)
{
    struct save_job *job = &st->job;
    struct ow_err *err = &job->err;
    int rc;

    check_pending(st);
    if (job->compacted) {
        rc = write_compacted(st, err);
    } else {
        rc = append_pending(st, err);
        job->written = st->npending * RECORD_BYTES;
    }
    if (rc == OW_OK &&
        (job->doc == NULL ||
         json_object_set_new(job->doc, "ids",
                             json_pack("{s:I, s:I, s:I}", "gen", (json_int_t)job->gen, "bytes",
                                       (json_int_t)job->bytes, "compacted_bytes",
                                       (json_int_t)job->compacted_bytes)) != 0)) {
        rc = ow_err_set(err, OW_EIO, st->dir, "cannot build the state (out of memory?)");
    }
    if (rc == OW_OK) {
        rc = write_state_json(st, err);
    }
    if (rc != OW_OK) {
        /* Nothing is committed: remove or cut what this save wrote; the pending ids stay for
         * the next save. (A load cuts past the committed length anyway.) */
        if (job->compacted) {
            char path[4200];

            log_path(st, job->gen, path, sizeof(path));
            unlink(path);
        } else if (ftruncate(st->log_fd, (off_t)st->committed) != 0) {
            /* as above: the next load cuts the tail */
        }
    } else if (job->compacted) {
        st->gen = job->gen;
        remove_old_logs(st);
        rc = open_log(st, err);
    }
    job->rc = rc;
}

int ow_state_save_finish(struct ow_state *st, struct ow_err *err)
{
    struct save_job *job = &st->job;
    int rc = job->rc;

    if (!job->prepared) {
        return ow_err_set(err, OW_EINVAL, st->dir, "no save was prepared");
    }
    if (rc != OW_OK && !(job->compacted && st->gen == job->gen)) {
        *err = job->err;
        job_clear(job);
        return rc;
    }
    /* Committed (a compacted log whose reopening failed is committed too: report it). */
    st->stats.bytes_written = job->written;
    st->stats.ids_logged = job->bytes / RECORD_BYTES;
    st->stats.last_prepare_ids = job->taken;
    st->npending = 0;
    st->committed = job->bytes;
    st->compacted = job->compacted_bytes;
    if (job->compacted) {
        st->stats.compactions++;
    }
    st->stats.saves++;
    st->stats.last_save_ms = now_ms() - job->started_ms;
    st->stats.last_prepare_ms = job->prepare_ms;
    if (rc != OW_OK) {
        *err = job->err;
    }
    job_clear(job);
    return rc;
}

int ow_state_save(struct ow_state *st, struct ow_engine *eng, const json_t *daemon,
                  struct ow_err *err)
{
    ow_state_save_prepare(st, eng, daemon);
    ow_state_save_write(st);
    return ow_state_save_finish(st, err);
}

void ow_state_stats(const struct ow_state *st, struct ow_state_stats *out)
{
    *out = st->stats;
}
