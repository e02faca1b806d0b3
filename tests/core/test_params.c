/* tests/core/test_params.c - parameter declarations (C and JSON forms),
 * type-checking of given values against them, defaults, signature text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "plugin/params.h"

#define REQ ASSAY_PARAM_REQUIRED
/* A declaration entry without help text, and the terminator. */
#define P(...)                                                                 \
    {                                                                          \
        __VA_ARGS__, ""                                                        \
    }
#define END                                                                    \
    {                                                                          \
        NULL, 0, 0, NULL, NULL                                                 \
    }
/* ASSAY_NAME_MAX characters, and one more */
#define NAME63 "a_1234567890123456789012345678901234567890123456789012345678901"
#define NAME64 NAME63 "x"

static json_t *json(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);

    cr_assert_not_null(v, "bad test JSON '%s': %s", text, je.text);
    return v;
}

/* Runs assay_params_check on `given` (JSON text, NULL for none) and returns
 * the normalized object, asserting success. */
static json_t *check_ok(const assay_param *decl, const char *given)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *in = given ? json(given) : NULL, *out = NULL;

    cr_assert_eq(assay_params_check(decl, in, &out, err, sizeof err), 0,
                 "given %s: %s", given ? given : "NULL", err);
    json_decref(in);
    cr_assert(json_is_object(out));
    return out;
}

/* Expects assay_params_check to refuse `given` with `code` and an error
 * mentioning each of the NULL-terminated needles. */
static void check_bad(const assay_param *decl, const char *given, int code,
                      const char *const *needles)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *in = json(given), *out = NULL;

    cr_expect_eq(assay_params_check(decl, in, &out, err, sizeof err), code,
                 "given %s: '%s'", given, err);
    cr_expect_null(out, "no output on error");
    for (; *needles; needles++)
        cr_expect_not_null(strstr(err, *needles), "given %s: '%s' lacks '%s'",
                           given, err, *needles);
    json_decref(in);
}

#define L(...)                                                                 \
    (const char *const[])                                                      \
    {                                                                          \
        __VA_ARGS__, NULL                                                      \
    }

static void expect_json(json_t *got, const char *want)
{
    json_t *w = json(want);
    char *text = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);

    cr_expect(json_equal(got, w), "got %s, want %s", text, want);
    free(text);
    json_decref(w);
    json_decref(got);
}

/* One optional param of every type, each with a default. */
static const assay_param all_defaults[] = {
    P("s", ASSAY_TYPE_STRING, 0, "x"),
    P("i", ASSAY_TYPE_INT64, 0, "42"),
    P("d", ASSAY_TYPE_DOUBLE, 0, "2.5"),
    P("b", ASSAY_TYPE_BOOL, 0, "true"),
    P("y", ASSAY_TYPE_BYTES, 0, "aGk="),
    P("l", ASSAY_TYPE_STRLIST, 0, "[\"a\", \"b\"]"),
    P("m", ASSAY_TYPE_MAP, 0, "{\"k\": \"v\"}"),
    END,
};

#define ALL_DEFAULTS                                                           \
    "{\"s\": \"x\", \"i\": 42, \"d\": 2.5, \"b\": true, \"y\": \"aGk=\", "     \
    "\"l\": [\"a\", \"b\"], \"m\": {\"k\": \"v\"}}"

Test(params, defaults_filled_for_every_type)
{
    expect_json(check_ok(all_defaults, NULL), ALL_DEFAULTS);
    expect_json(check_ok(all_defaults, "{}"), ALL_DEFAULTS);
}

Test(params, given_values_override_defaults)
{
    static const char given[] = "{\"s\": \"\", \"i\": -7, \"d\": 3, "
                                "\"b\": false, \"y\": \"\", \"l\": [], "
                                "\"m\": {}}";

    expect_json(check_ok(all_defaults, given), given);
}

