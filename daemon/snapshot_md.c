/* snapshot_md.c: Markdown for people: thousands separators, one-decimal percentages, one
 * section per report, the SEC delivery table. */
#include "snapshot_md.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct buf {
    char *s;
    size_t len;
    size_t cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->s = ow_xrealloc(b->s, b->cap);
    }
}

/* 1204377 -> "1,204,377" */
static const char *thousands(json_int_t v, char *out, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%" PRId64, (int64_t)(v < 0 ? -v : v));
    size_t k = 0;

    if (v < 0 && k + 1 < len) {
        out[k++] = '-';
    }
    for (int i = 0; i < n && k + 2 < len; i++) {
        out[k++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1) {
            out[k++] = ',';
        }
    }
    out[k] = '\0';
    return out;
}

static const char *num(const json_t *v, char *out, size_t len)
{
    return json_is_integer(v) ? thousands(json_integer_value(v), out, len) : "-";
}

static const char *pct(const json_t *v, char *out, size_t len)
{
    if (!json_is_number(v)) {
        return "n/a";
    }
    snprintf(out, len, "%.1f%%", json_number_value(v));
    return out;
}

static const json_t *jpath2(const json_t *r, const char *a, const char *b)
{
    return json_object_get(json_object_get(r, a), b);
}

static void list_or_none(struct buf *b, const json_t *arr)
{
    size_t i;
    json_t *v;

    if (json_array_size(arr) == 0) {
        put(b, "none");
        return;
    }
    json_array_foreach(arr, i, v)
    {
        put(b, "%s%s", i ? ", " : "", json_string_value(v));
    }
}

static void variance_section(struct buf *b, const char *title, const char *noun, const char *who,
                             const json_t *r)
{
    char n1[40], n2[40], n3[40], p[24];
    const json_t *ex = json_object_get(r, "exceptions");
    const char *key;
    json_t *v;

    put(b, "\n## %s\n\n", title);
    put(b, "%s %s were sent against a forecast of %s: %s of the forecast. ",
        num(json_object_get(r, "actual"), n1, sizeof(n1)), noun,
        num(json_object_get(r, "forecast"), n2, sizeof(n2)),
        pct(json_object_get(r, "percent_of_forecast"), p, sizeof(p)));
    put(b, "%s %s sent %s without a forecast.\n\n",
        num(json_object_get(r, "parties_without_forecast"), n3, sizeof(n3)), who, noun);
    if (json_object_get(r, "single") != NULL) {
        put(b, "Single Device Certificate requests: %s; in Batched CSRs: %s.\n\n",
            num(json_object_get(r, "single"), n1, sizeof(n1)),
            num(json_object_get(r, "batched"), n2, sizeof(n2)));
    }
    if (json_object_get(r, "by_csp") != NULL) {
        const json_t *reg = json_object_get(r, "by_region");

        put(b, "CSP North: %s; CSP Central and South: %s (Central %s, South %s).\n\n",
            num(jpath2(r, "by_csp", "csp_n"), n1, sizeof(n1)),
            num(jpath2(r, "by_csp", "csp_cs"), n2, sizeof(n2)),
            num(json_object_get(reg, "central"), n3, sizeof(n3)),
            num(json_object_get(reg, "south"), p, sizeof(p)));
    }
    put(b, "- At or over the upper band: ");
    list_or_none(b, json_object_get(ex, "at_or_over_110"));
    put(b, "\n- At or under the lower band: ");
    list_or_none(b, json_object_get(ex, "at_or_under_90"));
    put(b, "\n- Without a forecast: ");
    list_or_none(b, json_object_get(ex, "no_forecast"));
    put(b,
        "\n\n| party | actual | forecast | variance | %% of forecast |\n|---|--:|--:|--:|--:|\n");
    json_object_foreach((json_t *)json_object_get(r, "by_party"), key, v)
    {
        put(b, "| %s | %s | %s | %s | %s |\n", key, num(json_object_get(v, "actual"), n1, 40),
            num(json_object_get(v, "forecast"), n2, 40),
            num(json_object_get(v, "variance"), n3, 40),
            pct(json_object_get(v, "percent_of_forecast"), p, sizeof(p)));
    }
    if (json_object_size(json_object_get(r, "by_service")) > 0) {
        put(b, "\n| service | actual | per-service forecast |\n|---|--:|--:|\n");
        json_object_foreach((json_t *)json_object_get(r, "by_service"), key, v)
        {
            put(b, "| %s | %s | %s |\n", key, num(json_object_get(v, "actual"), n1, 40),
                num(json_object_get(v, "forecast"), n2, 40));
        }
    }
}

