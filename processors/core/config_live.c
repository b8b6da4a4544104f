/* config_live.c: the configuration sections of the live daemon (Kafka, outputs, intervals,
 * HTTP), and the ${ENV} / file: expansion of configuration strings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"
#include "civil.h"
#include "config.h"

char *ow_config_expand(const char *value, char *why, size_t why_len)
{
    size_t cap = strlen(value) + 1;
    size_t len = 0;
    char *out;

    if (strncmp(value, "file:", 5) == 0) {
        FILE *f = fopen(value + 5, "r");
        size_t n;

        if (f == NULL) {
            snprintf(why, why_len, "cannot read %s: %s", value + 5, strerror(errno));
            return NULL;
        }
        out = ow_xmalloc(65536);
        n = fread(out, 1, 65535, f);
        fclose(f);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
            n--;
        }
        out[n] = '\0';
        return out;
    }
    out = ow_xmalloc(cap);
    for (const char *p = value; *p != '\0';) {
        const char *end;
        const char *env;
        size_t need;
        char name[256];

        if (p[0] != '$' || p[1] != '{' || (end = strchr(p + 2, '}')) == NULL ||
            (size_t)(end - p - 2) >= sizeof(name)) {
            if (len + 2 > cap) {
                cap *= 2;
                out = ow_xrealloc(out, cap);
            }
            out[len++] = *p++;
            continue;
        }
        memcpy(name, p + 2, (size_t)(end - p - 2));
        name[end - p - 2] = '\0';
        env = getenv(name);
        if (env == NULL) {
            snprintf(why, why_len, "environment variable %s is not set", name);
            free(out);
            return NULL;
        }
        need = strlen(env);
        if (len + need + 1 > cap) {
            cap = (len + need + 1) * 2;
            out = ow_xrealloc(out, cap);
        }
        memcpy(out + len, env, need);
        len += need;
        p = end + 1;
    }
    out[len] = '\0';
    return out;
}

static void parse_strlist(const json_t *v, void *dst, const char *path, struct ow_conf_errors *errs)
{
    struct ow_strlist *l = dst;
    char sub[300];
    char got[80];
    size_t i;
    json_t *item;

    if (!json_is_array(v) || json_array_size(v) == 0) {
        ow_conf_error(errs, path, "expected a non-empty array of strings, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    for (size_t k = 0; k < l->count; k++) {
        free(l->items[k]);
    }
    free(l->items);
    l->items = ow_xcalloc(json_array_size(v), sizeof(*l->items));
    l->count = 0;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            ow_conf_error(errs, sub, "expected a non-empty string, got %s",
                          ow_conf_describe(item, got, sizeof(got)));
            continue;
        }
        l->items[l->count++] = ow_xstrdup(json_string_value(item));
    }
}

static void free_strlist(void *dst)
{
    struct ow_strlist *l = dst;

    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i]);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static void parse_strpairs(const json_t *v, void *dst, const char *path,
                           struct ow_conf_errors *errs)
{
    struct ow_strpairs *p = dst;
    char sub[300];
    char got[80];
    char why[300];
    const char *key;
    json_t *item;

    if (!json_is_object(v)) {
        ow_conf_error(errs, path, "expected an object of strings, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    p->keys = ow_xcalloc(json_object_size(v) + 1, sizeof(*p->keys));
    p->values = ow_xcalloc(json_object_size(v) + 1, sizeof(*p->values));
    p->count = 0;
    json_object_foreach((json_t *)v, key, item)
    {
        char *expanded;

        snprintf(sub, sizeof(sub), "%s[\"%s\"]", path, key);
        if (!json_is_string(item)) {
            ow_conf_error(errs, sub, "expected a string, got %s",
                          ow_conf_describe(item, got, sizeof(got)));
            continue;
        }
        expanded = ow_config_expand(json_string_value(item), why, sizeof(why));
        if (expanded == NULL) {
            ow_conf_error(errs, sub, "%s", why); /* never the value: it may be a secret */
            continue;
        }
        p->keys[p->count] = ow_xstrdup(key);
        p->values[p->count++] = expanded;
    }
}

static void free_strpairs(void *dst)
{
    struct ow_strpairs *p = dst;

    for (size_t i = 0; i < p->count; i++) {
        free(p->keys[i]);
        free(p->values[i]);
    }
    free(p->keys);
    free(p->values);
    memset(p, 0, sizeof(*p));
}

/* A string that may come from ${ENV} or file:. */
static void parse_expanded(const json_t *v, void *dst, const char *path,
                           struct ow_conf_errors *errs)
{
    char got[80];
    char why[300];
    char *s;

    if (!json_is_string(v)) {
        ow_conf_error(errs, path, "expected a string, got %s",
                      ow_conf_describe(v, got, sizeof(got)));
        return;
    }
    s = ow_config_expand(json_string_value(v), why, sizeof(why));
    if (s == NULL) {
        ow_conf_error(errs, path, "%s", why);
        return;
    }
    free(*(char **)dst);
    *(char **)dst = s;
}

static void free_string(void *dst)
{
    free(*(char **)dst);
    *(char **)dst = NULL;
}

