/* tests/fuzz/fuzz_state.c - replicated-log entries through the state
 * machine: the input is a sequence of JSON commands, one per line, applied
 * in order (as a log would be), then the state is dumped, loaded into a
 * fresh machine and dumped again; both dumps must be equal. Whatever the
 * commands, applying them must not crash or leak, a refused command must
 * leave the dump unchanged, and every batch item must be fenced
 * (invariant 2): a dispatch applies only to a queued job at its next
 * attempt, a result or requeue only to a running job at its current
 * attempt. A batch command is accepted even when its items are refused
 * ("applied": false), so the fencing is checked item by item against the
 * job as it was before the command. Commands go through the member's own
 * bytes-level adapter (core/state/fsm.c), snapshots too; ops of a level
 * or version the state does not speak must be refused with a reason, and
 * "expire" may name any ids. The per-state job counts must match the jobs
 * held after every command and after a restore. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "fuzz.h"
#include "state/fsm.h"
#include "state/state.h"

/* A batch item's job as it was before its command was applied. */
typedef struct before {
    bool known;
    assay_job_state state;
    int64_t attempt;
} before;

/* The batch ops whose items carry an attempt, and the state and attempt
 * offset an item needs to apply: dispatch takes a queued job to attempt
 * n + 1, result and requeue end a running job's attempt n. */
static bool s_fenced_op(const json_t *cmd, assay_job_state *need,
                        int64_t *step)
{
    const char *op = json_string_value(json_object_get(cmd, "op"));

    if (!op)
        return false;
    if (!strcmp(op, "dispatch")) {
        *need = ASSAY_JOB_QUEUED;
        *step = 1;
        return true;
    }
    if (!strcmp(op, "result") || !strcmp(op, "requeue")) {
        *need = ASSAY_JOB_RUNNING;
        *step = 0;
        return true;
    }
    return false;
}

/* The per-state counts (assay.jobs totals) agree with the jobs held. */
static void s_check_counts(const assay_state *st)
{
    size_t n[ASSAY_JOB_CANCELLED + 1] = {0};
    for (const assay_job *j = assay_state_jobs(st); j; j = j->all_next)
        n[j->state]++;
    for (int k = 0; k <= ASSAY_JOB_CANCELLED; k++)
        if (assay_state_count(st, (assay_job_state)k) != n[k])
            abort();
}

static before *s_before(const assay_state *st, const json_t *items)
{
    size_t n = json_array_size(items);
    before *b = calloc(n ? n : 1, sizeof *b);

    if (!b)
        abort();
    for (size_t i = 0; i < n; i++) {
        const assay_job *j = assay_state_job(
            st, json_string_value(json_object_get(json_array_get(items, i),
                                                  "job")));
        if (j)
            b[i] = (before){true, j->state, j->attempt};
    }
    return b;
}

/* Every item the state machine applied fits the job as it was; in
 * particular an item for any attempt but the current one (result,
 * requeue) or the next one (dispatch) was refused. After the command, a
 * job completed by a result is at that result's attempt. */
static void s_check_fencing(const assay_state *st, const json_t *cmd,
                            const json_t *result, const before *b,
                            assay_job_state need, int64_t step)
{
    const json_t *items = json_object_get(cmd, "items");
    const json_t *applied = json_object_get(result, "applied");
    const char *op = json_string_value(json_object_get(cmd, "op"));

    for (size_t i = 0; i < json_array_size(items); i++) {
        if (!json_is_true(json_array_get(applied, i)))
            continue;
        const json_t *it = json_array_get(items, i);
        const json_t *attempt = json_object_get(it, "attempt");
        if (!b[i].known || b[i].state != need || !json_is_integer(attempt) ||
            json_integer_value(attempt) != b[i].attempt + step)
            abort(); /* a stale (or future) attempt was applied */
        const assay_job *j = assay_state_job(
            st, json_string_value(json_object_get(it, "job")));
        if (!j && !strcmp(op, "result"))
            continue; /* it ended a run its schedule's keep_runs let go */
        if (!j || j->attempt != json_integer_value(attempt))
            abort();
        if (!strcmp(op, "result") && j->state != ASSAY_JOB_COMPLETED)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_state *st = assay_state_new(NULL, NULL);
    if (!st)
        abort();
    size_t off = 0;
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        json_t *cmd = json_loadb((const char *)data + off, len,
                                 JSON_REJECT_DUPLICATES, NULL);
        off += len + 1;
        if (!cmd)
            continue;
        assay_job_state need = ASSAY_JOB_QUEUED;
        int64_t step = 0;
        bool fenced = s_fenced_op(cmd, &need, &step);
        before *b = fenced ? s_before(st, json_object_get(cmd, "items"))
                           : NULL;
        json_t *prior = assay_state_dump(st), *result = NULL;
        /* Through the member's own adapter, as log bytes. */
        char *enc, err[ASSAY_ERRMSG_SIZE];
        size_t elen;
        if (assay_codec_encode(cmd, &enc, &elen) != 0)
            abort();
        int rc = assay_fsm_apply(st, enc, elen, &result, err,
                                 sizeof err);
        free(enc);
        if (rc == ASSAY_EUNSUPP && !*err)
            abort(); /* a refused newer version must say which */
        json_t *after = assay_state_dump(st);
        if (rc < 0 && !json_equal(prior, after))
            abort(); /* a refused command changed the state */
        if (fenced && rc == 0)
            s_check_fencing(st, cmd, result, b, need, step);
        s_check_counts(st);
        free(b);
        json_decref(prior);
        json_decref(after);
        json_decref(result);
        json_decref(cmd);
    }
    json_t *dump = assay_state_dump(st);
    assay_state *copy = assay_state_new(NULL, NULL);
    char *snap, err[ASSAY_ERRMSG_SIZE];
    size_t slen;
    if (!copy || assay_fsm_snapshot(st, &snap, &slen) != 0 ||
        assay_fsm_restore(copy, snap, slen, err, sizeof err) != 0)
        abort();
    free(snap);
    json_t *again = assay_state_dump(copy);
    if (!json_equal(dump, again))
        abort();
    s_check_counts(copy);
    json_decref(dump);
    json_decref(again);
    assay_state_destroy(&copy);
    assay_state_destroy(&st);
    return 0;
}