Test(params, null_is_absent)
{
    static const assay_param decl[] = {
        P("req", ASSAY_TYPE_STRING, REQ, NULL),
        P("n", ASSAY_TYPE_INT64, 0, "5"),
        P("opt", ASSAY_TYPE_STRING, 0, NULL),
        END,
    };

    /* null takes the default, or leaves an optional param out */
    expect_json(check_ok(decl, "{\"req\": \"r\", \"n\": null, \"opt\": null}"),
                "{\"req\": \"r\", \"n\": 5}");
    check_bad(decl, "{\"req\": null}", ASSAY_EINVAL,
              L("missing required param 'req' (string)"));
}

Test(params, missing_required)
{
    static const assay_param decl[] = {
        P("path", ASSAY_TYPE_STRING, REQ, NULL),
        P("mode", ASSAY_TYPE_INT64, REQ, NULL),
        END,
    };

    check_bad(decl, "{\"path\": \"/\"}", ASSAY_EINVAL,
              L("missing required param 'mode' (int64)"));
    check_bad(decl, "{}", ASSAY_EINVAL, L("'path'"));
}

Test(params, unknown_param_lists_declared)
{
    static const assay_param decl[] = {
        P("path", ASSAY_TYPE_STRING, 0, NULL),
        P("follow", ASSAY_TYPE_BOOL, 0, "true"),
        END,
    };
    static const assay_param none[] = {END};

    check_bad(decl, "{\"path\": \"/\", \"pth\": 1}", ASSAY_ENOENT,
              L("unknown param 'pth' (declared: path, follow)"));
    check_bad(none, "{\"x\": 1}", ASSAY_ENOENT,
              L("unknown param 'x' (declared: none)"));
}

Test(params, params_not_an_object)
{
    check_bad(all_defaults, "[]", ASSAY_ETYPE,
              L("params must be an object, got array"));
    check_bad(all_defaults, "\"s\"", ASSAY_ETYPE, L("got string"));
}

Test(params, no_declarations)
{
    expect_json(check_ok(NULL, NULL), "{}");
    expect_json(check_ok(NULL, "{}"), "{}");
}

/* A value of the wrong shape for a required param of `type`. */
struct wrong {
    int type;
    const char *given; /* JSON text of the value */
    const char *why;   /* expected in the error after "param 'p': " */
};

static const struct wrong wrongs[] = {
    {ASSAY_TYPE_STRING, "5", "expected string, got integer"},
    {ASSAY_TYPE_STRING, "[\"a\"]", "expected string, got array"},
    {ASSAY_TYPE_INT64, "1.5", "expected int64, got number"},
    {ASSAY_TYPE_INT64, "\"1\"", "expected int64, got string"},
    {ASSAY_TYPE_DOUBLE, "\"1.5\"", "expected double, got string"},
    {ASSAY_TYPE_DOUBLE, "true", "expected double, got boolean"},
    {ASSAY_TYPE_BOOL, "\"true\"", "expected bool, got string"},
    {ASSAY_TYPE_BOOL, "1", "expected bool, got integer"},
    {ASSAY_TYPE_BYTES, "\"not base64!\"",
     "expected bytes, got string: not valid base64"},
    {ASSAY_TYPE_BYTES, "\"aGk\"", "not valid base64"},
    {ASSAY_TYPE_BYTES, "3", "expected bytes, got integer"},
    {ASSAY_TYPE_STRLIST, "[\"a\", 1]",
     "expected string list, got array: every element must be a string"},
    {ASSAY_TYPE_STRLIST, "\"a\"", "expected string list, got string"},
    {ASSAY_TYPE_MAP, "{\"a\": \"b\", \"c\": 1}",
     "expected map, got object: every value must be a string"},
    {ASSAY_TYPE_MAP, "[]", "expected map, got array"},
};

