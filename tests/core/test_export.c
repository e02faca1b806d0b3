/* tests/core/test_export.c - the evidence exporter: each format read
 * back, OSCAL output valid against NIST's schema (tests/oscal/) and a
 * broken document refused by the same check, hostile text escaped, a
 * long run streamed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <assay/error.h>

#include "base/uuid.h"
#include "bin/export.h"

/* ---------------------------------------------------------------- Fixture */

static char s_dir[64];

static void setup(void)
{
    strcpy(s_dir, "/tmp/assay-export-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
}

static void teardown(void)
{
    DIR *d = opendir(s_dir);
    struct dirent *e;
    char path[PATH_MAX];

    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", s_dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(s_dir);
}

TestSuite(export, .init = setup, .fini = teardown);

/* ---------------------------------------------------------------- Helpers */

/* Quotes, markup, an entity, line breaks, control characters, U+2028,
 * U+FFFF, a no-break space at the end. */
#define HOSTILE                                                                \
    "He said \"hi\" <b>&amp;</b> it's\n\tline 2\r\x01\x1f\x7f "               \
    "\xe2\x80\xa8 \xef\xbf\xbf end\xc2\xa0"

static const char *s_path(const char *name)
{
    static char buf[4][PATH_MAX];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", s_dir, name);
    return buf[i];
}

static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int c;

    cr_assert_not_null(f, "open %s", path);
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* Exit status of a command, its output in FILE.log beside `path`. */
static int s_run(const char *cmd_fmt, const char *path)
{
    char cmd[3 * PATH_MAX];
    int st;

    snprintf(cmd, sizeof cmd, cmd_fmt, path);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " >%s.log 2>&1",
             path);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int s_validate(const char *path)
{
    return s_run("/usr/bin/python3 " ASSAY_SOURCE_DIR
                 "/tests/oscal/validate.py %s",
                 path);
}

static void s_expect_valid(const char *path)
{
    int rc = s_validate(path);
    char log[PATH_MAX];
    char *text;

    snprintf(log, sizeof log, "%s.log", path);
    text = s_slurp(log);
    cr_expect_eq(rc, 0, "validate.py %s: %d\n%.3000s", path, rc, text);
    free(text);
}

static json_t *s_meta(void)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "generated",
                     "2026-12-03T02:30:00Z", "tool_version", "0.1.0",
                     "title", "Nightly <baseline> & \"more\"", "member",
                     "m1");
}

/* A full record, as `assayctl export` reads it; callers change fields. */
static const char *s_template =
    "{\"uuid\": \"\", \"job\": \"\", \"spec\": \"\", \"index\": 0,"
    " \"schedule\": null, \"fire_time\": null,"
    " \"action\": \"file.mode\", \"title\": \"Password file mode\","
    " \"description\": \"The password file is 0644.\","
    " \"labels\": {\"section\": \"file-permissions\"},"
    " \"controls\": [{\"catalog\": \"NIST_SP-800-53_rev5\","
    "   \"id\": \"ac-6.1\"}],"
    " \"target\": {\"path\": \"/etc/passwd\", \"mode\": 420},"
    " \"state\": \"completed\", \"status\": \"pass\","
    " \"message\": \"/etc/passwd has mode 0644\", \"reason\": null,"
    " \"findings\": [{\"state\": \"satisfied\", \"title\": \"permission bits\","
    "   \"subject\": \"/etc/passwd\","
    "   \"evidence\": {\"actual\": \"0644\", \"expected\": \"0644\"}}],"
    " \"submitted\": \"2026-12-03T02:00:00Z\","
    " \"started\": \"2026-12-03T02:00:00.123Z\","
    " \"ended\": \"2026-12-03T02:00:00.456Z\","
    " \"expires\": \"2027-12-03T02:00:00Z\", \"attempt\": 1,"
    " \"runtime\": \"rt-1\","
    " \"host\": {\"hostname\": \"h1\","
    "   \"os\": \"Debian GNU/Linux 13 (trixie)\","
    "   \"kernel\": \"Linux 6.1.0\", \"machine_id\": \"0123abcd\"},"
    " \"plugin\": {\"name\": \"file\", \"version\": \"1.2.0\","
    "   \"sha256\": \"9f86d081884c7d659a2feaa0c55ad015"
    "a3bf4f1b2b0b822cd15d6c15b0f00a08\"},"
    " \"submitted_by\": {\"name\": \"alice\", \"role\": \"admin\"},"
    " \"drift\": {\"previous\": \"pass\", \"change\": \"unchanged\","
    "   \"changed\": []},"
    " \"position\": 123}";

