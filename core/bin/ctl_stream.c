/* core/bin/ctl_stream.c - assayctl watch --from/--consumer and consumers.
 * A watch reads assay.stream page by page from its position, waiting at
 * the end for what ends next; through a leader change the client finds
 * the new leader and the read goes on from the same position, which
 * every member numbers alike. A consumer's position is acknowledged once
 * its page is printed (at least once: a watch killed between printing
 * and acknowledging prints that page again when it resumes). */
#include "ctl_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "cli.h"
#include "proto/cpmsg.h"
#include "proto/names.h"

/* Records per read (a page of full records is well inside a message),
 * and how long one waits at the end (under the client's silence bound,
 * so a waiting leader is not taken for a dead one). */
#define S_PAGE 500
#define S_WAIT_MS 500
/* Unavailable this long in a row (no leader reachable), a watch stops. */
#define S_GIVE_UP_MS 60000

/* A record as one JSON line (--json), else as a row. */
static void s_print(const assay_ctl_opts *o, const json_t *rec, char **buf,
                    size_t *cap)
{
    if (o->json) {
        size_t n = json_dumpb(rec, *buf, *cap, JSON_COMPACT);
        if (n >= *cap) { /* it did not fit: room for it, and again */
            char *more = realloc(*buf, n + 1);
            if (!more) { /* no room: written piece by piece instead */
                json_dumpf(rec, stdout, JSON_COMPACT);
                fputc('\n', stdout);
                return;
            }
            *buf = more;
            *cap = n + 1;
            n = json_dumpb(rec, *buf, *cap, JSON_COMPACT);
        }
        (*buf)[n] = '\n';
        fwrite(*buf, 1, n + 1, stdout);
        return;
    }
    const json_t *drift = json_object_get(rec, "drift"),
                 *host = json_object_get(rec, "host");
    const char *status = json_string_value(json_object_get(rec, "status")),
               *change = json_string_value(json_object_get(drift, "change")),
               *hostname =
                   json_string_value(json_object_get(host, "hostname"));
    printf("%" JSON_INTEGER_FORMAT "  %-9s %-40s %s%s%s\n",
           json_integer_value(json_object_get(rec, "position")),
           status ? status
                  : json_string_value(json_object_get(rec, "state")),
           json_string_value(json_object_get(rec, "job")),
           hostname ? hostname : "-", change ? "  " : "",
           change ? change : "");
}

/* The stream position in text, or -1 (said why). */
static int64_t s_position(const char *text)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 0) {
        fprintf(stderr, "assayctl: watch --from wants a stream position "
                        "(an integer >= 0), got '%s'\n",
                text);
        return -1;
    }
    return v;
}

/* What a reply says beyond its records, on stderr. */
static void s_notes(const assay_ctl_opts *o, const json_t *r,
                    bool *said_behind)
{
    json_int_t next = json_integer_value(json_object_get(r, "next")),
               gone = json_integer_value(json_object_get(r, "gone"));
    if (gone)
        fprintf(stderr, "assayctl: watch: %" JSON_INTEGER_FORMAT
                        " results up to position %" JSON_INTEGER_FORMAT
                        " are no longer held (expired, or restarted and "
                        "ended again later)\n",
                gone, next);
    if (!*said_behind && json_is_true(json_object_get(
                             json_object_get(r, "consumer"), "behind"))) {
        fprintf(stderr, "assayctl: watch: consumer %s fell further behind "
                        "than the cluster's stream_max_lag: results past "
                        "it may expire before it reads them\n",
                o->consumer);
        *said_behind = true;
    }
}

/* Sends the read after `from` (acknowledging `ack` for the consumer);
 * 0 or the exit code. */
static int s_ask(assay_ctl_session *s, const assay_ctl_opts *o, int64_t from,
                 int64_t ack, long want, uint64_t *ticket)
{
    assay_cp_stream req = {.op = ASSAY_CP_STREAM_READ,
                           .consumer = o->consumer,
                           .from = from,
                           .max = want > 0 && want < S_PAGE ? want : S_PAGE,
                           .wait_ms = S_WAIT_MS,
                           .ack = o->consumer ? ack : 0};
    return assay_ctl_send(s, ASSAY_SVC_STREAM, assay_cp_pack_stream(&req),
                          ticket);
}

