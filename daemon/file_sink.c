/* file_sink.c: writes the four output streams of a replay as files. */
#include "file_sink.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "snapshot_md.h"
#include "strmap.h"

struct ow_file_sink {
    struct ow_sink sink;
    char *dir;
    struct ow_strmap *written;     /* windows whose snapshot this run wrote */
    FILE *files[OW_STREAM__COUNT]; /* snapshots have no stream file */
    bool write_failed;
    char failed_path[4200];
    int failed_errno;
};

static void note_failure(struct ow_file_sink *fs, const char *path)
{
    if (!fs->write_failed) {
        fs->write_failed = true;
        fs->failed_errno = errno;
        snprintf(fs->failed_path, sizeof(fs->failed_path), "%s", path);
    }
}

/* Write @text to @path via a temporary file and rename, so a reader never sees half a file. */
static void write_file(struct ow_file_sink *fs, const char *path, const char *text)
{
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        note_failure(fs, tmp);
        return;
    }
    if (fputs(text, f) == EOF || fputc('\n', f) == EOF) {
        note_failure(fs, tmp);
    }
    if (fclose(f) != 0) {
        note_failure(fs, tmp);
    }
    if (rename(tmp, path) != 0) {
        note_failure(fs, path);
    }
}

static void write_snapshot(struct ow_file_sink *fs, const char *key, json_t *rec)
{
    char path[4096];
    char *text = json_dumps(rec, JSON_INDENT(2));
    json_t *prev;
    char *md;

    /* The previous revision, if this replay wrote one, for the Markdown's list of changes. */
    snprintf(path, sizeof(path), "%s/snapshots/%s.json", fs->dir, key);
    prev = fs->written && ow_strmap_get(fs->written, key, strlen(key))
               ? json_load_file(path, 0, NULL)
               : NULL;
    md = ow_snapshot_markdown(rec, prev);
    json_decref(prev);
    ow_strmap_upsert(fs->written, key, strlen(key), NULL);
    write_file(fs, path, text);
    snprintf(path, sizeof(path), "%s/snapshots/%s.md", fs->dir, key);
    write_file(fs, path, md);
    free(md);
    free(text);
}

static int file_emit(struct ow_sink *sink, enum ow_stream stream, const char *key, json_t *rec)
{
    struct ow_file_sink *fs = sink->ctx;
    FILE *f = fs->files[stream];

    if (stream == OW_STREAM_SNAPSHOTS) {
        write_snapshot(fs, key, rec);
    } else if (json_dumpf(rec, f, JSON_COMPACT) != 0 || fputc('\n', f) == EOF) {
        note_failure(fs, ow_stream_name(stream));
    }
    json_decref(rec);
    return fs->write_failed ? OW_EIO : OW_OK;
}

static int make_dir(const char *path, struct ow_err *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return ow_err_set(err, OW_EIO, path, "cannot create folder: %s", strerror(errno));
    }
    return OW_OK;
}

struct ow_file_sink *ow_file_sink_create(const char *dir, struct ow_err *err)
{
    struct ow_file_sink *fs = ow_xcalloc(1, sizeof(*fs));
    static const char *const names[] = {"alerts.jsonl", "aggregates.jsonl", "deadletter.jsonl"};
    char path[4096];

    fs->dir = ow_xstrdup(dir);
    fs->written = ow_strmap_create(1);
    fs->sink.emit = file_emit;
    fs->sink.ctx = fs;
    snprintf(path, sizeof(path), "%s/snapshots", dir);
    if (make_dir(dir, err) != OW_OK || make_dir(path, err) != OW_OK) {
        goto out_fail;
    }
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[s]);
        fs->files[s] = fopen(path, "w");
        if (fs->files[s] == NULL) {
            ow_err_set(err, OW_EIO, path, "cannot open for writing: %s", strerror(errno));
            goto out_fail;
        }
    }
    return fs;
out_fail:
    ow_file_sink_destroy(fs);
    return NULL;
}

struct ow_sink *ow_file_sink_sink(struct ow_file_sink *fs)
{
    return &fs->sink;
}

int ow_file_sink_close(struct ow_file_sink *fs, struct ow_err *err)
{
    for (int s = 0; s < OW_STREAM__COUNT; s++) {
        if (fs->files[s] != NULL) {
            if (fclose(fs->files[s]) != 0) {
                note_failure(fs, ow_stream_name(s));
            }
            fs->files[s] = NULL;
        }
    }
    if (fs->write_failed) {
        return ow_err_set(err, OW_EIO, fs->failed_path, "write failed: %s",
                          strerror(fs->failed_errno));
    }
    return OW_OK;
}

void ow_file_sink_destroy(struct ow_file_sink *fs)
{
    if (fs == NULL) {
        return;
    }
    ow_file_sink_close(fs, NULL);
    free(fs->dir);
    ow_strmap_destroy(fs->written, NULL);
    free(fs);
}
