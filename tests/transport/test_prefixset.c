/* tests/transport/test_prefixset.c - the topic-prefix set behind a
 * PUBLISH link's wanted() (transport/zmq/prefixset.c): matches by any
 * prefix of the topic, forgets what is removed, survives growth and
 * churn, and refuses prefixes that could never match. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <assay.h>

#include "prefixset.h"

static void add(prefixset *s, const char *p)
{
    cr_assert_eq(prefixset_add(s, p, strlen(p)), 0, "%s", p);
}

Test(prefixset, matches_by_any_prefix_of_the_topic)
{
    prefixset s = {0};
    cr_expect_not(prefixset_matches(&s, "job.completed"));
    add(&s, "job.");
    add(&s, "job."); /* a repeat, as XPUB_VERBOSE sends them */
    cr_expect(prefixset_matches(&s, "job.completed"));
    cr_expect(prefixset_matches(&s, "job."));
    cr_expect_not(prefixset_matches(&s, "job"));
    cr_expect_not(prefixset_matches(&s, "runtime.dead"));
    prefixset_remove(&s, "job.", 4);
    cr_expect_not(prefixset_matches(&s, "job.completed"));
    add(&s, "");
    cr_expect(prefixset_matches(&s, "anything"));
    prefixset_fini(&s);
}

Test(prefixset, a_prefix_longer_than_any_topic_is_refused)
{
    prefixset s = {0};
    char longp[PREFIXSET_KEY_MAX + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    cr_expect_eq(prefixset_add(&s, longp, strlen(longp)), ASSAY_ERANGE);
    cr_expect_not(prefixset_matches(&s, longp));
    prefixset_fini(&s);
}

/* Many distinct prefixes, added and removed in turns: what is held is
 * exactly what was added and not removed, through growth and tombstones,
 * up to the bound. */
Test(prefixset, churn_keeps_exactly_what_is_held)
{
    prefixset s = {0};
    char p[32];
    for (int i = 0; i < 40000; i++) {
        snprintf(p, sizeof p, "t%d.", i);
        add(&s, p);
        if (i % 2) {
            snprintf(p, sizeof p, "t%d.", i - 1);
            prefixset_remove(&s, p, strlen(p));
        }
    }
    cr_expect_eq(s.live, 20000);
    for (int i = 0; i < 40000; i += 997) {
        snprintf(p, sizeof p, "t%d.x", i);
        cr_expect_eq(prefixset_matches(&s, p), i % 2 == 1, "%s", p);
    }
    for (int i = 40000; s.live < PREFIXSET_MAX; i++) {
        snprintf(p, sizeof p, "t%d.", i);
        add(&s, p);
    }
    cr_expect_eq(prefixset_add(&s, "one.more", 8), ASSAY_ERANGE);
    prefixset_fini(&s);
}
