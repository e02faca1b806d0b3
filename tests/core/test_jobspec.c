/* tests/core/test_jobspec.c - JobSpec parsing (every field's shape and
 * bounds), job expansion, checking each job's params against a declaration
 * and loading from a file. Resolution against a catalogue is covered by
 * the runner suites. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "harness.h"
#include "job/jobspec.h"

/* Parses `j` (taken). */
static int parse_json(json_t *j, assay_jobspec **out, char *err)
{
    int rc;

    cr_assert_not_null(j);
    rc = assay_jobspec_parse(j, out, err, ASSAY_ERRMSG_SIZE);
    json_decref(j);
    return rc;
}

static json_t *json(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);

    cr_assert_not_null(v, "bad test JSON '%s': %s", text, je.text);
    return v;
}

static assay_jobspec *parse_ok(json_t *j)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_jobspec *s = NULL;

    cr_assert_eq(parse_json(j, &s, err), 0, "%s", err);
    cr_assert_not_null(s);
    return s;
}

static void expect_bad(json_t *j, int code, const char *why)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    assay_jobspec *s = NULL;

    cr_expect_eq(parse_json(j, &s, err), code, "%.120s: '%s'", text, err);
    cr_expect_null(s);
    cr_expect_not_null(strstr(err, why), "%.120s: '%s' lacks '%s'", text, err,
                       why);
    free(text);
}

/* {"action": "file.stat"} plus `key`: `value` (taken). */
static json_t *with(const char *key, json_t *value)
{
    json_t *j = json("{\"action\": \"file.stat\"}");

    cr_assert_not_null(value);
    json_object_set_new(j, key, value);
    return j;
}

/* A string of n copies of c, as a JSON value. */
static json_t *repeated(char c, size_t n)
{
    char *s = malloc(n + 1);
    json_t *v;

    memset(s, c, n);
    s[n] = '\0';
    v = json_string(s);
    free(s);
    return v;
}

Test(jobspec, minimal)
{
    assay_jobspec *a = parse_ok(json("{\"action\": \"file.stat\"}"));
    assay_jobspec *b = parse_ok(json("{\"action\": \"file.stat\"}"));
    char id[ASSAY_ID_MAX + 16];

    cr_expect_eq(strlen(a->id), 24);
    cr_expect_eq(strspn(a->id, "0123456789abcdef"), 24, "'%s' is hex", a->id);
    cr_expect_str_neq(a->id, b->id, "generated ids differ");
    cr_expect_str_eq(a->action, "file.stat");
    cr_expect_str_empty(a->version);
    cr_expect(json_is_object(a->params) && json_object_size(a->params) == 0);
    cr_expect_null(a->targets);
    cr_expect(json_is_object(a->labels) && json_object_size(a->labels) == 0);
    cr_expect(json_is_object(a->selector) &&
              json_object_size(a->selector) == 0);
    cr_expect_eq(a->memory_mb, 0);
    cr_expect_eq(a->timeout_ms, 0);
    cr_expect_eq(a->max_attempts, 0);
    cr_expect_eq(a->priority, 0);
    cr_expect_eq(assay_jobspec_jobs(a), 1);
    assay_jobspec_job_id(a, 0, id, sizeof id);
    cr_expect_eq(strncmp(id, a->id, 24), 0);
    cr_expect_str_eq(id + 24, "-0");
    assay_jobspec_destroy(&a);
    assay_jobspec_destroy(&b);
    cr_expect_null(a);
    assay_jobspec_destroy(&a);
    assay_jobspec_destroy(NULL);
}

