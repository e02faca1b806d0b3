/* tests/transport/test_keyset.c - the transport's bounded key sets
 * (transport/zmq/keyset.c): each key once, removal, and at the bound the
 * oldest goes, so churn never grows a set. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "keyset.h"

static const char *key(int i)
{
    static char buf[KEYSET_KEY];
    snprintf(buf, sizeof buf, "%040d", i);
    return buf;
}

Test(keyset, each_key_once_and_removed)
{
    keyset s;
    keyset_init(&s, 10);
    cr_assert_eq(keyset_add(&s, key(1)), 0);
    cr_assert_eq(keyset_add(&s, key(1)), 0);
    cr_assert_eq(keyset_add(&s, key(2)), 0);
    cr_expect_eq(s.n, 2);
    cr_expect(keyset_has(&s, key(1)));
    cr_expect_not(keyset_has(&s, key(3)));
    cr_expect_not(keyset_has(&s, NULL));
    keyset_remove(&s, key(1));
    cr_expect_not(keyset_has(&s, key(1)));
    cr_expect(keyset_has(&s, key(2)));
    keyset_remove(&s, key(7)); /* absent: nothing */
    cr_expect_eq(s.n, 1);
    keyset_fini(&s);
}

Test(keyset, at_the_bound_the_oldest_goes)
{
    keyset s;
    keyset_init(&s, 100);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(keyset_add(&s, key(i)), 0);
    cr_expect_eq(s.n, 100);
    cr_expect_leq(s.cap, 128);
    cr_expect_not(keyset_has(&s, key(899)));
    cr_expect(keyset_has(&s, key(900)));
    cr_expect(keyset_has(&s, key(999)));
    keyset_fini(&s);
}
