/* forecast_store.h: the most recent forecasts of one report (SR or CSR), per month.
 *
 * A forecast replaces an earlier one for the same (party, service_ref, period) when its
 * occurred_at is later or equal (on a tie the later one read wins). A party's forecast for a
 * month is its all-services forecast if it has one, otherwise the sum of its per-service
 * forecasts. Totals are kept as forecasts arrive, so a sum that would overflow 64 bits is
 * caught on the event that would overflow it. */
#ifndef OW_FORECAST_STORE_H
#define OW_FORECAST_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "event.h"
#include "strmap.h"

struct ow_forecasts;

struct ow_forecasts *ow_forecasts_create(void);
void ow_forecasts_destroy(struct ow_forecasts *fs);

/** Apply forecast event @ev (its period, party, optional service_ref, quantity). @use_service
 * false ignores service_ref (CSR forecasts have none). @returns OW_OK, or OW_ESCHEMA with @err
 * when a total would overflow 64 bits (nothing changed then). */
int ow_forecasts_apply(struct ow_forecasts *fs, const struct ow_event *ev, bool use_service,
                       struct ow_err *err);

/** The party's forecast for @month (all-services, else the per-service sum).
 * @returns false when the party has none of either kind that month. */
bool ow_forecasts_party(const struct ow_forecasts *fs, int month, const char *party, size_t len,
                        int64_t *quantity);

/** The services with a per-service forecast in @month: service -> int64_t sum, or NULL. */
const struct ow_strmap *ow_forecasts_services(const struct ow_forecasts *fs, int month);

/** Forget @month. */
void ow_forecasts_drop(struct ow_forecasts *fs, int month);

/** The store as JSON (new reference): [[month, {party: [all, all_at, {service: [quantity,
 * at]}]}], ...], months ascending; all and all_at null without an all-services forecast, the
 * services object left out without per-service ones. Only the forecasts and their
 * occurred_at are saved (latest-wins needs them); the totals are recomputed on restore. */
json_t *ow_forecasts_save(const struct ow_forecasts *fs);

/** Load what ow_forecasts_save() wrote into an empty store. @returns OW_OK, or OW_EINVAL with
 * @err (where: @where and the month) when @saved is malformed or a total would overflow; the
 * store is then partly filled and should be destroyed. */
int ow_forecasts_restore(struct ow_forecasts *fs, const json_t *saved, const char *where,
                         struct ow_err *err);

#endif