Test(jobspec, every_field)
{
    assay_jobspec *s = parse_ok(
        json("{\"id\": \"Nightly_scan.2024-01\", \"action\": \"file.stat\", "
             "\"version\": \"^1.2\", \"params\": {\"path\": \"/etc\"}, "
             "\"targets\": [{\"path\": \"/a\"}, {}, {\"path\": \"/c\"}], "
             "\"labels\": {\"team\": \"sec\", \"run-id\": \"\"}, "
             "\"selector\": {\"zone\": \"eu-1\"}, "
             "\"resources\": {\"memory_mb\": 1048576, \"cpus\": 0.25}, "
             "\"placement\": \"pack\", "
             "\"timeout_ms\": 86400000, \"max_attempts\": 100, "
             "\"priority\": -1000, \"retain_seconds\": 3153600000}"));
    json_t *params = json("{\"path\": \"/etc\"}");
    json_t *labels = json("{\"team\": \"sec\", \"run-id\": \"\"}");
    char id[ASSAY_ID_MAX + 16];

    cr_expect_str_eq(s->id, "Nightly_scan.2024-01");
    cr_expect_str_eq(s->version, "^1.2");
    cr_expect(json_equal(s->params, params));
    cr_expect(json_equal(s->labels, labels));
    cr_expect_str_eq(json_string_value(json_object_get(s->selector, "zone")),
                     "eu-1");
    cr_expect_eq(s->memory_mb, 1048576);
    cr_expect_eq(s->cpu_milli, 250);
    cr_expect(s->pack);
    cr_expect_eq(json_array_size(s->targets), 3);
    cr_expect_eq(s->timeout_ms, 86400000);
    cr_expect_eq(s->max_attempts, 100);
    cr_expect_eq(s->priority, -1000);
    cr_expect_eq(s->retain_seconds, 3153600000LL);
    cr_expect_eq(assay_jobspec_jobs(s), 3);
    assay_jobspec_job_id(s, 2, id, sizeof id);
    cr_expect_str_eq(id, "Nightly_scan.2024-01-2");
    json_decref(params);
    json_decref(labels);
    assay_jobspec_destroy(&s);
}

Test(jobspec, bounds_accepted)
{
    assay_jobspec *s = parse_ok(
        json("{\"action\": \"a.b\", \"timeout_ms\": 1, \"max_attempts\": 1, "
             "\"priority\": 1000, \"targets\": [{}], \"id\": \"x\"}"));

    cr_expect_eq(s->timeout_ms, 1);
    cr_expect_eq(s->max_attempts, 1);
    cr_expect_eq(s->priority, 1000);
    cr_expect_eq(assay_jobspec_jobs(s), 1);
    cr_expect_eq(s->cpu_milli, 0, "no CPUs asked");
    cr_expect_not(s->pack, "spread unless asked");
    assay_jobspec_destroy(&s);
}

/* JSON text parse must refuse with `code`, naming `why`. */
struct bad {
    const char *json;
    int code;
    const char *why;
};

