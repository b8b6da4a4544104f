/* gen_truth.c: expected.json, the snapshot figures (a subset) and alert ids the plan implies. */
#include "gen_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void ym_name(int ym, char *buf, size_t len)
{
    snprintf(buf, len, "%04d-%02d", ym / 12, ym % 12 + 1);
}

static json_t *percent(int64_t a, int64_t b)
{
    return b == 0 ? json_null() : json_real(100.0 * (double)a / (double)b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

struct alerts {
    json_t *rule[6]; /* exceeded, shortfall, no_forecast; sr then csr */
};

static const char *const rule_names[6] = {
    "sr_forecast_exceeded",  "sr_forecast_shortfall",  "sr_no_forecast",
    "csr_forecast_exceeded", "csr_forecast_shortfall", "csr_no_forecast",
};

/* One variance report (sr when @sr, else csr) of month @m. */
static json_t *variance(const struct ow_gen_month *m, bool sr, struct alerts *al)
{
    const struct ow_gen_party *pt = sr ? m->sr : m->csr;
    int np = sr ? OW_GEN_SR_PARTIES : OW_GEN_CSR_PARTIES;
    json_t *rep = json_object();
    json_t *by_party = json_object();
    json_t *over = json_array();
    json_t *under = json_array();
    json_t *nofc = json_array();
    int64_t actual = 0;
    int64_t forecast = 0;
    int64_t single = 0;
    int64_t batched = 0;
    int without = 0;
    char ym[16];
    char id[160];

    ym_name(m->ym, ym, sizeof(ym));
    for (int p = 0; p < np; p++) {
        bool has = pt[p].fc_all >= 0;
        int64_t fc = has ? pt[p].fc_all : 0;
        char name[16];
        json_t *o;

        for (int s = 0; sr && s < OW_GEN_SERVICES; s++) {
            if (pt[p].fc_svc[s] >= 0 && pt[p].fc_all < 0) {
                fc += pt[p].fc_svc[s];
            }
            has = has || pt[p].fc_svc[s] >= 0;
        }
        if (!has && pt[p].actual == 0) {
            continue;
        }
        snprintf(name, sizeof(name), sr ? "SUP-%04d" : "SUB-%02d", p + 1);
        actual += pt[p].actual;
        forecast += fc;
        single += pt[p].single;
        batched += pt[p].batched;
        o = json_pack("{sI sI sI so sb}", "actual", (json_int_t)pt[p].actual, "forecast",
                      (json_int_t)fc, "variance", (json_int_t)(pt[p].actual - fc),
                      "percent_of_forecast", percent(pt[p].actual, fc), "has_forecast", has);
        json_object_set_new(by_party, name, o);
        snprintf(id, sizeof(id), "/%s/party_id=%s", ym, name);
        if (!has) {
            without++;
            json_array_append_new(nofc, json_string(name));
            json_array_append_new(al->rule[sr ? 2 : 5],
                                  json_sprintf("%s%s", rule_names[sr ? 2 : 5], id));
        } else if (fc > 0 && pt[p].actual * 100 >= fc * 110) {
            json_array_append_new(over, json_string(name));
            json_array_append_new(al->rule[sr ? 0 : 3],
                                  json_sprintf("%s%s", rule_names[sr ? 0 : 3], id));
        } else if (fc > 0 && pt[p].actual * 100 <= fc * 90) {
            json_array_append_new(under, json_string(name));
            json_array_append_new(al->rule[sr ? 1 : 4],
                                  json_sprintf("%s%s", rule_names[sr ? 1 : 4], id));
        }
    }
    json_object_set_new(rep, "actual", json_integer(actual));
    json_object_set_new(rep, "forecast", json_integer(forecast));
    json_object_set_new(rep, "variance", json_integer(actual - forecast));
    json_object_set_new(rep, "percent_of_forecast", percent(actual, forecast));
    if (!sr) {
        json_object_set_new(rep, "single", json_integer(single));
        json_object_set_new(rep, "batched", json_integer(batched));
    }
    json_object_set_new(rep, "parties_without_forecast", json_integer(without));
    if (sr) {
        json_t *svc = json_object();

        json_object_set_new(rep, "by_region",
                            json_pack("{sI sI sI}", "north", (json_int_t)m->sr_region[0], "central",
                                      (json_int_t)m->sr_region[1], "south",
                                      (json_int_t)m->sr_region[2]));
        json_object_set_new(rep, "by_csp",
                            json_pack("{sI sI}", "csp_n", (json_int_t)m->sr_region[0], "csp_cs",
                                      (json_int_t)(m->sr_region[1] + m->sr_region[2])));
        for (int s = 0; s < OW_GEN_SERVICES; s++) {
            int64_t fc = 0;

            if (m->sr_service[s] == 0) {
                continue;
            }
            for (int p = 0; p < np; p++) {
                fc += pt[p].fc_svc[s] >= 0 ? pt[p].fc_svc[s] : 0;
            }
            json_object_set_new(svc, ow__gen_services[s],
                                json_pack("{sI sI}", "actual", (json_int_t)m->sr_service[s],
                                          "forecast", (json_int_t)fc));
        }
        json_object_set_new(rep, "by_service", svc);
    } else {
        json_object_set_new(rep, "by_region",
                            json_pack("{sI sI sI sI}", "north", (json_int_t)m->csr_region[0],
                                      "central", (json_int_t)m->csr_region[1], "south",
                                      (json_int_t)m->csr_region[2], "unknown",
                                      (json_int_t)m->csr_region[3]));
    }
    json_object_set_new(rep, "by_party", by_party);
    json_object_set_new(rep, "exceptions",
                        json_pack("{so so so}", "at_or_over_110", over, "at_or_under_90", under,
                                  "no_forecast", nofc));
    return rep;
}

static json_t *incidents(const struct ow_gen_month *m)
{
    json_t *sev = json_object();
    json_t *rdp = json_object();

    for (int s = 0; s < OW_GEN_SEVERITIES; s++) {
        const struct ow_gen_dvec *v = &m->ages[s];
        double *sorted = NULL;
        json_t *ages;
        char key[16];

        if (v->n == 0) {
            ages = json_pack("{sn sn sn}", "min", "median", "max");
        } else {
            sorted = malloc(v->n * sizeof(double));
            memcpy(sorted, v->v, v->n * sizeof(double));
            qsort(sorted, v->n, sizeof(double), cmp_double);
            ages = json_pack("{sf sf sf}", "min", sorted[0], "median",
                             v->n % 2 ? sorted[v->n / 2]
                                      : (sorted[v->n / 2 - 1] + sorted[v->n / 2]) / 2.0,
                             "max", sorted[v->n - 1]);
            free(sorted);
        }
        snprintf(key, sizeof(key), "%d", s + 1);
        json_object_set_new(sev, key,
                            json_pack("{sI so}", "count", (json_int_t)v->n, "age_days", ages));
    }
    for (int i = 0; i < OW_GEN_RDPS; i++) {
        char key[8];

        if (m->rdp[i][0] == 0 && m->rdp[i][1] == 0) {
            continue; /* listed only where this month saw it act */
        }
        snprintf(key, sizeof(key), "RDP-%c", 'A' + i);
        json_object_set_new(rdp, key,
                            json_pack("{sI sI sI}", "opened", (json_int_t)m->rdp[i][0], "resolved",
                                      (json_int_t)m->rdp[i][1], "open_at_end",
                                      (json_int_t)m->rdp[i][2]));
    }
    return json_pack("{sI sI sI sI si so so}", "opened", (json_int_t)m->inc_opened, "resolved",
                     (json_int_t)m->inc_resolved, "reopened", (json_int_t)m->inc_reopened,
                     "open_at_end", (json_int_t)m->inc_open_at_end, "unmatched", 0,
                     "resolved_by_severity", sev, "by_rdp", rdp);
}

static json_t *performance(const struct ow_gen *g, int mi)
{
    json_t *arr = json_array();

    for (int k = 0; k < OW_GEN_MEASURES; k++) {
        const struct ow_gen_measure *ms = &ow__gen_measures[k];
        const struct ow_gen_month *m = &g->month[mi];
        json_t *o = json_pack("{ss ss sI sI so}", "measure", ms->measure, "provider", ms->provider,
                              "met", (json_int_t)m->met[k], "total", (json_int_t)m->total[k],
                              "percent", percent(m->met[k], m->total[k]));
        int below = 0;
        const char *status = "met";

        if (ms->target_x10 >= 0) {
            for (int j = 0; j <= mi; j++) {
                /* met * 1000 < target_x10 * total: below the level, exactly */
                below += g->month[j].met[k] * 1000 < ms->target_x10 * g->month[j].total[k];
            }
            if (m->met[k] * 1000 < ms->minimum_x10 * m->total[k]) {
                status = "below_minimum";
            } else if (m->met[k] * 1000 < ms->target_x10 * m->total[k]) {
                status = "below_target";
            }
            json_object_set_new(o, "target", json_real(ms->target_x10 / 10.0));
            json_object_set_new(o, "minimum", json_real(ms->minimum_x10 / 10.0));
            json_object_set_new(o, "status", json_string(status));
            json_object_set_new(o, "months_below_target", json_integer(below));
        }
        json_object_set_new(o, "months_observed", json_integer(mi + 1));
        json_array_append_new(arr, o);
    }
    return json_pack("{so}", "measures", arr);
}

static json_t *problems(const struct ow_gen *g, int qi)
{
    const struct ow_gen_quarter *q = &g->quarter[qi];
    int64_t open = q->p_open[0] + q->p_open[1] + q->p_open[2];
    int64_t br = 0;

    for (int c = 0; c < OW_GEN_CATEGORIES; c++) {
        br += q->p_breaches[c];
    }
    return json_pack(
        "{s{sI sI sI sI} sI sI s{sI sI sI sI sI} sI}", "open_at_end", "under_investigation",
        (json_int_t)q->p_open[0], "pending", (json_int_t)q->p_open[1], "completed",
        (json_int_t)q->p_open[2], "total", (json_int_t)open, "created", (json_int_t)q->p_created,
        "created_previous_quarter", (json_int_t)(qi > 0 ? g->quarter[qi - 1].p_created : 0),
        "rca_breaches", "critical", (json_int_t)q->p_breaches[0], "high",
        (json_int_t)q->p_breaches[1], "medium", (json_int_t)q->p_breaches[2], "low",
        (json_int_t)q->p_breaches[3], "total", (json_int_t)br, "significant_open",
        (json_int_t)q->p_significant_open);
}

static json_t *month_row(const struct ow_gen_quarter *q, const int64_t *v)
{
    json_t *o = json_object();
    int64_t sum = 0;
    char key[16];

    for (int i = 0; i < 3; i++) {
        ym_name(q->y * 12 + (q->q - 1) * 3 + i, key, sizeof(key));
        json_object_set_new(o, key, json_integer(v[i]));
        sum += v[i];
    }
    json_object_set_new(o, "total", json_integer(sum));
    return o;
}

static json_t *ch_returns(const struct ow_gen_quarter *q)
{
    static const char *const csp_names[2] = {"csp_n", "csp_cs"};
    json_t *by_csp = json_object();
    json_t *by_region = json_object();
    int64_t closed[2] = {0, 0};
    int64_t su[2] = {0, 0};
    int64_t dcc[2] = {0, 0};
    int64_t all;

    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < 3; i++) {
            su[c] += q->ch_su[c][i];
            dcc[c] += q->ch_dcc[c][i];
        }
        closed[c] = su[c] + dcc[c];
    }
    all = closed[0] + closed[1];
    for (int c = 0; c < 2; c++) {
        json_t *faults = json_object();
        int64_t tot[3] = {0, 0, 0};

        for (int f = 0; f < OW_GEN_FAULTS; f++) {
            json_object_set_new(faults, ow__gen_faults[f], month_row(q, q->ch_faults[c][f]));
            for (int i = 0; i < 3; i++) {
                tot[i] += q->ch_faults[c][f][i];
            }
        }
        json_object_set_new(faults, "total", month_row(q, tot));
        json_object_set_new(by_csp, csp_names[c],
                            json_pack("{sI so sI sI so}", "closed", (json_int_t)closed[c],
                                      "share_percent", percent(closed[c], all), "service_user",
                                      (json_int_t)su[c], "dcc", (json_int_t)dcc[c], "dcc_faults",
                                      faults));
    }
    for (int r = 0; r < 3; r++) {
        json_object_set_new(by_region, ow__gen_regions[r],
                            json_pack("{sI sI sI}", "closed",
                                      (json_int_t)(q->ch_region[r][0] + q->ch_region[r][1]),
                                      "service_user", (json_int_t)q->ch_region[r][0], "dcc",
                                      (json_int_t)q->ch_region[r][1]));
    }
    return json_pack("{sI sI sI so so}", "closed", (json_int_t)all, "service_user",
                     (json_int_t)(su[0] + su[1]), "dcc", (json_int_t)(dcc[0] + dcc[1]), "by_csp",
                     by_csp, "by_region", by_region);
}

