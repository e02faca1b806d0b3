/* tests/core/test_messages.c - refusals a newcomer meets first, each naming
 * the input at fault and what to do about it (issue 11): an unknown plugin
 * names the directories searched, a version range that matches nothing
 * lists every installed version, a missing plugins directory says how to
 * fix it. JobSpec params and config syntax errors are in test_jobspec.c
 * and test_conf.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "harness.h"
#include "plugin/catalog.h"
#include "plugin/plugdir.h"

/* ---- Fixture ---------------------------------------------------------- */

static assay_catalog *cat;
static char *tmp;

static void setup(void)
{
    cat = assay_catalog_new();
    cr_assert_not_null(cat);
    tmp = harness_tmpdir();
}

static void teardown(void)
{
    assay_catalog_destroy(&cat);
    free(tmp);
}

TestSuite(messages, .init = setup, .fini = teardown);

/* ---- Helpers ---------------------------------------------------------- */

static void scan(const char *dir)
{
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_plugdir_scan(cat, dir, err, sizeof err), 0, "%s", err);
}

/* Resolves `ref` at `range`, expecting a refusal that is exactly `want`. */
static void expect_refusal(const char *ref, const char *range,
                           const char *want)
{
    const assay_plugin *p;
    const assay_action *a;
    char err[ASSAY_ERRMSG_SIZE] = "";
    cr_expect_eq(assay_catalog_resolve(cat, ref, range, &p, &a, err,
                                       sizeof err),
                 ASSAY_ENOENT, "%s", err);
    cr_expect_str_eq(err, want);
}

/* ---- Tests ------------------------------------------------------------ */

Test(messages, unknown_plugin_names_the_directory_searched)
{
    char want[PATH_MAX + ASSAY_ERRMSG_SIZE];
    scan(HARNESS_FIXTURES "typed");
    expect_refusal("sshd.option", NULL,
                   "unknown plugin 'sshd' in " HARNESS_FIXTURES
                   "typed (installed: typed)");
    /* an empty directory is the commonest way to have nothing installed */
    assay_catalog_destroy(&cat);
    cat = assay_catalog_new();
    scan(tmp);
    snprintf(want, sizeof want,
             "unknown plugin 'sshd' in %s (installed: none)", tmp);
    expect_refusal("sshd.option", NULL, want);
}

Test(messages, unknown_plugin_names_every_directory_once)
{
    scan(HARNESS_FIXTURES "typed");
    scan(HARNESS_FIXTURES "crashy");
    scan(HARNESS_FIXTURES "typed");
    expect_refusal("sshd.option", NULL,
                   "unknown plugin 'sshd' in " HARNESS_FIXTURES
                   "typed, " HARNESS_FIXTURES
                   "crashy (installed: typed, crashy)");
}

Test(messages, unmatched_version_lists_every_installed_version_in_order)
{
    /* loaded newest first, as hot-loading can */
    static const char *const files[] = {"typed_1_4_1.so", "typed_1_2_0.so"};
    char err[ASSAY_ERRMSG_SIZE], path[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, HARNESS_FIXTURES "versions/%s", files[i]);
        cr_assert_eq(assay_catalog_load(cat, path, NULL, err, sizeof err), 0,
                     "%s", err);
    }
    expect_refusal("typed.echo", "^2",
                   "no version of 'typed' matches '^2' (installed: 1.2.0, "
                   "1.4.1)");
    scan(HARNESS_FIXTURES "versions");
    scan(HARNESS_FIXTURES "typed");
    expect_refusal("typed.echo", "^3",
                   "no version of 'typed' matches '^3' (installed: 1.0.0, "
                   "1.2.0, 1.4.1, 2.0.0)");
}

Test(messages, missing_plugins_directory_says_how_to_fix_it)
{
    char dir[PATH_MAX], want[PATH_MAX + ASSAY_ERRMSG_SIZE];
    char err[ASSAY_ERRMSG_SIZE] = "";
    snprintf(dir, sizeof dir, "%s/plugins", tmp);
    cr_expect_eq(assay_plugdir_scan(cat, dir, err, sizeof err), ASSAY_ENOENT);
    snprintf(want, sizeof want,
             "plugins directory %s: No such file or directory (create it, or "
             "point --plugins-dir / plugins_dir at the directory that holds "
             "your plugins)",
             dir);
    cr_expect_str_eq(err, want);
}

Test(messages, plugins_directory_that_is_a_file_is_not_to_be_created)
{
    char want[PATH_MAX + ASSAY_ERRMSG_SIZE], err[ASSAY_ERRMSG_SIZE] = "";
    char *file = harness_write(tmp, "plugins", "");
    cr_expect_eq(assay_plugdir_scan(cat, file, err, sizeof err), ASSAY_ENOENT);
    snprintf(want, sizeof want,
             "plugins directory %s: Not a directory (point --plugins-dir / "
             "plugins_dir at the directory that holds your plugins)",
             file);
    cr_expect_str_eq(err, want);
    free(file);
}