int assay_ctl_stream_watch(const assay_ctl_opts *o)
{
    int64_t from = o->from ? s_position(o->from) : -1;
    if (o->from && from < 0)
        return ASSAY_EXIT_USAGE;
    assay_ctl_session *s;
    int code = assay_ctl_open(o, &s);
    if (code)
        return code;
    int64_t deadline = o->wait_ms > 0 ? assay_now_ms() + o->wait_ms
                                      : INT64_MAX,
            failing_since = 0, printed = 0, acked = 0;
    long seen = 0;
    bool said_behind = false;
    char *buf = malloc(4096);
    size_t cap = buf ? 4096 : 0;
    uint64_t ticket;
    /* One read is in flight while a page prints: the member builds the
     * next page meanwhile. Acks ride on the reads. */
    code = s_ask(s, o, from, 0, o->count, &ticket);
    while (!code) {
        json_t *r = assay_ctl_await(s, ticket, &code);
        if (!r && code == ASSAY_EXIT_UNAVAILABLE) {
            /* No leader yet (an election): ask again, for a while. */
            int64_t now = assay_now_ms();
            if (!failing_since)
                failing_since = now;
            if (now - failing_since < S_GIVE_UP_MS && now < deadline) {
                nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
                code = s_ask(s, o, from, printed, o->count - seen, &ticket);
                continue;
            }
        }
        if (!r)
            break;
        failing_since = 0;
        if (!printed && json_integer_value(json_object_get(r, "from")) > 0)
            printed = acked = json_integer_value(json_object_get(r, "from"));
        s_notes(o, r, &said_behind);
        const json_t *events = json_object_get(r, "events"), *rec;
        long got = (long)json_array_size(events);
        from = json_integer_value(json_object_get(r, "next"));
        bool more = (o->count <= 0 || seen + got < o->count) &&
                    assay_now_ms() < deadline;
        if (more) {
            code = s_ask(s, o, from, printed, o->count - seen - got, &ticket);
            acked = printed > acked ? printed : acked;
        }
        size_t i;
        json_array_foreach(events, i, rec) s_print(o, rec, &buf, &cap);
        fflush(stdout);
        seen += got;
        printed = from;
        json_decref(r);
        if (!more)
            break;
    }
    /* What was printed last, acknowledged before leaving. */
    if (!code && o->consumer && printed > acked) {
        assay_cp_stream req = {.op = ASSAY_CP_STREAM_ACK,
                               .consumer = o->consumer,
                               .position = printed};
        json_decref(assay_ctl_call(s, ASSAY_SVC_STREAM,
                                   assay_cp_pack_stream(&req), &code));
    }
    free(buf);
    assay_ctl_close(&s);
    return code;
}

int assay_ctl_consumers(char **args, int nargs, const assay_ctl_opts *o)
{
    bool del = nargs == 2 && !strcmp(args[0], "delete");
    if (nargs && !del) {
        fprintf(stderr, "assayctl: consumers [delete NAME]\n");
        return ASSAY_EXIT_USAGE;
    }
    json_t *r = NULL;
    int code = assay_ctl_request(
        o, ASSAY_SVC_STREAM,
        assay_cp_pack_stream(&(assay_cp_stream){
            .op = del ? ASSAY_CP_STREAM_DELETE : ASSAY_CP_STREAM_CONSUMERS,
            .consumer = del ? args[1] : NULL}),
        &r);
    if (code)
        return code;
    if (o->json || del) {
        json_object_del(r, "ok");
        json_dumpf(r, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        printf("%-32s %12s %10s  %s\n", "CONSUMER", "ACKED", "LAG", "");
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(r, "consumers"), i, c)
            printf("%-32s %12" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
                   "  %s\n",
                   json_string_value(json_object_get(c, "name")),
                   json_integer_value(json_object_get(c, "acked")),
                   json_integer_value(json_object_get(c, "lag")),
                   json_is_true(json_object_get(c, "behind")) ? "behind"
                                                               : "");
        printf("stream end %" JSON_INTEGER_FORMAT ", max lag %"
               JSON_INTEGER_FORMAT "\n",
               json_integer_value(json_object_get(r, "end")),
               json_integer_value(json_object_get(r, "max_lag")));
    }
    json_decref(r);
    return 0;
}