Test(params, wrong_type)
{
    for (size_t i = 0; i < sizeof wrongs / sizeof wrongs[0]; i++) {
        const struct wrong *w = &wrongs[i];
        const assay_param decl[] = {
            P("p", (uint32_t)w->type, REQ, NULL),
            END,
        };
        char given[128];

        snprintf(given, sizeof given, "{\"p\": %s}", w->given);
        check_bad(decl, given, ASSAY_ETYPE, L("param 'p': ", w->why));
    }
}

Test(params, double_accepts_integer)
{
    static const assay_param decl[] = {
        P("d", ASSAY_TYPE_DOUBLE, REQ, NULL),
        END,
    };

    expect_json(check_ok(decl, "{\"d\": 3}"), "{\"d\": 3}");
}

/* A declaration assay_params_validate_decl must refuse. */
struct bad_decl {
    assay_param decl[3];
    int code;
    const char *msg;
};

static const struct bad_decl bad_decls[] = {
    {{P("Path", ASSAY_TYPE_STRING, 0, NULL), END},
     ASSAY_EINVAL,
     "invalid param name 'Path'"},
    {{P("", ASSAY_TYPE_STRING, 0, NULL), END},
     ASSAY_EINVAL,
     "invalid param name ''"},
    {{P("1st", ASSAY_TYPE_STRING, 0, NULL), END},
     ASSAY_EINVAL,
     "invalid param name '1st'"},
    {{P("a-b", ASSAY_TYPE_STRING, 0, NULL), END},
     ASSAY_EINVAL,
     "invalid param name 'a-b'"},
    {{P(NAME64, ASSAY_TYPE_STRING, 0, NULL), END},
     ASSAY_EINVAL,
     "invalid param name '" NAME64 "'"},
    {{P("t", 0, 0, NULL), END}, ASSAY_EINVAL, "param 't': invalid type 0"},
    {{P("t", 8, 0, NULL), END}, ASSAY_EINVAL, "param 't': invalid type 8"},
    {{P("f", ASSAY_TYPE_STRING, 0x2, NULL), END},
     ASSAY_EINVAL,
     "param 'f': unknown flags 0x2"},
    {{P("a", ASSAY_TYPE_STRING, 0, NULL), P("a", ASSAY_TYPE_INT64, REQ, NULL),
      END},
     ASSAY_EEXIST,
     "param 'a' declared twice"},
    {{P("n", ASSAY_TYPE_INT64, 0, NULL), END},
     ASSAY_EINVAL,
     "param 'n': optional int64 needs a default"},
    {{P("n", ASSAY_TYPE_DOUBLE, 0, NULL), END},
     ASSAY_EINVAL,
     "param 'n': optional double needs a default"},
    {{P("n", ASSAY_TYPE_BOOL, 0, NULL), END},
     ASSAY_EINVAL,
     "param 'n': optional bool needs a default"},
    {{P("v", ASSAY_TYPE_INT64, 0, "abc"), END},
     ASSAY_EINVAL,
     "param 'v': default 'abc' is not a valid int64"},
    {{P("v", ASSAY_TYPE_INT64, 0, "1.5"), END},
     ASSAY_EINVAL,
     "default '1.5' is not a valid int64"},
    {{P("v", ASSAY_TYPE_DOUBLE, 0, "x"), END},
     ASSAY_EINVAL,
     "default 'x' is not a valid double"},
    {{P("v", ASSAY_TYPE_BOOL, 0, "yes"), END},
     ASSAY_EINVAL,
     "default 'yes' is not a valid bool"},
    {{P("v", ASSAY_TYPE_BOOL, 0, "True"), END},
     ASSAY_EINVAL,
     "default 'True' is not a valid bool"},
    {{P("v", ASSAY_TYPE_BYTES, 0, "!!"), END},
     ASSAY_EINVAL,
     "default '!!' is not a valid bytes: not valid base64"},
    {{P("v", ASSAY_TYPE_STRLIST, 0, "[1]"), END},
     ASSAY_EINVAL,
     "not a valid string list: every element must be a string"},
    {{P("v", ASSAY_TYPE_STRLIST, 0, "[\"a\""), END},
     ASSAY_EINVAL,
     "default '[\"a\"' is not a valid string list"},
    {{P("v", ASSAY_TYPE_MAP, 0, "{\"a\": 1}"), END},
     ASSAY_EINVAL,
     "not a valid map: every value must be a string"},
    {{P("v", ASSAY_TYPE_MAP, 0, "[]"), END},
     ASSAY_EINVAL,
     "default '[]' is not a valid map"},
    {{P("v", ASSAY_TYPE_MAP, 0, "{\"a\": \"1\", \"a\": \"2\"}"), END},
     ASSAY_EINVAL,
     "is not a valid map"},
    /* a required param's default is checked too */
    {{P("v", ASSAY_TYPE_INT64, REQ, "x"), END},
     ASSAY_EINVAL,
     "default 'x' is not a valid int64"},
};