static json_t *s_rec(const char *spec, int index, const char *state,
                     const char *status)
{
    json_error_t jerr;
    json_t *r = json_loads(s_template, 0, &jerr);
    char job[128], uuid[ASSAY_UUID_TEXT_SIZE];

    cr_assert_not_null(r, "template: %s", jerr.text);
    snprintf(job, sizeof job, "%s-%d", spec, index);
    cr_assert_eq(assay_uuid5_text(ASSAY_UUID_NS, job, uuid), 0);
    json_object_set_new(r, "uuid", json_string(uuid));
    json_object_set_new(r, "job", json_string(job));
    json_object_set_new(r, "spec", json_string(spec));
    json_object_set_new(r, "index", json_integer(index));
    json_object_set_new(r, "state", json_string(state));
    json_object_set_new(r, "status", status ? json_string(status)
                                            : json_null());
    return r;
}

static void s_host(json_t *r, const char *name, const char *mid)
{
    json_object_set_new(r, "host",
                        json_pack("{s:s, s:s, s:s, s:s}", "hostname", name,
                                  "os", "Debian GNU/Linux 13 (trixie)",
                                  "kernel", "Linux 6.1.0", "machine_id",
                                  mid));
}

#define N_RECS 6

/* Two runs: pass, fail, error and cancelled in the first (one without
 * controls, one without host or times); failed and pass in the second,
 * with hostile text everywhere a user or plugin can put it. */
static void s_records(json_t *recs[N_RECS])
{
    recs[0] = s_rec("baseline-2026", 0, "completed", "pass");
    json_array_append_new(json_object_get(recs[0], "controls"),
                          json_pack("{s:s, s:s}", "catalog",
                                    "NIST_SP-800-53_rev5", "id", "cm-6"));
    recs[1] = s_rec("baseline-2026", 1, "completed", "fail");
    s_host(recs[1], "h2", "4567ef01");
    json_object_set_new(recs[1], "message", json_string(HOSTILE));
    json_object_set_new(json_array_get(json_object_get(recs[1], "findings"),
                                       0),
                        "state", json_string("not-satisfied"));
    json_object_set_new(recs[1], "drift",
                        json_pack("{s:s, s:s, s:[s]}", "previous", "pass",
                                  "change", "regressed", "changed",
                                  "findings[0].evidence.actual"));
    recs[2] = s_rec("baseline-2026", 2, "completed", "error");
    json_object_set_new(recs[2], "controls", json_array());
    recs[3] = s_rec("baseline-2026", 3, "cancelled", NULL);
    json_object_set_new(recs[3], "host", json_null());
    json_object_set_new(recs[3], "started", json_null());
    json_object_set_new(recs[3], "ended", json_null());
    json_object_set_new(recs[3], "expires", json_null());
    json_object_set_new(recs[3], "findings", json_array());
    json_object_set_new(recs[3], "reason", json_string("cancelled by alice"));
    json_object_set_new(recs[3], "message", json_null());
    for (int i = 0; i < 4; i++) {
        json_object_set_new(recs[i], "schedule", json_string("nightly"));
        json_object_set_new(recs[i], "fire_time",
                            json_string("2026-12-03T02:00:00Z"));
    }

    recs[4] = s_rec("other <spec>", 0, "failed", NULL);
    json_object_set_new(recs[4], "title", json_string(HOSTILE));
    json_object_set_new(recs[4], "description", json_string(HOSTILE));
    json_object_set_new(recs[4], "reason", json_string(HOSTILE));
    json_object_set_new(recs[4], "message", json_null());
    json_object_set_new(recs[4], "controls",
                        json_pack("[{s:s, s:s}]", "catalog", "CIS", "id",
                                  "CIS-5.2.10"));
    json_object_set_new(recs[4], "target",
                        json_pack("{s:s, s:[i, i]}", HOSTILE, HOSTILE,
                                  "list", 1, 2));
    json_object_set_new(recs[4], "labels", json_pack("{s:s}", HOSTILE,
                                                     HOSTILE));
    json_object_set_new(recs[4], "runtime", json_string(" \t "));
    json_object_set_new(recs[4], "plugin",
                        json_pack("{s:s, s:s, s:s}", "name", HOSTILE,
                                  "version", "1.2.0", "sha256", "00"));
    s_host(recs[4], HOSTILE, "");
    json_object_set_new(json_array_get(json_object_get(recs[4], "findings"),
                                       0),
                        "evidence", json_pack("{s:s}", HOSTILE, HOSTILE));
    recs[5] = s_rec("other <spec>", 1, "completed", "pass");
    json_object_set_new(recs[5], "target", json_null());
    json_object_set_new(recs[5], "drift", json_null());
    json_object_set_new(recs[5], "submitted_by", json_null());
    /* A later time zone: still the run's earliest start. */
    json_object_set_new(recs[5], "started",
                        json_string("2026-12-03T03:59:00+02:00"));
    json_object_set_new(recs[5], "submitted",
                        json_string("not a time"));
}

