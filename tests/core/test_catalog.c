/* tests/core/test_catalog.c - the plugin host: every defect refused with a
 * reason naming the file, newer minors accepted, version range selection,
 * resolution errors that say what exists. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"
#include "plugin/catalog.h"
#include "plugin/loader.h"
#include "plugin/plugdir.h"

/* ---- Fixture ---------------------------------------------------------- */

static assay_catalog *cat;

static void scan(const char *dir)
{
    cat = assay_catalog_new();
    char err[512];
    cr_assert_eq(assay_plugdir_scan(cat, dir, err, sizeof err), 0, "%s", err);
}

static void teardown(void) { assay_catalog_destroy(&cat); }

TestSuite(catalog, .fini = teardown);

/* ---- Helpers ---------------------------------------------------------- */

/* The refusal reason recorded for a file, "" if it was not refused. */
static const char *reason_for(json_t *j, const char *file)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "refused"), i, r) {
        const char *path = json_string_value(json_object_get(r, "path"));
        if (strstr(path, file))
            return json_string_value(json_object_get(r, "reason"));
    }
    return "";
}

static bool loaded(const char *name)
{
    for (const assay_plugin *p = assay_catalog_first(cat); p; p = p->next)
        if (!strcmp(p->name, name))
            return true;
    return false;
}

/* ---- Tests ------------------------------------------------------------ */

Test(catalog, refuses_each_defect_with_its_reason)
{
    scan(HARNESS_FIXTURES "broken");
    json_t *j = assay_catalog_json(cat);
    static const struct {
        const char *file, *reason;
    } cases[] = {
        {"noentry.so", "no entry symbol assay_module_v1"},
        {"abi2.so", "ABI major 2, this host supports 1"},
        {"smallstruct.so", "descriptor is 16 bytes"},
        {"badsemver.so", "invalid semantic version '1.2'"},
        {"badname.so", "invalid module name 'Bad Name'"},
        {"badparam.so", "param 'x': invalid type 99"},
        {"optnodefault.so", "param 'n': optional int64 needs a default"},
        {"baddefault.so", "default 'twelve' is not a valid int64"},
        {"several.so", "action 'ok': param 'x': invalid type 99"},
        {"transport.so", "(a transport module) is not an action plugin"},
        {"dup_b.so", "duplicate of dupe 1.0.0 already loaded from"},
        {"notelf.so", "cannot load"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = reason_for(j, cases[i].file);
        cr_expect(strstr(why, cases[i].reason), "%s: got '%s', want '%s'",
                  cases[i].file, why, cases[i].reason);
        /* One line naming the file. */
        cr_expect(strstr(why, cases[i].file) && !strchr(why, '\n'),
                  "%s: '%s'", cases[i].file, why);
    }
    cr_expect_eq(assay_catalog_refused_count(cat),
                 sizeof cases / sizeof *cases);
    json_decref(j);
}

Test(catalog, every_declaration_problem_is_reported_at_once)
{
    scan(HARNESS_FIXTURES "broken");
    json_t *j = assay_catalog_json(cat);
    const char *why = reason_for(j, "several.so");
    static const char *const problems[] = {
        "action 'ok': param 'x': invalid type 99",
        "action 'ok': param 'n': optional int64 needs a default",
        "action 'ok' declared twice",
        "action 'nohelp' has no help text",
    };
    for (size_t i = 0; i < sizeof problems / sizeof *problems; i++)
        cr_expect(strstr(why, problems[i]), "'%s' lacks '%s'", why,
                  problems[i]);
    json_decref(j);
}

/* More problems than one message holds: those that fit, whole, then how
 * many more there are, within the buffer. */
Test(catalog, too_many_problems_are_counted_not_cut)
{
    static assay_action actions[41];
    static char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        actions[i] = (assay_action){.name = names[i], .fn = NULL};
    }
    const assay_module m = {.abi_major = ASSAY_ABI_MAJOR,
                            .abi_minor = ASSAY_ABI_MINOR,
                            .struct_size = sizeof m,
                            .kind = ASSAY_KIND_ACTION,
                            .name = "many", .version = "1.0.0",
                            .license = "MIT", .description = "d",
                            .actions = actions};
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_module_validate(&m, ASSAY_KIND_ACTION, err, sizeof err),
                 ASSAY_EINVAL);
    cr_expect(strstr(err, "action 'a0' has no function; action 'a0' has no "
                          "help text; action 'a1' has no function"),
              "%s", err);
    cr_expect_lt(strlen(err), sizeof err - 1, "%s", err);
    /* The count follows the last whole problem. */
    const char *more = strstr(err, " (and ");
    cr_assert_not_null(more, "%s", err);
    cr_expect(!strncmp(more - 8, "function", 8) ||
                  !strncmp(more - 9, "help text", 9),
              "%s", err);
}

Test(catalog, refused_files_do_not_stop_the_others)
{
    scan(HARNESS_FIXTURES "broken");
    cr_expect(loaded("good"));
    cr_expect(loaded("dupe")); /* the first copy wins */
    cr_expect_eq(assay_catalog_count(cat), 3);
}

