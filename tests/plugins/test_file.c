/* test_file - the `file` plugin through the real executor: each action's
 * pass and fail verdicts, its evidence, and its refusals (ASSAY_ERROR). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, utimensat */
#endif
#include <criterion/criterion.h>

#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/harness.h"

/* sha256("abc"), FIPS 180-2 appendix B.1. */
#define ABC_SHA256                                                             \
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* Runs file.<action> with `params` (reference stolen) and returns the
 * single result object (a new reference). */
static json_t *run(const char *action, json_t *params)
{
    json_t *spec = json_pack("{s:s+,s:o}", "action", "file.", action,
                             "params", params);
    cr_assert_not_null(spec);
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    json_t *results = harness_run(text);
    cr_assert_not_null(results, "spec refused: %s", text);
    free(text);
    cr_assert_eq(json_array_size(results), 1);
    json_t *r = json_incref(json_array_get(results, 0));
    json_decref(results);
    return r;
}

static const char *status(json_t *r)
{
    return json_string_value(json_object_get(r, "status"));
}

/* Evidence `key` of the result's only finding, checking its state. */
static const char *evidence(json_t *r, const char *state, const char *key)
{
    json_t *findings = json_object_get(r, "findings");
    cr_assert_eq(json_array_size(findings), 1);
    json_t *f = json_array_get(findings, 0);
    cr_assert_str_eq(json_string_value(json_object_get(f, "state")), state);
    const char *v = json_string_value(
        json_object_get(json_object_get(f, "evidence"), key));
    cr_assert_not_null(v, "no evidence %s", key);
    return v;
}

/* Whether the message or the error reason mentions `needle`. */
static bool says(json_t *r, const char *needle)
{
    const char *m = json_string_value(json_object_get(r, "message"));
    const char *why = json_string_value(json_object_get(r, "reason"));
    return (m && strstr(m, needle)) || (why && strstr(why, needle));
}

/* Creates dir/name with `content`; returns the path (caller frees). */
static char *make_file(const char *dir, const char *name, const char *content)
{
    char *path;
    cr_assert_geq(asprintf(&path, "%s/%s", dir, name), 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* Sets the file's mtime `ago` seconds into the past. */
static void age_file(const char *path, time_t ago)
{
    struct timespec t[2] = {{.tv_nsec = UTIME_OMIT},
                            {.tv_sec = time(NULL) - ago}};
    cr_assert_eq(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* ---- exists ----------------------------------------------------------- */

Test(file, exists_pass_file_and_directory)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "x");
    json_t *r = run("exists", json_pack("{s:s}", "path", path));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(evidence(r, "satisfied", "type"), "file");
    json_decref(r);
    r = run("exists", json_pack("{s:s}", "path", dir));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(evidence(r, "satisfied", "type"), "directory");
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, exists_fail_missing)
{
    char *dir = harness_tmpdir(), *path;
    cr_assert_geq(asprintf(&path, "%s/missing", dir), 0);
    json_t *r = run("exists", json_pack("{s:s}", "path", path));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(evidence(r, "not-satisfied", "actual"), "absent");
    cr_assert(says(r, path));
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, exists_follow_decides_dangling_symlink)
{
    char *dir = harness_tmpdir(), *link;
    cr_assert_geq(asprintf(&link, "%s/dangling", dir), 0);
    cr_assert_eq(symlink("nowhere", link), 0);
    json_t *r =
        run("exists", json_pack("{s:s,s:b}", "path", link, "follow", 0));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(evidence(r, "satisfied", "type"), "symlink");
    json_decref(r);
    r = run("exists", json_pack("{s:s,s:b}", "path", link, "follow", 1));
    cr_assert_str_eq(status(r), "fail");
    json_decref(r);
    free(link);
    free(dir);
}

/* ---- mode ------------------------------------------------------------- */

Test(file, mode_pass_and_fail)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "x");
    cr_assert_eq(chmod(path, 0640), 0);
    json_t *r = run("mode", json_pack("{s:s,s:i}", "path", path, "mode", 0640));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(evidence(r, "satisfied", "actual"), "0640");
    json_decref(r);
    r = run("mode", json_pack("{s:s,s:i}", "path", path, "mode", 0600));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(evidence(r, "not-satisfied", "actual"), "0640");
    cr_assert_str_eq(evidence(r, "not-satisfied", "expected"), "0600");
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, mode_errors_on_bad_mode_and_missing_path)
{
    char *dir = harness_tmpdir(), *path;
    cr_assert_geq(asprintf(&path, "%s/missing", dir), 0);
    json_t *r =
        run("mode", json_pack("{s:s,s:i}", "path", dir, "mode", 010000));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    r = run("mode", json_pack("{s:s,s:i}", "path", path, "mode", 0600));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, path));
    json_decref(r);
    free(path);
    free(dir);
}

/* ---- owner ------------------------------------------------------------ */