static void s_free(json_t *recs[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
}

static void s_export(const char *format, json_t *const *recs, size_t n,
                     const char *path)
{
    FILE *f = fopen(path, "w");
    json_t *meta = s_meta();
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_export *x;

    cr_assert_not_null(f);
    x = assay_export_new(f, format, meta, err, sizeof err);
    cr_assert_not_null(x, "%s", err);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(assay_export_record(x, recs[i], err, sizeof err), 0,
                     "record %zu: %s", i, err);
    cr_assert_eq(assay_export_finish(x, err, sizeof err), 0, "%s", err);
    assay_export_destroy(&x);
    cr_assert_null(x);
    json_decref(meta);
    cr_assert_eq(fclose(f), 0);
}

static json_t *s_load(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);

    cr_assert_not_null(doc, "%s: line %d: %s", path, jerr.line, jerr.text);
    return doc;
}

/* Whether the document holds a byte XML 1.0 forbids (controls other than
 * tab and newline, raw CR included). */
static bool s_has_control(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 && *p != '\n' && *p != '\t')
            return true;
    return false;
}

/* ---------------------------------------------------------------- Tests */

Test(export, unknown_format_named)
{
    json_t *meta = s_meta();
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_expect_null(assay_export_new(stdout, "yaml", meta, err, sizeof err));
    cr_expect(strstr(err, "'yaml'") != NULL, "%s", err);
    cr_expect(strstr(err, "oscal-ar, json, junit") != NULL, "%s", err);
    err[0] = '\0';
    cr_expect_null(assay_export_new(stdout, NULL, meta, err, sizeof err));
    cr_expect(strstr(err, "oscal-ar") != NULL, "%s", err);
    json_decref(meta);
}

Test(export, meta_checked)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *meta = json_pack("{s:s, s:s}", "generated", "yesterday",
                             "tool_version", "0.1.0");

    cr_expect_null(assay_export_new(stdout, "json", meta, err, sizeof err));
    cr_expect(strstr(err, "generated") != NULL, "%s", err);
    json_decref(meta);
    meta = json_pack("{s:s}", "generated", "2026-12-03T02:30:00Z");
    cr_expect_null(assay_export_new(stdout, "json", meta, err, sizeof err));
    cr_expect(strstr(err, "tool_version") != NULL, "%s", err);
    json_decref(meta);
}

Test(export, json_reads_back)
{
    json_t *recs[N_RECS], *doc, *results;
    const char *path = s_path("out.json");
    char *text;

    s_records(recs);
    s_export("json", recs, N_RECS, path);
    doc = s_load(path);
    cr_expect_eq(json_integer_value(json_object_get(doc, "assay_evidence")),
                 1);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "generated")),
                     "2026-12-03T02:30:00Z");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(doc, "tool"), "version")),
                     "0.1.0");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "member")), "m1");
    results = json_object_get(doc, "results");
    cr_assert_eq(json_array_size(results), N_RECS);
    for (size_t i = 0; i < N_RECS; i++)
        cr_expect(json_equal(json_array_get(results, i), recs[i]),
                  "record %zu differs", i);
    /* One record a line. */
    text = s_slurp(path);
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, N_RECS + 2, "%s", text);
    free(text);
    json_decref(doc);
    s_free(recs, N_RECS);
}

