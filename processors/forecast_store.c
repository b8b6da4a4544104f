/* forecast_store.c: latest-wins forecasts with running totals (see forecast_store.h). */
#include "forecast_store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* One party's forecasts for one month. */
struct party_fc {
    bool has_all;
    int64_t all;         /* all-services forecast */
    int64_t all_at;      /* its occurred_at */
    int64_t by_services; /* sum of its per-service forecasts */
    int64_t n_services;
    struct ow_strmap *services; /* service_ref -> struct service_fc; NULL until used */
};

struct service_fc {
    int64_t quantity;
    int64_t at;
};

struct month_fc {
    struct ow_strmap *parties;  /* party -> struct party_fc */
    struct ow_strmap *services; /* service_ref -> int64_t sum of per-service forecasts */
    int64_t total;              /* sum of the parties' forecasts */
};

struct ow_forecasts {
    struct ow_strmap *months; /* int month (4 bytes) -> struct month_fc */
};

static int64_t party_value(const struct party_fc *pf)
{
    return pf->has_all ? pf->all : pf->by_services;
}

struct ow_forecasts *ow_forecasts_create(void)
{
    struct ow_forecasts *fs = ow_xcalloc(1, sizeof(*fs));

    fs->months = ow_strmap_create(sizeof(struct month_fc));
    return fs;
}

static void free_party(void *v)
{
    struct party_fc *pf = v;

    ow_strmap_destroy(pf->services, NULL);
}

static void free_month(void *v)
{
    struct month_fc *m = v;

    ow_strmap_destroy(m->parties, free_party);
    ow_strmap_destroy(m->services, NULL);
}

void ow_forecasts_destroy(struct ow_forecasts *fs)
{
    if (fs == NULL) {
        return;
    }
    ow_strmap_destroy(fs->months, free_month);
    free(fs);
}

static struct month_fc *month_get(const struct ow_forecasts *fs, int month)
{
    return ow_strmap_get(fs->months, (const char *)&month, sizeof(month));
}

static int overflow(struct ow_err *err)
{
    return ow_err_set(err, OW_ESCHEMA, "forecast: field 'quantity'",
                      "a forecast total would overflow 64 bits");
}

int ow_forecasts_apply(struct ow_forecasts *fs, const struct ow_event *ev, bool use_service,
                       struct ow_err *err)
{
    bool created;
    struct month_fc *m =
        ow_strmap_upsert(fs->months, (const char *)&ev->period, sizeof(ev->period), &created);
    struct party_fc *pf;
    int64_t before;
    int64_t after;
    int64_t total;

    if (created) {
        m->parties = ow_strmap_create(sizeof(struct party_fc));
        m->services = ow_strmap_create(sizeof(int64_t));
    }
    pf = ow_strmap_upsert(m->parties, ev->party_id.p, ev->party_id.len, NULL);
    before = party_value(pf);
    if (!use_service || ev->service_ref.p == NULL) {
        if (pf->has_all && ev->occurred_us < pf->all_at) {
            return OW_OK; /* an older forecast: the newer one stands */
        }
        after = ev->quantity; /* an all-services forecast outranks per-service ones */
        if (__builtin_add_overflow(m->total - before, after, &total)) {
            return overflow(err);
        }
        pf->has_all = true;
        pf->all = ev->quantity;
        pf->all_at = ev->occurred_us;
        m->total = total;
        return OW_OK;
    } else {
        struct service_fc *sf;
        int64_t *svc_sum;
        int64_t old_qty;
        int64_t by_services;
        int64_t svc_total;

        if (pf->services == NULL) {
            pf->services = ow_strmap_create(sizeof(struct service_fc));
        }
        sf = ow_strmap_get(pf->services, ev->service_ref.p, ev->service_ref.len);
        if (sf != NULL && ev->occurred_us < sf->at) {
            return OW_OK;
        }
        old_qty = sf ? sf->quantity : 0;
        svc_sum = ow_strmap_get(m->services, ev->service_ref.p, ev->service_ref.len);
        if (__builtin_add_overflow(pf->by_services - old_qty, ev->quantity, &by_services) ||
            __builtin_add_overflow((svc_sum ? *svc_sum : 0) - old_qty, ev->quantity, &svc_total)) {
            return overflow(err);
        }
        after = pf->has_all ? pf->all : by_services;
        if (__builtin_add_overflow(m->total - before, after, &total)) {
            return overflow(err);
        }
        if (sf == NULL) {
            sf = ow_strmap_upsert(pf->services, ev->service_ref.p, ev->service_ref.len, NULL);
            pf->n_services++;
        }
        sf->quantity = ev->quantity;
        sf->at = ev->occurred_us;
        pf->by_services = by_services;
        svc_sum = ow_strmap_upsert(m->services, ev->service_ref.p, ev->service_ref.len, NULL);
        *svc_sum = svc_total;
        m->total = total;
        return OW_OK;
    }
}