static const struct bad bads[] = {
    {"[]", ASSAY_ETYPE, "JobSpec must be a JSON object"},
    {"\"file.stat\"", ASSAY_ETYPE, "JobSpec must be a JSON object"},
    {"{\"action\": \"a.b\", \"tagets\": []}", ASSAY_EINVAL,
     "unknown field 'tagets'"},
    {"{}", ASSAY_EINVAL, "field 'action': required"},
    {"{\"action\": \"filestat\"}", ASSAY_EINVAL, "plugin.action"},
    {"{\"action\": 5}", ASSAY_EINVAL, "field 'action'"},
    {"{\"action\": null}", ASSAY_EINVAL, "field 'action'"},
    {"{\"action\": \"a.b\", \"id\": \"has space\"}", ASSAY_EINVAL,
     "field 'id': want 1-64 of [A-Za-z0-9._-]"},
    {"{\"action\": \"a.b\", \"id\": \"a/b\"}", ASSAY_EINVAL, "field 'id'"},
    {"{\"action\": \"a.b\", \"id\": \"\"}", ASSAY_EINVAL, "field 'id'"},
    {"{\"action\": \"a.b\", \"id\": 7}", ASSAY_EINVAL, "field 'id'"},
    {"{\"action\": \"a.b\", \"version\": 1}", ASSAY_EINVAL,
     "field 'version': expected a version range string"},
    {"{\"action\": \"a.b\", \"params\": []}", ASSAY_ETYPE,
     "field 'params': expected object"},
    {"{\"action\": \"a.b\", \"params\": \"p=1\"}", ASSAY_ETYPE,
     "field 'params'"},
    {"{\"action\": \"a.b\", \"targets\": []}", ASSAY_EINVAL,
     "field 'targets': expected 1..10000 objects"},
    {"{\"action\": \"a.b\", \"targets\": {}}", ASSAY_EINVAL, "field 'targets'"},
    {"{\"action\": \"a.b\", \"targets\": [{}, \"x\"]}", ASSAY_ETYPE,
     "targets[1]: expected object"},
    {"{\"action\": \"a.b\", \"targets\": [[]]}", ASSAY_ETYPE, "targets[0]"},
    {"{\"action\": \"a.b\", \"labels\": []}", ASSAY_ETYPE,
     "field 'labels': expected object of strings"},
    {"{\"action\": \"a.b\", \"labels\": {\"Team\": \"x\"}}", ASSAY_EINVAL,
     "labels 'Team': key must match"},
    {"{\"action\": \"a.b\", \"labels\": {\"1a\": \"x\"}}", ASSAY_EINVAL,
     "labels '1a'"},
    {"{\"action\": \"a.b\", \"labels\": {\"a.b\": \"x\"}}", ASSAY_EINVAL,
     "labels 'a.b'"},
    {"{\"action\": \"a.b\", \"labels\": {\"n\": 1}}", ASSAY_EINVAL,
     "labels 'n'"},
    {"{\"action\": \"a.b\", \"selector\": {\"Zone\": \"x\"}}", ASSAY_EINVAL,
     "selector 'Zone': key must match"},
    {"{\"action\": \"a.b\", \"selector\": [\"zone\"]}", ASSAY_ETYPE,
     "field 'selector': expected object of strings"},
    {"{\"action\": \"a.b\", \"resources\": 512}", ASSAY_ETYPE,
     "field 'resources': expected object"},
    {"{\"action\": \"a.b\", \"resources\": {\"cpu\": 1}}", ASSAY_EINVAL,
     "resources: unknown field 'cpu' (known: memory_mb, cpus)"},
    {"{\"action\": \"a.b\", \"resources\": {\"cpus\": 0}}", ASSAY_ERANGE,
     "resources.cpus: 0 out of range (above 0, at most 1024)"},
    {"{\"action\": \"a.b\", \"resources\": {\"cpus\": 1025}}", ASSAY_ERANGE,
     "resources.cpus: 1025 out of range"},
    {"{\"action\": \"a.b\", \"resources\": {\"cpus\": -0.5}}", ASSAY_ERANGE,
     "resources.cpus"},
    {"{\"action\": \"a.b\", \"resources\": {\"cpus\": \"2\"}}", ASSAY_ETYPE,
     "resources.cpus: expected a number"},
    {"{\"action\": \"a.b\", \"placement\": \"binpack\"}", ASSAY_EINVAL,
     "field 'placement': want \"spread\" (the default) or \"pack\""},
    {"{\"action\": \"a.b\", \"placement\": 1}", ASSAY_EINVAL,
     "field 'placement'"},
    {"{\"action\": \"a.b\", \"resources\": {\"memory_mb\": -1}}", ASSAY_ERANGE,
     "field 'memory_mb': -1 out of range 0..1048576"},
    {"{\"action\": \"a.b\", \"resources\": {\"memory_mb\": \"1G\"}}",
     ASSAY_ETYPE, "field 'memory_mb': expected integer"},
    {"{\"action\": \"a.b\", \"timeout_ms\": 0}", ASSAY_ERANGE,
     "field 'timeout_ms': 0 out of range 1..86400000"},
    {"{\"action\": \"a.b\", \"timeout_ms\": 86400001}", ASSAY_ERANGE,
     "field 'timeout_ms': 86400001 out of range"},
    {"{\"action\": \"a.b\", \"timeout_ms\": 1.5}", ASSAY_ETYPE,
     "field 'timeout_ms': expected integer"},
    {"{\"action\": \"a.b\", \"timeout_ms\": \"1000\"}", ASSAY_ETYPE,
     "field 'timeout_ms': expected integer"},
    {"{\"action\": \"a.b\", \"max_attempts\": 0}", ASSAY_ERANGE,
     "field 'max_attempts': 0 out of range 1..100"},
    {"{\"action\": \"a.b\", \"max_attempts\": 101}", ASSAY_ERANGE,
     "field 'max_attempts': 101"},
    {"{\"action\": \"a.b\", \"max_attempts\": true}", ASSAY_ETYPE,
     "field 'max_attempts': expected integer"},
    {"{\"action\": \"a.b\", \"priority\": -1001}", ASSAY_ERANGE,
     "field 'priority': -1001 out of range -1000..1000"},
    {"{\"action\": \"a.b\", \"priority\": 1001}", ASSAY_ERANGE,
     "field 'priority': 1001"},
    {"{\"action\": \"a.b\", \"priority\": null}", ASSAY_ETYPE,
     "field 'priority': expected integer"},
    {"{\"action\": \"a.b\", \"priority\": -9223372036854775808}", ASSAY_ERANGE,
     "field 'priority'"},
    {"{\"action\": \"a.b\", \"retain_seconds\": -1}", ASSAY_ERANGE,
     "field 'retain_seconds': -1 out of range 0..3153600000"},
    {"{\"action\": \"a.b\", \"retain_seconds\": 3153600001}", ASSAY_ERANGE,
     "field 'retain_seconds': 3153600001"},
    {"{\"action\": \"a.b\", \"retain_seconds\": \"7d\"}", ASSAY_ETYPE,
     "field 'retain_seconds': expected integer"},
};