static int64_t ival(const json_t *r, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(r, key));
}

static void incidents_section(struct buf *b, const json_t *r)
{
    char n1[40], n2[40], n3[40], n4[40];
    const json_t *sev = json_object_get(r, "resolved_by_severity");
    const char *key;
    json_t *v;

    put(b, "\n## RDP Incidents (AG 2.5.10)\n\n");
    put(b,
        "%s incidents were opened and %s resolved; %s were reopened. %s were open at the end "
        "of the month.",
        num(json_object_get(r, "opened"), n1, 40), num(json_object_get(r, "resolved"), n2, 40),
        num(json_object_get(r, "reopened"), n3, 40),
        num(json_object_get(r, "open_at_end"), n4, 40));
    if (ival(r, "unmatched") > 0) {
        put(b, " %s resolutions had no opening event in the data (opened before it began).",
            num(json_object_get(r, "unmatched"), n1, 40));
    }
    put(b, "\n\n| severity | resolved | age min (days) | median | max |\n|---|--:|--:|--:|--:|\n");
    json_object_foreach((json_t *)sev, key, v)
    {
        const json_t *age = json_object_get(v, "age_days");
        char a[3][24];
        const char *names[3] = {"min", "median", "max"};

        for (int i = 0; i < 3; i++) {
            const json_t *x = json_object_get(age, names[i]);

            if (json_is_number(x)) {
                snprintf(a[i], sizeof(a[i]), "%.1f", json_number_value(x));
            } else {
                snprintf(a[i], sizeof(a[i]), "-");
            }
        }
        put(b, "| %s | %s | %s | %s | %s |\n", key, num(json_object_get(v, "count"), n1, 40), a[0],
            a[1], a[2]);
    }
    if (json_object_size(json_object_get(r, "by_rdp")) > 0) {
        put(b, "\n| RDP | opened | resolved | open at end |\n|---|--:|--:|--:|\n");
        json_object_foreach((json_t *)json_object_get(r, "by_rdp"), key, v)
        {
            put(b, "| %s | %s | %s | %s |\n", key, num(json_object_get(v, "opened"), n1, 40),
                num(json_object_get(v, "resolved"), n2, 40),
                num(json_object_get(v, "open_at_end"), n3, 40));
        }
    }
}

/* "1st", "2nd", "3rd", "11th" ... */
static const char *ordinal(int64_t n, char *out, size_t len)
{
    const char *suffix = "th";

    if (n % 100 < 11 || n % 100 > 13) {
        suffix = n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
    }
    snprintf(out, len, "%" PRId64 "%s", n, suffix);
    return out;
}

static void performance_section(struct buf *b, const json_t *r)
{
    const json_t *measures = json_object_get(r, "measures");
    char p1[24], p2[24], p3[24], o[24];
    size_t i;
    json_t *m;

    put(b, "\n## Performance Measures (H13.4)\n\n");
    json_array_foreach(measures, i, m)
    {
        const char *status = json_string_value(json_object_get(m, "status"));
        const json_t *pc = json_object_get(m, "percent");

        if (status == NULL || !json_is_number(pc) ||
            (strcmp(status, "below_target") != 0 && strcmp(status, "below_minimum") != 0)) {
            continue;
        }
        put(b,
            "- %s (%s) was %.2f%%, below its %s Service Level for the %s time in %" PRId64
            " months.\n",
            json_string_value(json_object_get(m, "measure")),
            json_string_value(json_object_get(m, "provider")), json_number_value(pc),
            strcmp(status, "below_minimum") == 0 ? "Minimum" : "Target",
            ordinal(ival(m, "months_below_target"), o, sizeof(o)), ival(m, "months_observed"));
    }
    put(b, "\n| measure | provider | met | total | value | target | minimum | status | below "
           "target / observed months |\n|---|---|--:|--:|--:|--:|--:|---|--:|\n");
    json_array_foreach(measures, i, m)
    {
        char n1[40], n2[40];
        const json_t *st = json_object_get(m, "status");

        put(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %" PRId64 " / %" PRId64 " |\n",
            json_string_value(json_object_get(m, "measure")),
            json_string_value(json_object_get(m, "provider")),
            num(json_object_get(m, "met"), n1, 40), num(json_object_get(m, "total"), n2, 40),
            pct(json_object_get(m, "percent"), p1, sizeof(p1)),
            pct(json_object_get(m, "target"), p2, sizeof(p2)),
            pct(json_object_get(m, "minimum"), p3, sizeof(p3)),
            json_is_string(st) ? json_string_value(st) : "-", ival(m, "months_below_target"),
            ival(m, "months_observed"));
    }
}

