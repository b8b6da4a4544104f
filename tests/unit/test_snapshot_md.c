/* test_snapshot_md.c: the Markdown the Panel reads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "snapshot_md.h"

static const char *month =
    "{\"window\":\"2021-04\",\"kind\":\"month\",\"timezone\":\"Europe/London\","
    "\"start\":\"2021-04-01T00:00:00+01:00\",\"end\":\"2021-05-01T00:00:00+01:00\","
    "\"revision\":2,\"final\":true,\"late_events\":1,"
    "\"reports\":{\"csr_variance\":{\"actual\":1204377,\"forecast\":1002118,\"variance\":202259,"
    "\"percent_of_forecast\":120.18,\"single\":4,\"batched\":1204373,"
    "\"parties_without_forecast\":9,"
    "\"by_party\":{\"SUB-01\":{\"actual\":1204377,\"forecast\":1002118,\"variance\":202259,"
    "\"percent_of_forecast\":120.18,\"has_forecast\":true}},"
    "\"exceptions\":{\"at_or_over_110\":[\"SUB-01\"],\"at_or_under_90\":[],\"no_forecast\":[]},"
    "\"sec_ref\":\"L8.9\",\"due\":\"2021-05-17\"},"
    "\"performance\":{\"measures\":[{\"measure\":\"CPM1\",\"provider\":\"DCC\",\"met\":941,"
    "\"total\":1000,\"percent\":94.1,\"target\":99.0,\"minimum\":96.0,"
    "\"status\":\"below_minimum\",\"months_below_target\":11,\"months_observed\":12}],"
    "\"sec_ref\":\"H13.4\",\"due\":\"2021-06-08\"}},"
    "\"alerts\":[{\"alert_id\":\"csr_forecast_exceeded/2021-04/party_id=SUB-01\","
    "\"severity\":\"warning\",\"state\":\"firing\",\"message\":\"SUB-01 over\"}]}";

static char *render(const char *text, const char *prev_text)
{
    json_t *snap = json_loads(text, 0, NULL);
    json_t *prev = prev_text ? json_loads(prev_text, 0, NULL) : NULL;
    char *md;

    assert_non_null(snap);
    md = ow_snapshot_markdown(snap, prev);
    json_decref(snap);
    json_decref(prev);
    return md;
}

static void snapshot_md__headline_with_thousands_and_one_decimal(void **state)
{
    char *md = render(month, NULL);

    (void)state;
    assert_non_null(strstr(md, "1,204,377 CSRs were sent against a forecast of 1,002,118: "
                               "120.2% of the forecast. 9 Authorised Subscribers sent CSRs "
                               "without a forecast."));
    assert_non_null(strstr(md, "| L8.9 | 2021-05-17 |"));
    assert_non_null(strstr(md, "- At or over the upper band: SUB-01"));
    assert_non_null(strstr(md, "CPM1 (DCC) was 94.10%, below its Minimum Service Level for the "
                               "11th time in 12 months."));
    assert_non_null(strstr(md, "| csr_forecast_exceeded/2021-04/party_id=SUB-01 | warning |"));
    assert_non_null(strstr(md, "Revision 2 (final), 1 late events."));
    free(md);
}

static void snapshot_md__revision_lists_what_changed(void **state)
{
    char *prev = strdup(month);
    char *at = strstr(prev, "\"single\":4");
    char *md;

    (void)state;
    memcpy(at, "\"single\":3", 10);
    md = render(month, prev);
    assert_non_null(strstr(md, "- `csr_variance.single`: 3 -> 4"));
    free(md);
    md = render(month, month);
    assert_non_null(strstr(md, "No figure changed."));
    free(md);
    free(prev);
}

static void snapshot_md__fault_table_has_rows_months_and_totals(void **state)
{
    const char *q =
        "{\"window\":\"2021-Q2\",\"kind\":\"quarter\",\"revision\":1,\"final\":true,"
        "\"late_events\":0,\"reports\":{\"ch_returns\":{\"closed\":1234,\"service_user\":1000,"
        "\"dcc\":234,\"disputed_open\":0,\"by_csp\":{\"csp_n\":{\"closed\":1234,"
        "\"share_percent\":100.0,\"service_user\":1000,\"dcc\":234,\"dcc_faults\":{"
        "\"aerial\":{\"2021-04\":1,\"2021-05\":2,\"2021-06\":3,\"total\":6},"
        "\"total\":{\"2021-04\":1,\"2021-05\":2,\"2021-06\":3,\"total\":6}}}},"
        "\"sec_ref\":\"F9.15\",\"due\":null}},\"alerts\":[]}";
    char *md = render(q, NULL);

    (void)state;
    assert_non_null(strstr(md, "| DCC fault | 2021-04 | 2021-05 | 2021-06 | **Total** |"));
    assert_non_null(strstr(md, "| Aerial | 1 | 2 | 3 | 6 |"));
    assert_non_null(strstr(md, "| **Total** | 1 | 2 | 3 | 6 |"));
    assert_non_null(strstr(md, "CSP North: 1,234 closed returns (100.0% of all), 1,000 No Fault "
                               "Found, 234 DCC Fault Found"));
    assert_non_null(strstr(md, "| F9.15 | no SEC deadline |"));
    assert_non_null(strstr(md, "None fired."));
    free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_md__headline_with_thousands_and_one_decimal),
        cmocka_unit_test(snapshot_md__revision_lists_what_changed),
        cmocka_unit_test(snapshot_md__fault_table_has_rows_months_and_totals),
    };

    return cmocka_run_group_tests_name("snapshot_md", tests, NULL, NULL);
}