Test(jobspec, bad_fields)
{
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
        expect_bad(json(bads[i].json), bads[i].code, bads[i].why);
}

Test(jobspec, length_limits)
{
    assay_jobspec *s = parse_ok(with("id", repeated('i', ASSAY_ID_MAX)));

    cr_expect_eq(strlen(s->id), ASSAY_ID_MAX);
    assay_jobspec_destroy(&s);
    expect_bad(with("id", repeated('i', ASSAY_ID_MAX + 1)), ASSAY_EINVAL,
               "field 'id'");

    s = parse_ok(with("version", repeated('1', 63)));
    assay_jobspec_destroy(&s);
    expect_bad(with("version", repeated('1', 64)), ASSAY_EINVAL,
               "at most 63 bytes");

    /* s->action holds 129 bytes ("plugin.action" of 64 + 1 + 64) */
    char action[131];
    memset(action, 'a', sizeof action);
    action[64] = '.';
    action[129] = '\0';
    s = parse_ok(json_pack("{s:s}", "action", action));
    assay_jobspec_destroy(&s);
    action[129] = 'a';
    action[130] = '\0';
    expect_bad(json_pack("{s:s}", "action", action), ASSAY_EINVAL,
               "field 'action'");
}

/* n targets (empty objects). */
static json_t *targets(size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_object());
    return a;
}

Test(jobspec, target_count)
{
    assay_jobspec *s = parse_ok(with("targets", targets(ASSAY_MAX_TARGETS)));
    char id[ASSAY_ID_MAX + 16];

    cr_expect_eq(assay_jobspec_jobs(s), ASSAY_MAX_TARGETS);
    assay_jobspec_job_id(s, ASSAY_MAX_TARGETS - 1, id, sizeof id);
    cr_expect_str_eq(strrchr(id, '-'), "-9999");
    assay_jobspec_destroy(&s);
    expect_bad(with("targets", targets(ASSAY_MAX_TARGETS + 1)), ASSAY_EINVAL,
               "expected 1..10000 objects");
}

/* n labels l0..l(n-1), each valued value_len times "v". */
static json_t *labels(size_t n, size_t value_len)
{
    json_t *o = json_object();

    for (size_t i = 0; i < n; i++) {
        char key[24];

        snprintf(key, sizeof key, "l%zu", i);
        json_object_set_new(o, key, repeated('v', value_len));
    }
    return o;
}

