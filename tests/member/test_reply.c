/* tests/member/test_reply.c - core/member/reply.c on its own: batches
 * that remember what each entry is about past their first growth, and
 * pending commands that keep the route and data of a request. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "member/internal.h"

Test(reply, batches_keep_every_entry)
{
    s_batch b = {0};
    char job[32];
    for (int i = 0; i < 200; i++) { /* past the first allocation (64) */
        snprintf(job, sizeof job, "j-%d", i);
        cr_assert(mb_batch_add(&b, job, i + 1, i % 2 ? "rt-b" : NULL));
    }
    cr_expect_eq(b.n, 200);
    cr_expect_not_null(b.list);
    for (int i = 0; i < 200; i++) {
        snprintf(job, sizeof job, "j-%d", i);
        cr_expect_str_eq(b.items[i].job, job);
        cr_expect_eq(b.items[i].attempt, i + 1);
        cr_expect_str_eq(b.items[i].runtime, i % 2 ? "rt-b" : "");
    }
    mb_batch_clear(&b);
    cr_expect_eq(b.n, 0);
    cr_expect_null(b.list);
    cr_expect_null(b.items);
}

Test(reply, pending_keeps_route_and_data)
{
    assay_leader *m = calloc(1, sizeof *m);
    uint8_t id[] = {0, 1, 2, 255};
    assay_bytes route = {id, sizeof id};
    s_pending *p = mb_pending_new(m, &route, "assay.cancel",
                                  json_pack("{s:s}", "op", "x"));
    cr_assert_not_null(p);
    assay_bytes back = mb_route(p);
    cr_expect_eq(back.len, sizeof id);
    cr_expect_eq(memcmp(back.data, id, sizeof id), 0);
    cr_expect_str_eq(p->verb, "assay.cancel");
    cr_expect_str_eq(mb_str(p->data, "op"), "x");
    cr_expect_eq(p->leader, m);
    mb_pending_free(p);
    free(m);
}