Test(export, empty_documents_complete)
{
    const char *formats[] = {"json", "junit", "oscal-ar"};
    for (size_t i = 0; i < 3; i++) {
        const char *path = s_path(formats[i]);
        s_export(formats[i], NULL, 0, path);
        if (i == 0) {
            json_t *doc = s_load(path);
            cr_expect_eq(json_array_size(json_object_get(doc, "results")),
                         0);
            json_decref(doc);
        } else if (i == 1) {
            cr_expect_eq(s_run("/usr/bin/python3 -c 'import xml.dom.minidom,"
                               "sys; xml.dom.minidom.parse(sys.argv[1])' %s",
                               path),
                         0);
        } else {
            s_expect_valid(path);
        }
    }
}

/* The checks a JUnit consumer relies on, in Python's DOM: well-formed,
 * each suite's counts matching its cases, hostile text intact. */
static const char *s_junit_check =
    "import sys, xml.dom.minidom as m\n"
    "d = m.parse(sys.argv[1])\n"
    "suites = d.getElementsByTagName('testsuite')\n"
    "assert len(suites) == 2, len(suites)\n"
    "for s in suites:\n"
    "    cases = s.getElementsByTagName('testcase')\n"
    "    n = lambda t: sum(1 for c in cases if c.getElementsByTagName(t))\n"
    "    assert int(s.getAttribute('tests')) == len(cases)\n"
    "    for t, a in (('failure', 'failures'), ('error', 'errors'),\n"
    "                 ('skipped', 'skipped')):\n"
    "        assert int(s.getAttribute(a)) == n(t), (a, n(t))\n"
    "a, b = suites\n"
    "assert a.getAttribute('name') == 'baseline-2026 (schedule nightly)'\n"
    "assert b.getAttribute('name') == 'other <spec>'\n"
    "assert [a.getAttribute(k) for k in ('tests', 'failures', 'errors',\n"
    "        'skipped')] == ['4', '1', '1', '1']\n"
    "assert [b.getAttribute(k) for k in ('tests', 'failures', 'errors',\n"
    "        'skipped')] == ['2', '0', '1', '0']\n"
    "f = a.getElementsByTagName('failure')[0].getAttribute('message')\n"
    "assert f.startswith('He said \"hi\" <b>&amp;</b> it\\'s\\n\\tline 2\\r'),"
    " repr(f)\n"
    "assert '\\\\u0001' in f and '\\\\uFFFF' in f, repr(f)\n"
    "c = a.getElementsByTagName('testcase')[0]\n"
    "assert c.getAttribute('classname') == 'file.mode'\n"
    "assert c.getAttribute('name') == "
    "'baseline-2026-0 path=/etc/passwd mode=420', c.getAttribute('name')\n"
    "assert c.getAttribute('time') == '0.333', c.getAttribute('time')\n"
    "out = c.getElementsByTagName('system-out')[0].firstChild.data\n"
    "assert 'actual: 0644' in out and 'host: h1' in out, out\n"
    "e = b.getElementsByTagName('error')[0]\n"
    "assert e.getAttribute('type') == 'failed'\n"
    "assert e.getAttribute('message').startswith('He said'), "
    "e.getAttribute('message')\n";