Test(jobspec, label_limits)
{
    assay_jobspec *s = parse_ok(with("labels", labels(64, 255)));

    cr_expect_eq(json_object_size(s->labels), 64);
    assay_jobspec_destroy(&s);
    expect_bad(with("labels", labels(65, 1)), ASSAY_ETOOBIG,
               "field 'labels': more than 64 labels");
    expect_bad(with("labels", labels(1, 256)), ASSAY_EINVAL,
               "labels 'l0': key must match [a-z][a-z0-9_-]* and value be a "
               "string of at most 255 bytes");
}

/* Params: where a refused value was given */

static const assay_param mode_decl[] = {
    {"path", ASSAY_TYPE_STRING, ASSAY_PARAM_REQUIRED, NULL, ""},
    {"mode", ASSAY_TYPE_INT64, 0, "420", ""},
    {NULL, 0, 0, NULL, NULL},
};

/* Checks the params of `spec` against mode_decl; expects `code` and, on
 * refusal, exactly the message `want`. */
static void expect_params(const char *spec, int code, const char *want)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_jobspec *s = parse_ok(json(spec));
    json_t *params = NULL;

    cr_expect_eq(assay_jobspec_check_params(s, mode_decl, &params, err,
                                            sizeof err),
                 code, "%s: '%s'", spec, err);
    if (code)
        cr_expect_str_eq(err, want, "%s", spec);
    else
        cr_expect_eq(json_array_size(params), assay_jobspec_jobs(s));
    json_decref(params);
    assay_jobspec_destroy(&s);
}

Test(jobspec, bad_param_names_where_it_was_given)
{
    /* in params, used by every target: not targets[0]'s fault */
    expect_params("{\"action\": \"file.mode\", \"params\": {\"mode\": "
                  "\"644\"}, \"targets\": [{\"path\": \"/a\"}, "
                  "{\"path\": \"/b\"}]}",
                  ASSAY_ETYPE,
                  "file.mode: params: param 'mode': expected int64, got "
                  "string");
    /* in one target, over a good base value */
    expect_params("{\"action\": \"file.mode\", \"params\": {\"mode\": "
                  "420}, \"targets\": [{\"path\": \"/a\"}, {\"path\": "
                  "\"/b\", \"mode\": \"644\"}]}",
                  ASSAY_ETYPE,
                  "file.mode: targets[1]: param 'mode': expected int64, got "
                  "string");
    /* a target that overrides a bad base value is fine; the next is not */
    expect_params("{\"action\": \"file.mode\", \"params\": {\"mode\": "
                  "\"644\"}, \"targets\": [{\"path\": \"/a\", \"mode\": "
                  "1}, {\"path\": \"/b\"}]}",
                  ASSAY_ETYPE,
                  "file.mode: params: param 'mode': expected int64, got "
                  "string");
    expect_params("{\"action\": \"file.mode\", \"params\": {\"pth\": "
                  "\"/a\"}, \"targets\": [{\"path\": \"/a\"}]}",
                  ASSAY_ENOENT,
                  "file.mode: params: unknown param 'pth' (declared: path, "
                  "mode)");
    expect_params("{\"action\": \"file.mode\", \"targets\": [{\"path\": "
                  "\"/a\"}, {\"pth\": \"/b\"}]}",
                  ASSAY_ENOENT,
                  "file.mode: targets[1]: unknown param 'pth' (declared: "
                  "path, mode)");
    /* missing from both: the target that lacks it */
    expect_params("{\"action\": \"file.mode\", \"targets\": [{\"path\": "
                  "\"/a\"}, {\"mode\": 1}]}",
                  ASSAY_EINVAL,
                  "file.mode: targets[1]: missing required param 'path' "
                  "(string)");
    /* without targets, params is the only place */
    expect_params("{\"action\": \"file.mode\", \"params\": {\"path\": "
                  "\"/a\", \"mode\": true}}",
                  ASSAY_ETYPE,
                  "file.mode: params: param 'mode': expected int64, got "
                  "boolean");
    expect_params("{\"action\": \"file.mode\"}", ASSAY_EINVAL,
                  "file.mode: missing required param 'path' (string)");
    expect_params("{\"action\": \"file.mode\", \"params\": {\"mode\": "
                  "1}, \"targets\": [{\"path\": \"/a\"}, {\"path\": "
                  "\"/b\", \"mode\": 2}]}",
                  0, NULL);
}

