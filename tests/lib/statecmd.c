/* tests/lib/statecmd.c - see statecmd.h. */
#include "statecmd.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/fsm.h"

int sc_apply(assay_state *st, json_t *cmd, char *err, size_t errlen)
{
    char *enc;
    size_t len;
    json_t *res = NULL;
    cr_assert_eq(assay_codec_encode(cmd, &enc, &len), 0);
    json_decref(cmd);
    int rc = assay_fsm_apply(st, enc, len, &res, err, errlen);
    json_decref(res);
    free(enc);
    return rc;
}

void sc_ok(assay_state *st, json_t *cmd)
{
    char err[ASSAY_ERRMSG_SIZE];
    int rc = sc_apply(st, cmd, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
}

assay_state *sc_at_level(int64_t level)
{
    assay_state *st = assay_state_new(NULL, NULL);
    cr_assert_not_null(st);
    sc_ok(st, json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I}", "v", 1, "op",
                        "leader", "id", "m1", "endpoint", "tcp://a:1",
                        "events", "tcp://a:2", "member", 1, "level",
                        (json_int_t)level));
    return st;
}

void sc_run(assay_state *st, const char *sid, int n, sc_run_opts o)
{
    json_t *jobs = json_array(), *disp = json_array(), *res = json_array();
    for (int i = 0; i < n; i++) {
        char jid[64];
        snprintf(jid, sizeof jid, "%s-%d", sid, i);
        int64_t took = o.took ? o.took[i] : o.took_all;
        json_array_append_new(jobs, json_pack("{s:s, s:{}}", "id", jid,
                                              "params"));
        json_array_append_new(disp, json_pack("{s:s, s:i, s:s, s:s, s:I}",
                                              "job", jid, "attempt", 1,
                                              "runtime", "rt", "version",
                                              "1.0.0", "at",
                                              (json_int_t)o.start));
        json_array_append_new(res, json_pack("{s:s, s:i, s:{}, s:s, s:I}",
                                             "job", jid, "attempt", 1,
                                             "result", "runtime", "rt", "at",
                                             (json_int_t)(o.start + took)));
    }
    json_t *sub = json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:i, s:i, s:i}, "
                            "s:o}",
                            "v", 1, "op", "submit", "spec", "id", sid,
                            "action", o.action ? o.action : "noop.pass",
                            "resolved", "1.0.0", "timeout_ms", 100000,
                            "max_attempts", 1, "priority", 0, "jobs", jobs);
    if (o.retain_seconds > 0)
        json_object_set_new(json_object_get(sub, "spec"), "retain_seconds",
                            json_integer(o.retain_seconds));
    sc_ok(st, sub);
    sc_ok(st, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "dispatch", "items",
                        disp));
    sc_ok(st, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "result", "items",
                        res));
}