Test(export, junit_well_formed_and_counted)
{
    json_t *recs[N_RECS];
    const char *path = s_path("out.xml"), *script = s_path("check.py");
    char cmd[2 * PATH_MAX];
    char *text, *log;
    FILE *f;

    s_records(recs);
    s_export("junit", recs, N_RECS, path);
    text = s_slurp(path);
    cr_expect(!s_has_control(text), "a raw control character");
    cr_expect(strstr(text, "He said &quot;hi&quot; &lt;b&gt;&amp;amp;&lt;/b&gt;"
                           " it's&#10;&#9;line 2&#13;\\u0001\\u001F\\u007F ") !=
                  NULL,
              "%s", text);
    cr_expect(strstr(text, "<skipped message=\"cancelled by alice\"/>") !=
              NULL);
    free(text);

    f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs(s_junit_check, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %%s", script);
    int rc = s_run(cmd, path);
    log = s_slurp(s_path("out.xml.log"));
    cr_expect_eq(rc, 0, "%s", log);
    free(log);
    s_free(recs, N_RECS);
}

static json_t *s_result(json_t *doc, size_t i)
{
    return json_array_get(json_object_get(json_object_get(doc,
                                                          "assessment-results"),
                                          "results"),
                          i);
}

static const char *s_get(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

Test(export, oscal_valid_and_mapped)
{
    json_t *recs[N_RECS], *doc, *a, *b, *x;
    const char *path = s_path("ar.json"), *again = s_path("ar2.json");
    char *t1, *t2;
    size_t i;

    s_records(recs);
    s_export("oscal-ar", recs, N_RECS, path);
    s_expect_valid(path);

    /* Deterministic: the same evidence gives the same document. */
    s_export("oscal-ar", recs, N_RECS, again);
    t1 = s_slurp(path);
    t2 = s_slurp(again);
    cr_expect_str_eq(t1, t2);
    free(t1);
    free(t2);

    doc = s_load(path);
    x = json_object_get(json_object_get(doc, "assessment-results"),
                        "metadata");
    cr_expect_str_eq(s_get(x, "oscal-version"), "1.0.4");
    cr_expect_str_eq(s_get(x, "last-modified"), "2026-12-03T02:30:00Z");
    cr_expect_str_eq(s_get(x, "version"), "0.1.0");
    a = s_result(doc, 0);
    b = s_result(doc, 1);
    cr_assert_not_null(b);
    cr_expect_null(s_result(doc, 2));

    /* Run 1: one observation per record, its id the evidence id. */
    cr_assert_eq(json_array_size(json_object_get(a, "observations")), 4);
    json_array_foreach(json_object_get(a, "observations"), i, x)
        cr_expect_str_eq(s_get(x, "uuid"), s_get(recs[i], "uuid"));
    cr_expect_str_eq(s_get(a, "title"), "Password file mode");
    /* The cancelled job never started: its submission is the earliest. */
    cr_expect_str_eq(s_get(a, "start"), "2026-12-03T02:00:00Z");
    cr_expect_str_eq(s_get(a, "end"), "2026-12-03T02:00:00.456Z");
    x = json_array_get(json_object_get(json_object_get(a, "reviewed-controls"),
                                       "control-selections"),
                       0);
    cr_assert_eq(json_array_size(json_object_get(x, "include-controls")), 2);
    cr_expect_str_eq(s_get(json_array_get(json_object_get(x,
                                                          "include-controls"),
                                          0),
                           "control-id"),
                     "ac-6.1");
    /* Findings: control x record; none for the record without controls;
     * pass satisfied, the rest not. */
    const char *want[][3] = {
        {"ac-6.1", "satisfied", NULL}, {"cm-6", "satisfied", NULL},
        {"ac-6.1", "not-satisfied", NULL}, {"ac-6.1", "not-satisfied", NULL}};
    int from[] = {0, 0, 1, 3};
    cr_assert_eq(json_array_size(json_object_get(a, "findings")), 4);
    json_array_foreach(json_object_get(a, "findings"), i, x) {
        json_t *target = json_object_get(x, "target");
        cr_expect_str_eq(s_get(target, "target-id"), want[i][0]);
        cr_expect_str_eq(s_get(target, "type"), "objective-id");
        cr_expect_str_eq(s_get(json_object_get(target, "status"), "state"),
                         want[i][1]);
        cr_expect_str_eq(s_get(json_array_get(json_object_get(
                                                  x, "related-observations"),
                                              0),
                               "observation-uuid"),
                         s_get(recs[from[i]], "uuid"));
    }
    /* Two hosts (h1 twice, h2; the cancelled job had none). */
    cr_expect_eq(json_array_size(json_object_get(
                     json_object_get(a, "local-definitions"),
                     "inventory-items")),
                 2);
    cr_expect_eq(json_array_size(json_object_get(
                     json_object_get(a, "assessment-log"), "entries")),
                 4);

    /* Run 2: the earliest start across time zones; include-controls. */
    cr_expect_str_eq(s_get(b, "start"), "2026-12-03T03:59:00+02:00");
    cr_expect_eq(json_array_size(json_object_get(b, "observations")), 2);
    cr_expect_eq(json_array_size(json_object_get(b, "findings")), 2);
    /* Every target in back-matter, referenced by its observation. */
    cr_expect_eq(json_array_size(json_object_get(json_object_get(
                     json_object_get(doc, "assessment-results"),
                     "back-matter"), "resources")),
                 N_RECS - 1);
    json_decref(doc);
    s_free(recs, N_RECS);
}

/* Rewrites the valid document with one field broken; validate.py must
 * refuse it. */
static void s_expect_refused(json_t *doc, const char *name)
{
    const char *path = s_path(name);

    cr_assert_eq(json_dump_file(doc, path, JSON_INDENT(1)), 0);
    cr_expect_eq(s_validate(path), 1, "%s was accepted", name);
}

Test(export, broken_oscal_refused)
{
    json_t *recs[N_RECS], *doc, *a, *x;
    const char *path = s_path("ar.json");

    s_records(recs);
    s_export("oscal-ar", recs, N_RECS, path);
    s_expect_valid(path);

    doc = s_load(path);
    a = s_result(doc, 0);
    x = json_object_get(json_array_get(json_object_get(a, "findings"), 0),
                        "target");
    json_object_set_new(json_object_get(x, "status"), "state",
                        json_string("maybe"));
    s_expect_refused(doc, "state.json");
    json_decref(doc);

    doc = s_load(path);
    a = s_result(doc, 0);
    x = json_array_get(json_object_get(a, "observations"), 1);
    json_object_set_new(x, "uuid",
                        json_string("2ed6657d-e927-168b-95e1-2665a8aea6a2"));
    s_expect_refused(doc, "uuid.json");
    json_decref(doc);

    doc = s_load(path);
    json_object_del(s_result(doc, 1), "start");
    s_expect_refused(doc, "start.json");
    json_decref(doc);
    s_free(recs, N_RECS);
}

Test(export, refused_record_leaves_document)
{
    json_t *recs[N_RECS], *bad, *meta = s_meta();
    const char *path = s_path("ar.json");
    char err[ASSAY_ERRMSG_SIZE] = "";
    FILE *f = fopen(path, "w");
    assay_export *x;

    s_records(recs);
    x = assay_export_new(f, "oscal-ar", meta, err, sizeof err);
    cr_assert_not_null(x, "%s", err);
    cr_assert_eq(assay_export_record(x, recs[0], err, sizeof err), 0, "%s",
                 err);
    /* A control id that is no OSCAL token, a record that is no object, a
     * record without uuid: refused, and the export goes on. */
    bad = json_deep_copy(recs[1]);
    json_object_set_new(bad, "controls",
                        json_pack("[{s:s, s:s}]", "catalog", "x", "id",
                                  "AC-6(1)"));
    cr_expect_eq(assay_export_record(x, bad, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "controls[0]") != NULL, "%s", err);
    cr_expect_eq(assay_export_record(x, json_object_get(bad, "controls"),
                                     err, sizeof err),
                 ASSAY_EINVAL);
    json_object_del(bad, "uuid");
    cr_expect_eq(assay_export_record(x, bad, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "uuid") != NULL, "%s", err);
    json_decref(bad);
    for (size_t i = 1; i < N_RECS; i++)
        cr_assert_eq(assay_export_record(x, recs[i], err, sizeof err), 0,
                     "%s", err);
    cr_assert_eq(assay_export_finish(x, err, sizeof err), 0, "%s", err);
    /* Finished: no more records. */
    cr_expect_eq(assay_export_record(x, recs[0], err, sizeof err),
                 ASSAY_EINVAL);
    assay_export_destroy(&x);
    fclose(f);
    s_expect_valid(path);
    json_decref(meta);
    s_free(recs, N_RECS);
}

/* A run names at most as many distinct controls as a JobSpec may have;
 * the record that would cross the bound is refused, the rest goes on. */
Test(export, controls_bounded)
{
    json_t *meta = s_meta(), *r;
    const char *path = s_path("ar.json");
    char err[ASSAY_ERRMSG_SIZE] = "", id[32];
    FILE *f = fopen(path, "w");
    assay_export *x = assay_export_new(f, "oscal-ar", meta, err, sizeof err);

    cr_assert_not_null(x, "%s", err);
    for (int i = 0; i < 3; i++) {
        r = s_rec("wide", i, "completed", "pass");
        json_t *controls = json_array();
        for (int c = 0; c < 100; c++) {
            int n = i < 2 ? i * 100 + c : 150 + 2 * c;
            snprintf(id, sizeof id, "c-%d", n);
            json_array_append_new(controls, json_pack("{s:s, s:s}", "catalog",
                                                      "X", "id", id));
        }
        json_object_set_new(r, "controls", controls);
        /* 100, 200, then 275 distinct (150 to 348 by 2 brings 75 new):
         * the third is refused. */
        cr_expect_eq(assay_export_record(x, r, err, sizeof err),
                     i < 2 ? 0 : ASSAY_ETOOBIG, "record %d: %s", i, err);
        json_decref(r);
    }
    cr_expect(strstr(err, "256") != NULL, "%s", err);
    /* A new run starts counting again. */
    r = s_rec("narrow", 0, "completed", "pass");
    cr_expect_eq(assay_export_record(x, r, err, sizeof err), 0, "%s", err);
    json_decref(r);
    cr_assert_eq(assay_export_finish(x, err, sizeof err), 0, "%s", err);
    assay_export_destroy(&x);
    fclose(f);
    s_expect_valid(path);
    json_decref(meta);
}

/* A write that fails ends the export with ASSAY_EIO, every later call
 * saying so. */
Test(export, write_error_ends_export)
{
    json_t *recs[N_RECS], *meta = s_meta();
    char err[ASSAY_ERRMSG_SIZE] = "";
    FILE *f = fopen("/dev/full", "w");
    assay_export *x;
    int rc = 0;

    cr_assert_not_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    s_records(recs);
    x = assay_export_new(f, "json", meta, err, sizeof err);
    cr_expect_null(x, "the head went to /dev/full");
    assay_export_destroy(&x);
    clearerr(f);
    x = assay_export_new(f, "oscal-ar", meta, err, sizeof err);
    cr_assert_not_null(x, "%s", err);
    for (size_t i = 0; i < N_RECS && !rc; i++)
        rc = assay_export_record(x, recs[i], err, sizeof err);
    cr_expect_eq(rc, ASSAY_EIO, "%s", err);
    cr_expect_eq(assay_export_finish(x, err, sizeof err), ASSAY_EIO);
    assay_export_destroy(&x);
    fclose(f);
    json_decref(meta);
    s_free(recs, N_RECS);
}

/* One run of 20,000 jobs on three hosts streams through and validates. */
Test(export, long_run_streams, .timeout = 280)
{
    json_t *meta = s_meta(), *doc, *a, *r;
    const char *path = s_path("long.json");
    char err[ASSAY_ERRMSG_SIZE] = "";
    FILE *f = fopen(path, "w");
    assay_export *x = assay_export_new(f, "oscal-ar", meta, err, sizeof err);
    const size_t n = 20000;

    cr_assert_not_null(x, "%s", err);
    for (size_t i = 0; i < n; i++) {
        char host[16], mid[16];
        r = s_rec("big", (int)i, "completed", i % 7 ? "pass" : "fail");
        snprintf(host, sizeof host, "h%zu", i % 3);
        snprintf(mid, sizeof mid, "m%zu", i % 3);
        s_host(r, host, mid);
        cr_assert_eq(assay_export_record(x, r, err, sizeof err), 0, "%s",
                     err);
        json_decref(r);
    }
    cr_assert_eq(assay_export_finish(x, err, sizeof err), 0, "%s", err);
    assay_export_destroy(&x);
    fclose(f);
    s_expect_valid(path);
    doc = s_load(path);
    a = s_result(doc, 0);
    cr_expect_eq(json_array_size(json_object_get(a, "observations")), n);
    cr_expect_eq(json_array_size(json_object_get(a, "findings")), n);
    cr_expect_eq(json_array_size(json_object_get(
                     json_object_get(a, "local-definitions"),
                     "inventory-items")),
                 3);
    json_decref(doc);
    json_decref(meta);
}