static void problems_section(struct buf *b, const json_t *r)
{
    const json_t *open = json_object_get(r, "open_at_end");
    const json_t *rca = json_object_get(r, "rca_breaches");
    char n[6][40];

    put(b, "\n## Problems (AG 3.2)\n\n");
    put(b,
        "%s problems were created this quarter (%s the quarter before). %s were open at the "
        "end of the quarter: %s under investigation, %s pending (fix identified, not "
        "applied), %s completed (fix applied, awaiting confirmation).\n",
        num(json_object_get(r, "created"), n[0], 40),
        num(json_object_get(r, "created_previous_quarter"), n[1], 40),
        num(json_object_get(open, "total"), n[2], 40),
        num(json_object_get(open, "under_investigation"), n[3], 40),
        num(json_object_get(open, "pending"), n[4], 40),
        num(json_object_get(open, "completed"), n[5], 40));
    put(b,
        "\n| Root Cause Analysis target breached | critical | high | medium | low | total "
        "|\n|---|--:|--:|--:|--:|--:|\n| problems open at quarter end | %s | %s | %s | %s | "
        "%s |\n",
        num(json_object_get(rca, "critical"), n[0], 40),
        num(json_object_get(rca, "high"), n[1], 40), num(json_object_get(rca, "medium"), n[2], 40),
        num(json_object_get(rca, "low"), n[3], 40), num(json_object_get(rca, "total"), n[4], 40));
    put(b, "\n%s significant or impactful problems were open at the end of the quarter.\n",
        num(json_object_get(r, "significant_open"), n[0], 40));
}

static void fault_table(struct buf *b, const char *csp, const json_t *c)
{
    static const char *const faults[] = {"aerial",           "led",    "manufacturing_defect",
                                         "sm_han_interface", "sm_wan", "total"};
    static const char *const titles[] = {"Aerial",           "LED",    "Manufacturing Defect",
                                         "SM HAN Interface", "SM WAN", "**Total**"};
    const json_t *f = json_object_get(c, "dcc_faults");
    const json_t *total = json_object_get(f, "total");
    char n1[40];
    char n2[40];
    char n3[40];
    char pc[24];
    const char *month;
    json_t *v;

    put(b, "\n### %s: %s closed returns (%s of all), %s No Fault Found, %s DCC Fault Found\n\n",
        csp, num(json_object_get(c, "closed"), n1, 40),
        pct(json_object_get(c, "share_percent"), pc, sizeof(pc)),
        num(json_object_get(c, "service_user"), n2, 40), num(json_object_get(c, "dcc"), n3, 40));
    put(b, "| DCC fault |");
    json_object_foreach((json_t *)total, month, v)
    {
        put(b, " %s |", strcmp(month, "total") == 0 ? "**Total**" : month);
    }
    put(b, "\n|---|");
    for (size_t i = 0; i < json_object_size(total); i++) {
        put(b, "--:|");
    }
    put(b, "\n");
    for (size_t i = 0; i < sizeof(faults) / sizeof(*faults); i++) {
        const json_t *row = json_object_get(f, faults[i]);

        put(b, "| %s |", titles[i]);
        json_object_foreach((json_t *)total, month, v)
        {
            put(b, " %s |", num(json_object_get(row, month), n1, 40));
        }
        put(b, "\n");
    }
}

static void ch_returns_section(struct buf *b, const json_t *r)
{
    const json_t *by_csp = json_object_get(r, "by_csp");
    char n[4][40];

    put(b, "\n## Communications Hub returns (F9.15)\n\n");
    put(b,
        "%s returned hubs were closed this quarter: %s attributed to Service Users (No Fault "
        "Found) and %s to the DCC (Fault Found). %s disputed records are left out until "
        "their disputes are resolved.\n",
        num(json_object_get(r, "closed"), n[0], 40),
        num(json_object_get(r, "service_user"), n[1], 40), num(json_object_get(r, "dcc"), n[2], 40),
        num(json_object_get(r, "disputed_open"), n[3], 40));
    fault_table(b, "CSP North", json_object_get(by_csp, "csp_n"));
    fault_table(b, "CSP Central and South", json_object_get(by_csp, "csp_cs"));
}