#define EXPANDED(n, st, m, d, h)                                                                   \
    OW_CONF_CUSTOM_SCHEMA(n, st, m, parse_expanded, free_string,                                   \
                          "string (\"${ENV}\", \"file:/path\")", d, h, "{\"type\": \"string\"}")

const struct ow_conf_field ow_config_kafka_map[] = {
    EXPANDED("brokers", struct ow_config_kafka, brokers, "\"localhost:9092\"",
             "bootstrap servers (bootstrap.servers)"),
    EXPANDED("group_id", struct ow_config_kafka, group_id, "\"opswatch\"", "consumer group"),
    OW_CONF_CUSTOM_SCHEMA(
        "input_topics", struct ow_config_kafka, input_topics, parse_strlist, free_strlist,
        "array of strings",
        "[\"dcc.incidents\", \"dcc.service-requests\", \"dcc.csr\", \"dcc.forecasts\", "
        "\"dcc.ch-returns\", \"dcc.problems\", \"dcc.performance\"]",
        "topics to consume; one topic may carry several event types",
        "{\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"string\", "
        "\"minLength\": 1}}"),
    OW_CONF_CUSTOM_SCHEMA(
        "properties", struct ow_config_kafka, properties, parse_strpairs, free_strpairs,
        "object of strings",
        "{\"client.id\": \"opswatch\", \"fetch.wait.max.ms\": \"5\", "
        "\"linger.ms\": \"0\"}",
        "librdkafka properties passed through (SASL, SSL, client.id...); values may "
        "be \"${ENV}\" or \"file:/path\"; never logged. fetch.wait.max.ms and "
        "linger.ms are tuned for alert latency, queued.min.messages (1000000) and "
        "queued.max.messages.kbytes (131072) for reading a backlog",
        "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}"),
    OW_CONF_INT("batch_max", struct ow_config_kafka, batch_max, 1, 1000000, "10000",
                "messages drained per turn of the loop"),
    OW_CONF_BOOL("exactly_once", struct ow_config_kafka, exactly_once, "false",
                 "outputs and input offsets commit in one Kafka transaction"),
    OW_CONF_BOOL("static_membership", struct ow_config_kafka, static_membership, "true",
                 "join the group as a static member (group.instance.id opswatch-<host>-<hash "
                 "of state_dir>, unless properties name one): a restart, after a crash too, "
                 "takes its partitions back at once instead of after session.timeout.ms"),
    {0},
};

const struct ow_conf_field ow_config_outputs_map[] = {
    OW_CONF_STR("alerts", struct ow_config_outputs, alerts, "\"opswatch.alerts\"",
                "alert topic (key alert_id)"),
    OW_CONF_STR("aggregates", struct ow_config_outputs, aggregates, "\"opswatch.aggregates\"",
                "aggregate update topic (key <window>/<report>)"),
    OW_CONF_STR("deadletter", struct ow_config_outputs, deadletter, "\"opswatch.deadletter\"",
                "dead-letter topic (key <topic>/<partition>/<offset>)"),
    OW_CONF_STR("snapshots", struct ow_config_outputs, snapshots, "\"opswatch.snapshots\"",
                "snapshot topic (key <window>)"),
    {0},
};

const struct ow_conf_field ow_config_live_map[] = {
    OW_CONF_DURATION("aggregate_interval", struct ow_config_live, aggregate_interval_us, 10000,
                     3600 * OW_US_PER_SEC, "\"1s\"",
                     "aggregate updates at most this often per key while they change"),
    OW_CONF_DURATION("idle_interval", struct ow_config_live, idle_interval_us, 0, OW_US_PER_DAY,
                     "\"30s\"",
                     "caught up and nothing new this long: the wall clock advances the "
                     "watermark"),
    OW_CONF_DURATION("stale_after", struct ow_config_live, stale_after_us, 0, 31 * OW_US_PER_DAY,
                     "\"6h\"",
                     "input_stale fires when a topic has had no event this long (0: off)"),
    OW_CONF_STR("state_dir", struct ow_config_live, state_dir, "\"/var/lib/opswatch\"",
                "where the state is saved"),
    OW_CONF_DURATION("checkpoint_interval", struct ow_config_live, checkpoint_interval_us, 10000,
                     3600 * OW_US_PER_SEC, "\"1s\"",
                     "save the state (then commit offsets) this often"),
    OW_CONF_SUB("input_stale", struct ow_config_live, input_stale, ow_rule_conf_map,
                "{\"severity\": \"warning\"}",
                "the input_stale rule: fires when a topic has had no event for stale_after of "
                "wall-clock time (the rule's threshold key is not used: stale_after sets the "
                "line), resolves when events resume; id input_stale/<month of the wall clock "
                "when it fired>/topic=<topic>"),
    {0},
};

const struct ow_conf_field ow_config_http_map[] = {
    OW_CONF_STR("listen", struct ow_config_http, listen, "\"127.0.0.1:8080\"",
                "HTTP address:port (/healthz, /readyz, /metrics, /api/v1/...); \"\" disables"),
    {0},
};