/* Files */

static char *dir;

static void make_dir(void)
{
    dir = harness_tmpdir();
}

static void free_dir(void)
{
    free(dir);
}

TestSuite(jobspec_load, .init = make_dir, .fini = free_dir);

/* Loads dir/name holding `text`, expecting `code`; returns the path
 * (caller frees) so that the error can be checked for it. */
static char *load(const char *name, const char *text, int code, char *err,
                  assay_jobspec **s)
{
    char *path = harness_write(dir, name, text);

    err[0] = '\0';
    cr_expect_eq(assay_jobspec_load(path, s, err, ASSAY_ERRMSG_SIZE), code,
                 "%s", err);
    cr_expect((code == 0) == (*s != NULL));
    return path;
}

/* err must be "<path><rest>". */
static void expect_at(const char *err, const char *path, const char *rest)
{
    size_t n = strlen(path);

    cr_expect_eq(strncmp(err, path, n), 0, "'%s' does not start with %s", err,
                 path);
    cr_expect_not_null(strstr(err + n, rest), "'%s' lacks '%s'", err, rest);
}

Test(jobspec_load, ok)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_jobspec *s = NULL;
    char *path = load(
        "ok.json", "{\"id\": \"j1\", \"action\": \"file.stat\"}\n", 0, err, &s);

    cr_expect_str_eq(s->id, "j1");
    assay_jobspec_destroy(&s);
    free(path);
}

Test(jobspec_load, malformed_json_has_line_and_column)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_jobspec *s = NULL;
    char *path =
        load("bad.json", "{\n  \"action\": \"file.stat\",\n  oops: 1\n}\n",
             ASSAY_EPARSE, err, &s);

    expect_at(err, path, ":3:6: string or '}' expected near 'oops'");
    free(path);
    path = load("dup.json", "{\"action\": \"a.b\",\n \"action\": \"c.d\"}",
                ASSAY_EPARSE, err, &s);
    expect_at(err, path, ":2:");
    cr_expect_not_null(strstr(err, "duplicate"), "%s", err);
    free(path);
    path = load("empty.json", "", ASSAY_EPARSE, err, &s);
    expect_at(err, path, ":");
    free(path);
}

Test(jobspec_load, invalid_spec_names_file)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_jobspec *s = NULL;
    char *path = load("inv.json", "{\"action\": \"a.b\", \"priority\": 5000}",
                      ASSAY_ERANGE, err, &s);

    expect_at(err, path, ": field 'priority': 5000 out of range");
    free(path);
}

/* A valid JobSpec padded with spaces to exactly `size` bytes. */
static char *padded(size_t size)
{
    static const char spec[] = "{\"action\": \"file.stat\"}";
    char *text = malloc(size + 1);

    memcpy(text, spec, sizeof spec - 1);
    memset(text + sizeof spec - 1, ' ', size - (sizeof spec - 1));
    text[size] = '\0';
    return text;
}

Test(jobspec_load, size_limit)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_jobspec *s = NULL;
    char *text = padded(ASSAY_JOBSPEC_FILE_MAX);
    char *path = load("max.json", text, 0, err, &s);

    assay_jobspec_destroy(&s);
    free(path);
    free(text);
    text = padded(ASSAY_JOBSPEC_FILE_MAX + 1);
    path = load("big.json", text, ASSAY_ETOOBIG, err, &s);
    expect_at(err, path, ": 1048577 bytes, limit 1048576");
    free(path);
    free(text);
}

Test(jobspec_load, missing_file)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    char *path;
    assay_jobspec *s = NULL;

    cr_assert_neq(asprintf(&path, "%s/nope.json", dir), -1);
    cr_expect_eq(assay_jobspec_load(path, &s, err, sizeof err), ASSAY_ENOENT);
    cr_expect_null(s);
    expect_at(err, path, ": No such file or directory");
    free(path);
}
