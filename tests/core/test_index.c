/* tests/core/test_index.c - the string-keyed hash map (core/base/index.c):
 * insert, replace, remove, growth past many tombstones, iteration. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "base/index.h"

static assay_index *ix;

static void setup(void) { cr_assert_not_null(ix = assay_index_new()); }

static void teardown(void)
{
    assay_index_destroy(&ix);
    cr_assert_null(ix);
}

TestSuite(index, .init = setup, .fini = teardown);

static void *val(uintptr_t v) { return (void *)(v + 1); }

Test(index, put_get_replace_remove)
{
    cr_assert_null(assay_index_get(ix, "a"));
    cr_assert_null(assay_index_get(ix, NULL));
    cr_assert_eq(assay_index_put(ix, "a", val(1)), 0);
    cr_assert_eq(assay_index_put(ix, "b", val(2)), 0);
    cr_assert_eq(assay_index_get(ix, "a"), val(1));
    cr_assert_eq(assay_index_put(ix, "a", val(3)), 0); /* replaces */
    cr_assert_eq(assay_index_get(ix, "a"), val(3));
    cr_assert_eq(assay_index_size(ix), 2);
    cr_assert_eq(assay_index_remove(ix, "a"), val(3));
    cr_assert_null(assay_index_get(ix, "a"));
    cr_assert_null(assay_index_remove(ix, "a"));
    cr_assert_eq(assay_index_get(ix, "b"), val(2));
    cr_assert_eq(assay_index_size(ix), 1);
    cr_assert_neq(assay_index_put(ix, NULL, val(4)), 0);
}

/* Keys that share a prefix, inserted, half removed, inserted again: every
 * probe chain still finds its key past tombstones and resizes. */
Test(index, many_keys_through_growth_and_tombstones)
{
    enum { N = 20000 };
    char key[32];
    for (uintptr_t i = 0; i < N; i++) {
        snprintf(key, sizeof key, "job-%zu", (size_t)i);
        cr_assert_eq(assay_index_put(ix, key, val(i)), 0);
    }
    for (uintptr_t i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "job-%zu", (size_t)i);
        cr_assert_eq(assay_index_remove(ix, key), val(i));
    }
    for (uintptr_t i = N; i < 2 * N; i++) {
        snprintf(key, sizeof key, "job-%zu", (size_t)i);
        cr_assert_eq(assay_index_put(ix, key, val(i)), 0);
    }
    cr_assert_eq(assay_index_size(ix), N / 2 + N);
    for (uintptr_t i = 0; i < 2 * N; i++) {
        snprintf(key, sizeof key, "job-%zu", (size_t)i);
        void *want = i < N && i % 2 == 0 ? NULL : val(i);
        cr_assert_eq(assay_index_get(ix, key), want, "%s", key);
    }
}

static void count(const char *key, void *value, void *arg)
{
    size_t *seen = arg;
    cr_assert_not_null(key);
    seen[0]++;
    seen[1] += (uintptr_t)value;
}

Test(index, each_visits_every_live_entry_once)
{
    size_t seen[2] = {0, 0};
    assay_index_each(ix, count, seen);
    cr_assert_eq(seen[0], 0);
    cr_assert_eq(assay_index_put(ix, "x", (void *)10), 0);
    cr_assert_eq(assay_index_put(ix, "y", (void *)20), 0);
    cr_assert_eq(assay_index_put(ix, "z", (void *)40), 0);
    assay_index_remove(ix, "y");
    assay_index_each(ix, count, seen);
    cr_assert_eq(seen[0], 2);
    cr_assert_eq(seen[1], 50);
    assay_index_each(NULL, count, seen); /* no map: nothing */
    cr_assert_eq(seen[0], 2);
}