/* Whether this process maps a file whose path holds `needle`. */
static bool mapped(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Loading runs plugin code (constructors, the entry point), so it happens
 * in a describer process: each fault costs its one file, told why. */
Test(catalog, load_faults_cost_one_plugin_each)
{
    cat = assay_catalog_new();
    assay_plugdir *pd = NULL;
    char err[512];
    assay_plugdir_conf conf = {.dir = HARNESS_FIXTURES "unloadable",
                               .load_timeout_ms = 1000};
    cr_assert_eq(assay_plugdir_new(cat, &conf, &pd, err, sizeof err), 0,
                 "%s", err);
    assay_plugdir_destroy(&pd);
    cr_expect(loaded("load_fine"));
    cr_expect_eq(assay_catalog_count(cat), 1);
    json_t *j = assay_catalog_json(cat);
    static const struct {
        const char *file, *reason;
    } cases[] = {
        {"load_exit.so", "before it could answer (does a constructor or "
                         "the entry point call exit()?)"},
        {"entry_exit.so", "before it could answer"},
        {"load_crash.so", "killed the describer with SEGV"},
        {"load_hang.so", "still loading after 1000 ms, killed"},
        {"load_scribble.so", "answer is garbled"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = reason_for(j, cases[i].file);
        cr_expect(strstr(why, cases[i].reason), "%s: got '%s', want '%s'",
                  cases[i].file, why, cases[i].reason);
    }
    json_decref(j);
    /* Not one of them, the good one included, was loaded here. */
    cr_expect_not(mapped("/unloadable/"));
}

Test(catalog, newer_minor_with_bigger_descriptor_is_accepted)
{
    scan(HARNESS_FIXTURES "broken");
    cr_expect(loaded("newminor"));
}

Test(catalog, missing_directory_is_an_error)
{
    cat = assay_catalog_new();
    char err[512];
    cr_expect_eq(assay_plugdir_scan(cat, "/nonexistent/plugins", err,
                                    sizeof err),
                 ASSAY_ENOENT);
    cr_expect(strstr(err, "/nonexistent/plugins"));
}

static const char *pick(const char *range)
{
    const assay_plugin *p;
    const assay_action *a;
    char err[512];
    int rc = assay_catalog_resolve(cat, "typed.echo", range, &p, &a, err,
                                   sizeof err);
    return rc ? NULL : p->version;
}

Test(catalog, version_ranges_select_highest_match)
{
    scan(HARNESS_FIXTURES "versions");
    cr_expect_str_eq(pick(NULL), "2.0.0");
    cr_expect_str_eq(pick(""), "2.0.0");
    cr_expect_str_eq(pick("^1.2"), "1.4.1");
    cr_expect_str_eq(pick("~1.2.0"), "1.2.0");
    cr_expect_str_eq(pick("~1.4.0"), "1.4.1");
    cr_expect_str_eq(pick(">=1.0 <2"), "1.4.1");
    cr_expect_str_eq(pick("=1.2.0"), "1.2.0");
    cr_expect_str_eq(pick("^2"), "2.0.0");
    cr_expect_null(pick("^3"));
}

Test(catalog, resolve_errors_say_what_exists)
{
    scan(HARNESS_FIXTURES "versions");
    const assay_plugin *p;
    const assay_action *a;
    char err[512];
    cr_expect_eq(assay_catalog_resolve(cat, "nope.x", NULL, &p, &a, err,
                                       sizeof err),
                 ASSAY_ENOENT);
    cr_expect(strstr(err, "unknown plugin 'nope' in " HARNESS_FIXTURES
                          "versions (installed: typed)"),
              "%s", err);
    cr_expect_eq(assay_catalog_resolve(cat, "typed.nope", NULL, &p, &a, err,
                                       sizeof err),
                 ASSAY_ENOENT);
    cr_expect(strstr(err, "has no action 'nope' (actions: echo, greet, nap)"),
              "%s", err);
    assay_catalog_resolve(cat, "typed.echo", "^3", &p, &a, err, sizeof err);
    cr_expect(strstr(err, "no version of 'typed' matches '^3' (installed: "
                          "1.2.0, 1.4.1, 2.0.0)"),
              "%s", err);
    cr_expect_eq(assay_catalog_resolve(cat, "typed.echo", "^^1", &p, &a, err,
                                       sizeof err),
                 ASSAY_EINVAL);
    cr_expect_eq(assay_catalog_resolve(cat, "noaction", NULL, &p, &a, err,
                                       sizeof err),
                 ASSAY_EINVAL);
}

Test(catalog, json_lists_signatures)
{
    scan(HARNESS_FIXTURES "typed");
    json_t *j = assay_catalog_json(cat);
    json_t *echo = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "plugins"), 0),
                        "actions"),
        0);
    cr_expect_str_eq(json_string_value(json_object_get(echo, "signature")),
                     "s: string, [i: int64 = 42], [d: double = 0.5], "
                     "[b: bool = false], [by: bytes], [l: string list = "
                     "[\"x\"]], [m: map]");
    json_decref(j);
}
