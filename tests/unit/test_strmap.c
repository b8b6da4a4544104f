/* test_strmap.c: the string-keyed map: stable values, removal, sorted iteration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static void strmap__values_stay_put_while_growing(void **state)
{
    struct ow_strmap *m = ow_strmap_create(sizeof(int64_t));
    int64_t *first = ow_strmap_upsert(m, "k0", 2, NULL);
    char key[32];

    (void)state;
    *first = 42;
    for (int i = 1; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        bool created;
        int64_t *v = ow_strmap_upsert(m, key, (size_t)n, &created);

        assert_true(created);
        assert_int_equal(*v, 0);
        *v = i;
    }
    assert_ptr_equal(ow_strmap_get(m, "k0", 2), first);
    assert_int_equal(*first, 42);
    assert_int_equal(*(int64_t *)ow_strmap_get(m, "k9999", 5), 9999);
    assert_null(ow_strmap_get(m, "k10000", 6));
    assert_int_equal(ow_strmap_count(m), 10000);
    ow_strmap_destroy(m, NULL);
}

static void strmap__remove_keeps_the_others_findable(void **state)
{
    struct ow_strmap *m = ow_strmap_create(sizeof(int));
    char key[32];

    (void)state;
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(key, sizeof(key), "id-%d", i);

        *(int *)ow_strmap_upsert(m, key, (size_t)n, NULL) = i;
    }
    for (int i = 0; i < 2000; i += 2) {
        int n = snprintf(key, sizeof(key), "id-%d", i);

        assert_true(ow_strmap_remove(m, key, (size_t)n, NULL));
    }
    assert_false(ow_strmap_remove(m, "id-0", 4, NULL));
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(key, sizeof(key), "id-%d", i);
        int *v = ow_strmap_get(m, key, (size_t)n);

        if (i % 2 == 0) {
            assert_null(v);
        } else {
            assert_non_null(v);
            assert_int_equal(*v, i);
        }
    }
    assert_int_equal(ow_strmap_count(m), 1000);
    ow_strmap_destroy(m, NULL);
}

static void strmap__sorted_is_bytewise(void **state)
{
    struct ow_strmap *m = ow_strmap_create(1);
    const char *keys[] = {"b", "a", "ab", "B", "1.10", "1.9"};
    struct ow_strmap_entry *e;

    (void)state;
    assert_null(ow_strmap_sorted(m));
    for (size_t i = 0; i < 6; i++) {
        ow_strmap_upsert(m, keys[i], strlen(keys[i]), NULL);
    }
    e = ow_strmap_sorted(m);
    assert_string_equal(e[0].key, "1.10");
    assert_string_equal(e[1].key, "1.9");
    assert_string_equal(e[2].key, "B");
    assert_string_equal(e[3].key, "a");
    assert_string_equal(e[4].key, "ab");
    assert_string_equal(e[5].key, "b");
    free(e);
    ow_strmap_destroy(m, NULL);
}

static void strmap__binary_keys_work(void **state)
{
    struct ow_strmap *m = ow_strmap_create(sizeof(int));
    int k1 = 24255;
    int k2 = 24256;

    (void)state;
    *(int *)ow_strmap_upsert(m, (const char *)&k1, sizeof(k1), NULL) = 1;
    *(int *)ow_strmap_upsert(m, (const char *)&k2, sizeof(k2), NULL) = 2;
    assert_int_equal(*(int *)ow_strmap_get(m, (const char *)&k1, sizeof(k1)), 1);
    assert_int_equal(*(int *)ow_strmap_get(m, (const char *)&k2, sizeof(k2)), 2);
    ow_strmap_destroy(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strmap__values_stay_put_while_growing),
        cmocka_unit_test(strmap__remove_keeps_the_others_findable),
        cmocka_unit_test(strmap__sorted_is_bytewise),
        cmocka_unit_test(strmap__binary_keys_work),
    };

    return cmocka_run_group_tests_name("strmap", tests, NULL, NULL);
}