int ow__gen_truth_write(const struct ow_gen *g, const struct ow_gen_stats *stats, const char *path)
{
    json_t *root = json_object();
    json_t *snaps = json_object();
    json_t *bad = json_object();
    json_t *alerts = json_object();
    struct alerts al;
    char ym[16];
    int rc;

    for (int i = 0; i < 6; i++) {
        al.rule[i] = json_array();
    }
    for (int mi = 0; mi < g->opts.months; mi++) {
        const struct ow_gen_month *m = &g->month[mi];

        ym_name(m->ym, ym, sizeof(ym));
        json_object_set_new(snaps, ym,
                            json_pack("{s{so so so so}}", "reports", "csr_variance",
                                      variance(m, false, &al), "sr_variance",
                                      variance(m, true, &al), "rdp_incidents", incidents(m),
                                      "performance", performance(g, mi)));
    }
    for (int qi = 0; qi < g->nquarters; qi++) {
        char id[16];

        snprintf(id, sizeof(id), "%04d-Q%d", g->quarter[qi].y, g->quarter[qi].q);
        json_object_set_new(snaps, id,
                            json_pack("{s{so so}}", "reports", "problems", problems(g, qi),
                                      "ch_returns", ch_returns(&g->quarter[qi])));
    }
    for (int i = 0; i < 6; i++) {
        json_object_set_new(alerts, rule_names[i], al.rule[i]);
    }
    for (int b = 1; b < OW_GEN_BAD__COUNT; b++) {
        json_object_set_new(bad, ow__gen_bad_names[b], json_integer(stats->bad[b]));
    }
    ym_name(g->opts.start_ym, ym, sizeof(ym));
    json_object_set_new(root, "params",
                        json_pack("{sI ss si sf sb sb si}", "seed", (json_int_t)g->opts.seed,
                                  "start", ym, "months", g->opts.months, "scale", g->opts.scale,
                                  "invalid", g->opts.invalid, "duplicates", g->opts.duplicates,
                                  "disorder_minutes", g->opts.disorder_minutes));
    json_object_set_new(root, "events", json_integer(stats->lines));
    json_object_set_new(root, "valid",
                        json_integer(stats->lines - stats->duplicates - stats->dead_letters));
    json_object_set_new(root, "duplicates", json_integer(stats->duplicates));
    json_object_set_new(root, "dead_letters", json_integer(stats->dead_letters));
    json_object_set_new(root, "dead_letters_by_kind", bad);
    json_object_set_new(root, "snapshots", snaps);
    json_object_set_new(root, "alerts", alerts);
    rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(root);
    return rc == 0 ? 0 : -1;
}