static void generic_section(struct buf *b, const char *name, const json_t *r)
{
    char *text = json_dumps(r, JSON_INDENT(2));

    put(b, "\n## %s\n\n```json\n%s\n```\n", name, text ? text : "{}");
    free(text);
}

static void alerts_section(struct buf *b, const json_t *alerts)
{
    size_t i;
    json_t *a;

    put(b, "\n## Alerts in this window\n\n");
    if (json_array_size(alerts) == 0) {
        put(b, "None fired.\n");
        return;
    }
    put(b, "| alert | severity | now | message |\n|---|---|---|---|\n");
    json_array_foreach(alerts, i, a)
    {
        put(b, "| %s | %s | %s | %s |\n", json_string_value(json_object_get(a, "alert_id")),
            json_string_value(json_object_get(a, "severity")),
            json_string_value(json_object_get(a, "state")),
            json_string_value(json_object_get(a, "message")));
    }
}

/* Leaves that differ between two revisions, as "path: old -> new". */
static void diff(struct buf *b, const char *path, const json_t *old, const json_t *now, int *n)
{
    char sub[512];
    const char *key;
    json_t *v;

    if (*n >= 60) {
        return;
    }
    if (json_is_object(now) && json_is_object(old)) {
        json_object_foreach((json_t *)now, key, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
            diff(b, sub, json_object_get(old, key), v, n);
        }
        return;
    }
    if (old != NULL && json_equal((json_t *)old, (json_t *)now)) {
        return;
    }
    if (json_is_object(now) || json_is_array(now)) {
        put(b, "- `%s` changed\n", path);
    } else {
        char *o = old ? json_dumps(old, JSON_ENCODE_ANY) : NULL;
        char *w = json_dumps(now, JSON_ENCODE_ANY);

        put(b, "- `%s`: %s -> %s\n", path, o ? o : "(absent)", w ? w : "?");
        free(o);
        free(w);
    }
    (*n)++;
}

char *ow_snapshot_markdown(const json_t *snap, const json_t *prev)
{
    struct buf b = {ow_xmalloc(4096), 0, 4096};
    const json_t *reports = json_object_get(snap, "reports");
    const char *name;
    json_t *r;

    b.s[0] = '\0';
    put(&b, "# opswatch snapshot %s\n\n", json_string_value(json_object_get(snap, "window")));
    put(&b,
        "%s to %s (%s). Revision %" JSON_INTEGER_FORMAT "%s, %" JSON_INTEGER_FORMAT
        " late events.\n",
        json_string_value(json_object_get(snap, "start")),
        json_string_value(json_object_get(snap, "end")),
        json_string_value(json_object_get(snap, "timezone")),
        json_integer_value(json_object_get(snap, "revision")),
        json_is_true(json_object_get(snap, "final")) ? " (final)" : " (open: figures may change)",
        json_integer_value(json_object_get(snap, "late_events")));
    if (prev != NULL) {
        int n = 0;

        put(&b, "\n## Changed since revision %" JSON_INTEGER_FORMAT "\n\n",
            json_integer_value(json_object_get(prev, "revision")));
        diff(&b, "", json_object_get(prev, "reports"), reports, &n);
        if (n == 0) {
            put(&b, "No figure changed.\n");
        }
    }
    put(&b, "\n## Delivery per SEC\n\n| report | SEC | due |\n|---|---|---|\n");
    json_object_foreach((json_t *)reports, name, r)
    {
        const json_t *due = json_object_get(r, "due");

        put(&b, "| %s | %s | %s |\n", name, json_string_value(json_object_get(r, "sec_ref")),
            json_is_string(due) ? json_string_value(due) : "no SEC deadline");
    }
    json_object_foreach((json_t *)reports, name, r)
    {
        if (strcmp(name, "csr_variance") == 0) {
            variance_section(&b, "CSR Variance (L8.9)", "CSRs", "Authorised Subscribers", r);
        } else if (strcmp(name, "sr_variance") == 0) {
            variance_section(&b, "Service Request Variance (H3.24)", "Service Requests", "Users",
                             r);
        } else if (strcmp(name, "rdp_incidents") == 0) {
            incidents_section(&b, r);
        } else if (strcmp(name, "performance") == 0) {
            performance_section(&b, r);
        } else if (strcmp(name, "problems") == 0) {
            problems_section(&b, r);
        } else if (strcmp(name, "ch_returns") == 0) {
            ch_returns_section(&b, r);
        } else {
            generic_section(&b, name, r);
        }
    }
    alerts_section(&b, json_object_get(snap, "alerts"));
    return b.s;
}