bool ow_forecasts_party(const struct ow_forecasts *fs, int month, const char *party, size_t len,
                        int64_t *quantity)
{
    struct month_fc *m = month_get(fs, month);
    struct party_fc *pf = m ? ow_strmap_get(m->parties, party, len) : NULL;

    if (pf == NULL || (!pf->has_all && pf->n_services == 0)) {
        return false;
    }
    *quantity = party_value(pf);
    return true;
}

const struct ow_strmap *ow_forecasts_services(const struct ow_forecasts *fs, int month)
{
    struct month_fc *m = month_get(fs, month);

    return m ? m->services : NULL;
}

void ow_forecasts_drop(struct ow_forecasts *fs, int month)
{
    ow_strmap_remove(fs->months, (const char *)&month, sizeof(month), free_month);
}

/* ---- save and restore ---- */

static int int_cmp(const void *x, const void *y)
{
    int a = *(const int *)x;
    int b = *(const int *)y;

    return (a > b) - (a < b);
}

struct month_list {
    int *v;
    size_t n;
};

static void add_month(const struct ow_strmap_entry *e, void *arg)
{
    struct month_list *ml = arg;

    memcpy(&ml->v[ml->n++], e->key, sizeof(int));
}

static json_t *pair(int64_t quantity, int64_t at)
{
    return json_pack("[I, I]", (json_int_t)quantity, (json_int_t)at);
}

static json_t *party_save(const struct party_fc *pf)
{
    json_t *out = json_array();
    struct ow_strmap_entry *e = pf->services ? ow_strmap_sorted(pf->services) : NULL;

    json_array_append_new(out, pf->has_all ? json_integer((json_int_t)pf->all) : json_null());
    json_array_append_new(out, pf->has_all ? json_integer((json_int_t)pf->all_at) : json_null());
    if (e != NULL) {
        json_t *services = json_object();

        for (size_t i = 0; i < ow_strmap_count(pf->services); i++) {
            const struct service_fc *sf = e[i].value;

            json_object_setn_new(services, e[i].key, e[i].len, pair(sf->quantity, sf->at));
        }
        json_array_append_new(out, services);
    }
    free(e);
    return out;
}

json_t *ow_forecasts_save(const struct ow_forecasts *fs)
{
    struct month_list ml = {ow_xcalloc(ow_strmap_count(fs->months) + 1, sizeof(int)), 0};
    json_t *out = json_array();

    ow_strmap_foreach(fs->months, add_month, &ml);
    qsort(ml.v, ml.n, sizeof(*ml.v), int_cmp);
    for (size_t i = 0; i < ml.n; i++) {
        const struct month_fc *m = month_get(fs, ml.v[i]);
        struct ow_strmap_entry *e = ow_strmap_sorted(m->parties);
        json_t *parties = json_object();

        for (size_t j = 0; e != NULL && j < ow_strmap_count(m->parties); j++) {
            json_object_setn_new(parties, e[j].key, e[j].len, party_save(e[j].value));
        }
        free(e);
        json_array_append_new(out, json_pack("[i, o]", ml.v[i], parties));
    }
    free(ml.v);
    return out;
}

/* @j as an integer in [lo, hi]. */
static bool int_in(const json_t *j, int64_t lo, int64_t hi, int64_t *out)
{
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        return false;
    }
    *out = json_integer_value(j);
    return true;
}