Test(params, bad_decl)
{
    for (size_t i = 0; i < sizeof bad_decls / sizeof bad_decls[0]; i++) {
        const struct bad_decl *c = &bad_decls[i];
        char err[ASSAY_ERRMSG_SIZE] = "";

        cr_expect_eq(assay_params_validate_decl(c->decl, err, sizeof err),
                     c->code, "case %zu: '%s'", i, err);
        cr_expect_not_null(strstr(err, c->msg), "case %zu: '%s' lacks '%s'", i,
                           err, c->msg);
    }
}

Test(params, good_decl)
{
    static const assay_param decl[] = {
        P(NAME63, ASSAY_TYPE_STRING, REQ, NULL),
        P("count", ASSAY_TYPE_INT64, REQ, NULL),
        P("ratio", ASSAY_TYPE_DOUBLE, REQ, NULL),
        P("on", ASSAY_TYPE_BOOL, REQ, NULL),
        P("blob", ASSAY_TYPE_BYTES, 0, NULL),
        P("list", ASSAY_TYPE_STRLIST, 0, NULL),
        P("env", ASSAY_TYPE_MAP, 0, NULL),
        END,
    };
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_expect_eq(strlen(decl[0].name), ASSAY_NAME_MAX);
    cr_expect_eq(assay_params_validate_decl(decl, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(assay_params_validate_decl(all_defaults, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(assay_params_validate_decl(NULL, err, sizeof err), 0);
}

Test(params, too_many)
{
    static char names[ASSAY_MAX_PARAMS + 1][8];
    assay_param decl[ASSAY_MAX_PARAMS + 2] = {0};
    char err[ASSAY_ERRMSG_SIZE] = "";

    for (int i = 0; i <= ASSAY_MAX_PARAMS; i++) {
        snprintf(names[i], sizeof names[i], "p%d", i);
        decl[i] = (assay_param)P(names[i], ASSAY_TYPE_STRING, 0, NULL);
    }
    cr_expect_eq(assay_params_validate_decl(decl, err, sizeof err),
                 ASSAY_ETOOBIG, "%s", err);
    decl[ASSAY_MAX_PARAMS] = (assay_param)END;
    cr_expect_eq(assay_params_validate_decl(decl, err, sizeof err), 0, "%s",
                 err);
}

Test(params, signature)
{
    static const assay_param decl[] = {
        P("path", ASSAY_TYPE_STRING, REQ, NULL),
        P("mode", ASSAY_TYPE_INT64, REQ, NULL),
        P("follow", ASSAY_TYPE_BOOL, 0, "true"),
        P("tags", ASSAY_TYPE_STRLIST, 0, NULL),
        P("env", ASSAY_TYPE_MAP, 0, "{}"),
        END,
    };
    char buf[256], tiny[12];

    assay_params_signature(decl, buf, sizeof buf);
    cr_expect_str_eq(buf, "path: string, mode: int64, [follow: bool = true], "
                          "[tags: string list], [env: map = {}]");
    assay_params_signature(decl, tiny, sizeof tiny);
    cr_expect_str_eq(tiny, "path: strin", "truncated, NUL-terminated");
    assay_params_signature(NULL, buf, sizeof buf);
    cr_expect_str_empty(buf);
}

Test(params, type_names_and_name_rule)
{
    cr_expect_str_eq(assay_type_name(ASSAY_TYPE_STRLIST), "string list");
    cr_expect_str_eq(assay_type_name(0), "invalid");
    cr_expect(assay_name_valid("a-b", true));
    cr_expect(!assay_name_valid("a-b", false));
    cr_expect(!assay_name_valid("-a", true));
    cr_expect(!assay_name_valid(NULL, true));
}

/* The JSON form, as the catalogue writes it, read back. */
static int from_json(const char *text, assay_param **out, char *err)
{
    json_t *decl = text ? json(text) : NULL;
    int rc = assay_params_from_json(decl, out, err, ASSAY_ERRMSG_SIZE);

    json_decref(decl);
    return rc;
}

Test(params, from_json)
{
    json_t *decl = json(
        "[{\"name\": \"path\", \"type\": \"string\", \"required\": true},"
        " {\"name\": \"tags\", \"type\": \"string list\", \"required\": false,"
        "  \"default\": \"[\\\"a\\\"]\", \"help\": \"Tags.\"}]");
    char err[ASSAY_ERRMSG_SIZE] = "", sig[128];
    assay_param *p = NULL;

    cr_assert_eq(assay_params_from_json(decl, &p, err, sizeof err), 0, "%s",
                 err);
    assay_params_signature(p, sig, sizeof sig);
    cr_expect_str_eq(sig, "path: string, [tags: string list = [\"a\"]]");
    cr_expect_str_eq(p[1].help, "Tags.");
    cr_expect_null(p[2].name);
    free(p);
    json_decref(decl);

    cr_assert_eq(from_json(NULL, &p, err), 0, "no params: %s", err);
    cr_expect_null(p[0].name);
    free(p);
}

Test(params, from_json_bad)
{
    static const struct {
        const char *json;
        int code;
        const char *why;
    } bad[] = {
        {"{}", ASSAY_ETYPE, "params: not an array"},
        {"[{\"name\": \"a\", \"type\": \"string\"}, {\"type\": \"bool\"}]",
         ASSAY_EINVAL, "params[1]: no name"},
        {"[\"a\"]", ASSAY_EINVAL, "params[0]: no name"},
        {"[{\"name\": \"a\", \"type\": \"float\"}]", ASSAY_EINVAL,
         "param 'a': invalid type 0"},
        {"[{\"name\": \"n\", \"type\": \"int64\", \"default\": \"x\"}]",
         ASSAY_EINVAL, "default 'x' is not a valid int64"},
        {"[{\"name\": \"n\", \"type\": \"int64\"}]", ASSAY_EINVAL,
         "optional int64 needs a default"},
    };
    char err[ASSAY_ERRMSG_SIZE];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assay_param *p = NULL;

        err[0] = '\0';
        cr_expect_eq(from_json(bad[i].json, &p, err), bad[i].code, "%s: '%s'",
                     bad[i].json, err);
        cr_expect_null(p);
        cr_expect_not_null(strstr(err, bad[i].why), "%s: '%s' lacks '%s'",
                           bad[i].json, err, bad[i].why);
    }
}

Test(params, from_json_too_many)
{
    json_t *decl = json_array();
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_param *p = NULL;

    for (int i = 0; i <= ASSAY_MAX_PARAMS; i++)
        json_array_append_new(
            decl, json_pack("{s:s, s:s}", "name", "p", "type", "string"));
    cr_expect_eq(assay_params_from_json(decl, &p, err, sizeof err),
                 ASSAY_ETOOBIG, "%s", err);
    cr_expect_null(p);
    json_decref(decl);
}
