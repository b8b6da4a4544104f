/* forecast_store.c: latest-wins forecasts with running totals (see forecast_store.h). */
#include "forecast_store.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* One party's forecasts for one month. */
struct party_fc {
    bool has_all;
    int64_t all;        /* all-services forecast */
    int64_t all_at;     /* its occurred_at */
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
    struct month_fc *m = ow_strmap_upsert(fs->months, (const char *)&ev->period,
                                          sizeof(ev->period), &created);
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
            __builtin_add_overflow((svc_sum ? *svc_sum : 0) - old_qty, ev->quantity,
                                   &svc_total)) {
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