/* One party's saved forecasts into @pf; the month's sums are added by the caller. */
static int party_restore(struct party_fc *pf, struct month_fc *m, const json_t *j,
                         const char *where, struct ow_err *err)
{
    const json_t *services = json_array_get(j, 2);
    const char *svc;
    size_t len;
    json_t *x;

    if (!json_is_array(j) || json_array_size(j) < 2 || json_array_size(j) > 3 ||
        (services != NULL && !json_is_object(services))) {
        return ow_err_set(err, OW_EINVAL, where,
                          "expected [all, all_at, {service: [quantity, at]}]");
    }
    if (!json_is_null(json_array_get(j, 0)) || !json_is_null(json_array_get(j, 1))) {
        if (!int_in(json_array_get(j, 0), 0, INT64_MAX, &pf->all) ||
            !int_in(json_array_get(j, 1), INT64_MIN, INT64_MAX, &pf->all_at)) {
            return ow_err_set(err, OW_EINVAL, where,
                              "all-services forecast: expected a quantity >= 0 and its "
                              "occurred_at (integers), or two nulls");
        }
        pf->has_all = true;
    }
    json_object_keylen_foreach((json_t *)services, svc, len, x)
    {
        struct service_fc *sf;
        int64_t *sum;

        if (pf->services == NULL) {
            pf->services = ow_strmap_create(sizeof(struct service_fc));
        }
        sf = ow_strmap_upsert(pf->services, svc, len, NULL);
        if (json_array_size(x) != 2 || !int_in(json_array_get(x, 0), 0, INT64_MAX, &sf->quantity) ||
            !int_in(json_array_get(x, 1), INT64_MIN, INT64_MAX, &sf->at)) {
            return ow_err_set(err, OW_EINVAL, where,
                              "service '%.40s': expected [quantity >= 0, occurred_at]", svc);
        }
        sum = ow_strmap_upsert(m->services, svc, len, NULL);
        if (__builtin_add_overflow(pf->by_services, sf->quantity, &pf->by_services) ||
            __builtin_add_overflow(*sum, sf->quantity, sum)) {
            return ow_err_set(err, OW_EINVAL, where, "a forecast total overflows 64 bits");
        }
        pf->n_services++;
    }
    if (__builtin_add_overflow(m->total, party_value(pf), &m->total)) {
        return ow_err_set(err, OW_EINVAL, where, "the month's forecast total overflows 64 bits");
    }
    return OW_OK;
}

int ow_forecasts_restore(struct ow_forecasts *fs, const json_t *saved, const char *where,
                         struct ow_err *err)
{
    char at[192];
    size_t i;
    json_t *jm;

    if (!json_is_array(saved)) {
        return ow_err_set(err, OW_EINVAL, where, "expected an array of [month, {party: ...}]");
    }
    json_array_foreach(saved, i, jm)
    {
        const json_t *parties = json_array_get(jm, 1);
        struct month_fc *m;
        int64_t month;
        int key;
        bool created;
        const char *party;
        size_t len;
        json_t *jp;
        int rc;

        snprintf(at, sizeof(at), "%s[%zu]", where, i);
        if (json_array_size(jm) != 2 || !int_in(json_array_get(jm, 0), 0, INT_MAX, &month) ||
            !json_is_object(parties)) {
            return ow_err_set(err, OW_EINVAL, at, "expected [month index, {party: ...}]");
        }
        key = (int)month;
        m = ow_strmap_upsert(fs->months, (const char *)&key, sizeof(key), &created);
        if (!created) {
            return ow_err_set(err, OW_EINVAL, at, "month %d appears twice", (int)month);
        }
        m->parties = ow_strmap_create(sizeof(struct party_fc));
        m->services = ow_strmap_create(sizeof(int64_t));
        json_object_keylen_foreach((json_t *)parties, party, len, jp)
        {
            snprintf(at, sizeof(at), "%s[%zu].%.60s", where, i, party);
            rc = party_restore(ow_strmap_upsert(m->parties, party, len, NULL), m, jp, at, err);
            if (rc != OW_OK) {
                return rc;
            }
        }
    }
    return OW_OK;
}
