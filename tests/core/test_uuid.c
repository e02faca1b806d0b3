/* tests/core/test_uuid.c - UUIDv5 against the RFC's vector, canonical
 * text both ways, and malformed text refused. */
#include <criterion/criterion.h>
#include <string.h>

#include <assay/error.h>

#include "base/uuid.h"

Test(uuid, rfc_vector)
{
    char out[ASSAY_UUID_TEXT_SIZE];

    /* RFC 9562 appendix A.4 */
    cr_assert_eq(assay_uuid5_text(ASSAY_UUID_NS_DNS, "www.example.com", out),
                 0);
    cr_expect_str_eq(out, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
}

Test(uuid, version_and_variant)
{
    const char *names[] = {"", "a", "document:2026-12-03T02:00:00Z",
                           "a much longer name than one SHA-1 block of "
                           "sixty-four bytes, to cross a block boundary"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char out[ASSAY_UUID_TEXT_SIZE];
        unsigned char u[16];

        cr_assert_eq(assay_uuid5_text(ASSAY_UUID_NS, names[i], out), 0);
        cr_assert_eq(strlen(out), 36);
        cr_expect_eq(out[14], '5', "%s: version nibble", out);
        cr_expect(strchr("89ab", out[19]) != NULL, "%s: variant", out);
        cr_assert_eq(assay_uuid_parse(out, u), 0);
        cr_expect_eq(assay_uuid_version(u), 5);
        for (const char *p = out; *p; p++)
            cr_expect(*p == '-' || (*p >= '0' && *p <= '9') ||
                          (*p >= 'a' && *p <= 'f'),
                      "%s: lowercase hex", out);
    }
}

Test(uuid, deterministic_and_distinct)
{
    char a[ASSAY_UUID_TEXT_SIZE], b[ASSAY_UUID_TEXT_SIZE],
        c[ASSAY_UUID_TEXT_SIZE];
    unsigned char ns[16];

    cr_assert_eq(assay_uuid_parse(ASSAY_UUID_NS, ns), 0);
    cr_assert_eq(assay_uuid5(ns, "job-1", 5, a), 0);
    cr_assert_eq(assay_uuid5(ns, "job-1", 5, b), 0);
    cr_assert_eq(assay_uuid5(ns, "job-2", 5, c), 0);
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, c);
    /* Bytes, not C strings: a NUL inside the name counts. */
    cr_assert_eq(assay_uuid5(ns, "job-1\0x", 7, c), 0);
    cr_expect_str_neq(a, c);
    cr_expect_eq(assay_uuid5(ns, NULL, 1, c), ASSAY_EINVAL);
    cr_expect_eq(assay_uuid5(ns, NULL, 0, c), 0);
}

Test(uuid, parse_and_format_round_trip)
{
    unsigned char u[16];
    char out[ASSAY_UUID_TEXT_SIZE];

    cr_assert_eq(assay_uuid_parse("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", u),
                 0);
    cr_expect_eq(u[0], 0x6b);
    cr_expect_eq(u[15], 0xc8);
    cr_expect_eq(assay_uuid_version(u), 1);
    assay_uuid_format(u, out);
    cr_expect_str_eq(out, ASSAY_UUID_NS_DNS);
    /* The Assay namespace is itself a well-formed version 5 UUID. */
    cr_assert_eq(assay_uuid_parse(ASSAY_UUID_NS, u), 0);
    cr_expect_eq(assay_uuid_version(u), 5);
}

Test(uuid, parse_rejects_malformed)
{
    const char *bad[] = {
        "",
        "6ba7b810-9dad-11d1-80b4-00c04fd430c",   /* short */
        "6ba7b810-9dad-11d1-80b4-00c04fd430c88", /* long */
        "6ba7b8109dad-11d1-80b4-00c04fd430c8-",  /* hyphen misplaced */
        "6ba7b810-9dad-11d1-80b400c04fd430c8a",  /* hyphen missing */
        "6ba7b810-9dad-11d1-80b4-00c04fd430cg",  /* not hex */
        "6ba7b810 9dad 11d1 80b4 00c04fd430c8",  /* blanks */
        "{6ba7b810-9dad-11d1-80b4-00c04fd430c}", /* braces */
        "urn:uuid:6ba7b810-9dad-11d1-80b4-00c0", /* urn form */
        "6ba7b810-9dad-11d1-80b4-00c04fd430c\xc3",
    };
    unsigned char u[16];
    char out[ASSAY_UUID_TEXT_SIZE];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(assay_uuid_parse(bad[i], u), ASSAY_EINVAL, "'%s'",
                     bad[i]);
    cr_expect_eq(assay_uuid_parse(NULL, u), ASSAY_EINVAL);
    cr_expect_eq(assay_uuid5_text("not-a-uuid", "x", out), ASSAY_EINVAL);
    cr_expect_eq(assay_uuid5_text(ASSAY_UUID_NS, NULL, out), ASSAY_EINVAL);
}