Test(file, owner_pass_by_id_and_name)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "x");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    char uid[16], gid[16];
    snprintf(uid, sizeof uid, "%u", (unsigned)st.st_uid);
    snprintf(gid, sizeof gid, "%u", (unsigned)st.st_gid);
    json_t *r = run("owner",
                    json_pack("{s:s,s:s,s:s}", "path", path, "user", uid,
                              "group", gid));
    cr_assert_str_eq(status(r), "pass");
    evidence(r, "satisfied", "user");
    evidence(r, "satisfied", "group");
    json_decref(r);
    /* Containers may run under a uid that has no passwd entry. */
    struct passwd *pw = getpwuid(st.st_uid);
    if (pw) {
        r = run("owner", json_pack("{s:s,s:s}", "path", path, "user",
                                   pw->pw_name));
        cr_assert_str_eq(status(r), "pass");
        cr_assert_str_eq(evidence(r, "satisfied", "user"), pw->pw_name);
        json_decref(r);
    }
    free(path);
    free(dir);
}

Test(file, owner_fail_other_user)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "x");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    char other[16];
    snprintf(other, sizeof other, "%u", (unsigned)st.st_uid + 1);
    json_t *r = run("owner", json_pack("{s:s,s:s}", "path", path, "user",
                                       other));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(evidence(r, "not-satisfied", "expected_user"), other);
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, owner_errors_without_user_or_group)
{
    char *dir = harness_tmpdir();
    json_t *r = run("owner", json_pack("{s:s}", "path", dir));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    r = run("owner", json_pack("{s:s,s:s}", "path", dir, "user",
                               "no-such-user-assay"));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "no-such-user-assay"));
    json_decref(r);
    free(dir);
}

/* ---- sha256 ----------------------------------------------------------- */

Test(file, sha256_pass_case_insensitive)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "abc", "abc");
    char upper[] = ABC_SHA256;
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    json_t *r = run("sha256", json_pack("{s:s,s:s}", "path", path,
                                        "expected", upper));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(evidence(r, "satisfied", "actual"), ABC_SHA256);
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, sha256_fail_shows_actual)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "abc", "abc");
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    json_t *r = run("sha256", json_pack("{s:s,s:s}", "path", path,
                                        "expected", zeros));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(evidence(r, "not-satisfied", "actual"), ABC_SHA256);
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, sha256_errors_on_bad_digest_and_directory)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "abc", "abc");
    json_t *r = run("sha256", json_pack("{s:s,s:s}", "path", path,
                                        "expected", "xyz"));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    r = run("sha256", json_pack("{s:s,s:s}", "path", dir, "expected",
                                ABC_SHA256));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, dir));
    json_decref(r);
    free(path);
    free(dir);
}

/* ---- contains --------------------------------------------------------- */

Test(file, contains_pass_reports_line)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "alpha\nbeta42\ngamma\n");
    json_t *r = run("contains", json_pack("{s:s,s:s}", "path", path,
                                          "pattern", "^beta[0-9]+$"));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(evidence(r, "satisfied", "line"), "2");
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, contains_fail_when_absent)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "alpha\nbeta42\ngamma\n");
    json_t *r = run("contains", json_pack("{s:s,s:s}", "path", path,
                                          "pattern", "^delta"));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(evidence(r, "not-satisfied", "actual"), "absent");
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, contains_present_false_inverts)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "alpha\nbeta42\ngamma");
    json_t *r = run("contains", json_pack("{s:s,s:s,s:b}", "path", path,
                                          "pattern", "^delta", "present", 0));
    cr_assert_str_eq(status(r), "pass");
    json_decref(r);
    /* The last line has no newline and must still be matched. */
    r = run("contains", json_pack("{s:s,s:s,s:b}", "path", path, "pattern",
                                  "^gamma$", "present", 0));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(evidence(r, "not-satisfied", "line"), "3");
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, contains_errors_on_bad_regex_and_missing_file)
{
    char *dir = harness_tmpdir(), *missing;
    char *path = make_file(dir, "f", "alpha\n");
    json_t *r = run("contains", json_pack("{s:s,s:s}", "path", path,
                                          "pattern", "(unclosed"));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "(unclosed"));
    json_decref(r);
    cr_assert_geq(asprintf(&missing, "%s/missing", dir), 0);
    r = run("contains", json_pack("{s:s,s:s}", "path", missing, "pattern",
                                  "a"));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, missing));
    json_decref(r);
    free(missing);
    free(path);
    free(dir);
}

/* ---- max_age ---------------------------------------------------------- */

/* Ages are set far from the limits so that test speed cannot matter. */
Test(file, max_age_pass)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "x");
    age_file(path, 100);
    json_t *r = run("max_age", json_pack("{s:s,s:i}", "path", path,
                                         "seconds", 1000000));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_geq(atoll(evidence(r, "satisfied", "actual")), 100);
    json_decref(r);
    free(path);
    free(dir);
}

Test(file, max_age_fail)
{
    char *dir = harness_tmpdir();
    char *path = make_file(dir, "f", "x");
    age_file(path, 7200);
    json_t *r = run("max_age", json_pack("{s:s,s:i}", "path", path,
                                         "seconds", 3600));
    cr_assert_str_eq(status(r), "fail");
    cr_assert_geq(atoll(evidence(r, "not-satisfied", "actual")), 7200);
    json_decref(r);
    r = run("max_age", json_pack("{s:s,s:i}", "path", path, "seconds", -1));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    free(path);
    free(dir);
}
