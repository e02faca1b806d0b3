/* core/base/semver.c - semver 2.0.0 parsing, precedence and npm-style ranges.
 *
 * A range is stored as one closed-or-open interval per comparator; every
 * operator, partial or not, reduces to at most a lower and an upper bound,
 * which keeps matching a plain loop. */
#include "base/semver.h"

#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/textlist.h"

struct bound {
    bool set;
    bool incl;
    assay_semver v;
};

struct comparator {
    struct bound lo, hi;
    bool never;  /* bound beyond the largest representable version */
    bool anchor; /* written with a prerelease: admits prereleases of `at` */
    assay_semver at;
};

struct assay_semver_range {
    size_t n;
    struct comparator cmp[ASSAY_SEMVER_RANGE_MAX];
};

enum op { OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE, OP_CARET, OP_TILDE };

/* ASCII only: versions must not change meaning with the locale. */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-';
}

/* A numeric part: "0" or no leading zero, must fit uint32_t. */
static bool parse_num(const char **p, uint32_t *out)
{
    const char *s = *p;
    uint64_t n = 0;

    if (!is_digit(*s) || (s[0] == '0' && is_digit(s[1])))
        return false;
    for (; is_digit(*s); s++) {
        n = n * 10 + (uint64_t)(*s - '0');
        if (n > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)n;
    *p = s;
    return true;
}

/* Dot-separated non-empty identifiers. Prerelease identifiers that are
 * all digits must not have leading zeros; build identifiers may. */
static bool parse_idents(const char **p, bool prerelease)
{
    const char *s = *p;

    for (;;) {
        const char *start = s;
        bool numeric = true;

        for (; is_ident_char(*s); s++)
            numeric = numeric && is_digit(*s);
        if (s == start)
            return false;
        if (prerelease && numeric && s - start > 1 && *start == '0')
            return false;
        if (*s != '.')
            break;
        s++;
    }
    *p = s;
    return true;
}

int assay_semver_parse(const char *s, assay_semver *out)
{
    assay_semver v = {0};
    const char *p = s, *pre = NULL;
    size_t prelen = 0;

    if (!s || !out ||
        strnlen(s, ASSAY_SEMVER_MAX_LEN + 1) > ASSAY_SEMVER_MAX_LEN)
        return ASSAY_EINVAL;
    if (!parse_num(&p, &v.major) || *p++ != '.' || !parse_num(&p, &v.minor) ||
        *p++ != '.' || !parse_num(&p, &v.patch))
        return ASSAY_EINVAL;
    if (*p == '-') {
        pre = ++p;
        if (!parse_idents(&p, true))
            return ASSAY_EINVAL;
        prelen = (size_t)(p - pre);
    }
    if (*p == '+') {
        p++;
        if (!parse_idents(&p, false))
            return ASSAY_EINVAL;
    }
    if (*p != '\0')
        return ASSAY_EINVAL;
    if (pre)
        memcpy(v.pre, pre, prelen); /* < 64: the whole string is <= 63 */
    *out = v;
    return 0;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
    return (a > b) - (a < b);
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* Identifier precedence: numeric ones by value (no leading zeros, so
 * longer means larger and there is no overflow), numeric below
 * alphanumeric, alphanumeric ones in ASCII order. */
static int cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
    bool anum = all_digits(a, an), bnum = all_digits(b, bn);
    int r;

    if (anum != bnum)
        return anum ? -1 : 1;
    if (anum && an != bn)
        return an < bn ? -1 : 1;
    r = memcmp(a, b, an < bn ? an : bn);
    if (r)
        return r < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

static int cmp_pre(const char *a, const char *b)
{
    /* A release outranks any of its prereleases. */
    if (!*a || !*b)
        return (!*a) - (!*b);
    for (;;) {
        size_t an = strcspn(a, "."), bn = strcspn(b, ".");
        int r = cmp_ident(a, an, b, bn);

        if (r)
            return r;
        a += an;
        b += bn;
        /* The longer identifier list wins when all shared ones tie. */
        if (!*a || !*b)
            return (*a != '\0') - (*b != '\0');
        a++;
        b++;
    }
}

int assay_semver_cmp(const assay_semver *a, const assay_semver *b)
{
    int r = cmp_u32(a->major, b->major);

    if (!r)
        r = cmp_u32(a->minor, b->minor);
    if (!r)
        r = cmp_u32(a->patch, b->patch);
    if (!r)
        r = cmp_pre(a->pre, b->pre);
    return r;
}

/* Raises part `idx` (0 major, 1 minor, 2 patch) and zeroes the smaller
 * ones; a part at UINT32_MAX carries into the next larger one, as the
 * version after every 0.4294967295.x is 1.0.0. False past the largest
 * major. */
static bool bump(assay_semver *v, int idx)
{
    uint32_t *part[] = {&v->major, &v->minor, &v->patch};

    while (*part[idx] == UINT32_MAX)
        if (idx-- == 0)
            return false;
    (*part[idx])++;
    for (int i = idx + 1; i < 3; i++)
        *part[i] = 0;
    v->pre[0] = '\0';
    return true;
}

static void set_bound(struct bound *b, const assay_semver *v, bool incl)
{
    b->set = true;
    b->incl = incl;
    b->v = *v;
}

/* ">= v bumped at idx"; nothing lies above UINT32_MAX, so overflow means
 * the comparator can never hold. */
static void lower_bumped(struct comparator *c, const assay_semver *v, int idx)
{
    assay_semver b = *v;

    if (bump(&b, idx))
        set_bound(&c->lo, &b, true);
    else
        c->never = true;
}

/* "< v bumped at idx", excluding that version's prereleases (npm's "-0",
 * the lowest possible prerelease); overflow means no upper bound. */
static void upper_bumped(struct comparator *c, const assay_semver *v, int idx)
{
    assay_semver b = *v;

    if (!bump(&b, idx))
        return;
    strlcpy(b.pre, "0", sizeof b.pre);
    set_bound(&c->hi, &b, false);
}

/* MAJOR or MAJOR.MINOR without prerelease/build, zero-filling the rest;
 * or a full version. *parts gets 1, 2 or 3. */
static int parse_partial(const char *s, assay_semver *v, int *parts)
{
    const char *p = s;

    *v = (assay_semver){0};
    if (assay_semver_parse(s, v) == 0) {
        *parts = 3;
        return 0;
    }
    if (!parse_num(&p, &v->major))
        return ASSAY_EINVAL;
    *parts = 1;
    if (*p == '.') {
        p++;
        if (!parse_num(&p, &v->minor))
            return ASSAY_EINVAL;
        *parts = 2;
    }
    return *p == '\0' ? 0 : ASSAY_EINVAL;
}

static const char *parse_op(const char *s, enum op *op)
{
    static const struct {
        const char *text;
        enum op op;
    } ops[] = {
        /* two-character operators before their one-character prefixes */
        {">=", OP_GE}, {"<=", OP_LE},   {">", OP_GT},    {"<", OP_LT},
        {"=", OP_EQ},  {"^", OP_CARET}, {"~", OP_TILDE},
    };

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);

        if (strncmp(s, ops[i].text, n) == 0) {
            *op = ops[i].op;
            return s + n;
        }
    }
    *op = OP_EQ;
    return s;
}

static int parse_comparator(const char *tok, struct comparator *c)
{
    assay_semver v;
    enum op op;
    int parts;

    *c = (struct comparator){0};
    if (strcmp(tok, "*") == 0)
        return 0;
    if (parse_partial(parse_op(tok, &op), &v, &parts) < 0)
        return ASSAY_EINVAL;
    if (v.pre[0]) {
        c->anchor = true;
        c->at = v;
    }
    switch (op) {
    case OP_EQ:
        set_bound(&c->lo, &v, true);
        if (parts == 3)
            set_bound(&c->hi, &v, true);
        else
            upper_bumped(c, &v, parts - 1);
        break;
    case OP_GT:
        if (parts == 3)
            set_bound(&c->lo, &v, false);
        else
            lower_bumped(c, &v, parts - 1);
        break;
    case OP_GE:
        set_bound(&c->lo, &v, true);
        break;
    case OP_LT:
        /* <1.2 := <1.2.0-0: no 1.2.0 prerelease either */
        if (parts < 3)
            strlcpy(v.pre, "0", sizeof v.pre);
        set_bound(&c->hi, &v, false);
        break;
    case OP_LE:
        if (parts == 3)
            set_bound(&c->hi, &v, true);
        else
            upper_bumped(c, &v, parts - 1);
        break;
    case OP_TILDE:
        set_bound(&c->lo, &v, true);
        upper_bumped(c, &v, parts == 1 ? 0 : 1);
        break;
    case OP_CARET:
        set_bound(&c->lo, &v, true);
        /* the leftmost part that is non-zero or the last one written */
        if (v.major || parts == 1)
            upper_bumped(c, &v, 0);
        else if (v.minor || parts == 2)
            upper_bumped(c, &v, 1);
        else
            upper_bumped(c, &v, 2);
        break;
    }
    return 0;
}

/* The n bytes at `start`, which are not NUL-terminated. */
static int parse_token(const char *start, size_t n, struct comparator *c)
{
    /* operator (<= 2) + version (<= ASSAY_SEMVER_MAX_LEN) + NUL */
    char tok[ASSAY_SEMVER_MAX_LEN + 3];

    if (n >= sizeof tok)
        return ASSAY_EINVAL;
    memcpy(tok, start, n);
    tok[n] = '\0';
    return parse_comparator(tok, c);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int assay_semver_range_parse(const char *s, assay_semver_range **out, char *err,
                             size_t errlen)
{
    assay_semver_range *r;

    if (!s || !out)
        return assay_errf(err, errlen, ASSAY_EINVAL, "version range: NULL");
    r = calloc(1, sizeof *r);
    if (!r)
        return assay_errf(err, errlen, ASSAY_ENOMEM, "version range: %s",
                          assay_strerror(ASSAY_ENOMEM));
    for (;;) {
        const char *start;
        size_t n;

        while (is_blank(*s))
            s++;
        if (!*s)
            break;
        start = s;
        while (*s && !is_blank(*s))
            s++;
        n = (size_t)(s - start);
        if (r->n == ASSAY_SEMVER_RANGE_MAX) {
            assay_semver_range_destroy(&r);
            return assay_errf(err, errlen, ASSAY_ETOOBIG,
                              "version range: more than %d comparators "
                              "at '%.*s'",
                              ASSAY_SEMVER_RANGE_MAX, (int)n, start);
        }
        if (parse_token(start, n, &r->cmp[r->n]) < 0) {
            assay_semver_range_destroy(&r);
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "version range: bad comparator '%.*s'", (int)n,
                              start);
        }
        r->n++;
    }
    *out = r;
    return 0;
}

static bool same_release(const assay_semver *a, const assay_semver *b)
{
    return a->major == b->major && a->minor == b->minor && a->patch == b->patch;
}

bool assay_semver_range_match(const assay_semver_range *r,
                              const assay_semver *v)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct comparator *c = &r->cmp[i];
        int d;

        if (c->never)
            return false;
        if (c->lo.set) {
            d = assay_semver_cmp(v, &c->lo.v);
            if (d < 0 || (d == 0 && !c->lo.incl))
                return false;
        }
        if (c->hi.set) {
            d = assay_semver_cmp(v, &c->hi.v);
            if (d > 0 || (d == 0 && !c->hi.incl))
                return false;
        }
    }
    if (!v->pre[0])
        return true;
    for (size_t i = 0; i < r->n; i++)
        if (r->cmp[i].anchor && same_release(&r->cmp[i].at, v))
            return true;
    return false;
}

void assay_semver_range_destroy(assay_semver_range **r)
{
    if (r && *r) {
        free(*r);
        *r = NULL;
    }
}

void assay_semver_list_add(char *list, size_t len, const char *version)
{
    assay_semver v, w;
    char *at = list;

    if (assay_semver_parse(version, &v) != 0)
        return;
    /* Find the first listed version above `version`; "..." counts as
     * above everything so that it stays last. */
    while (*at) {
        size_t n = strcspn(at, ",");
        char one[ASSAY_SEMVER_MAX_LEN + 1] = "";

        if (n < sizeof one) {
            memcpy(one, at, n);
            one[n] = '\0';
        }
        if (assay_semver_parse(one, &w) != 0)
            break;
        int c = assay_semver_cmp(&v, &w);
        if (c == 0)
            return;
        if (c < 0)
            break;
        at += n;
        at += *at == ',';
        at += *at == ' ';
    }
    assay_textlist_insert(list, len, at, version);
}

bool assay_semver_pick_offer(assay_semver_pick *pick,
                             const assay_semver_range *r,
                             const assay_semver *v)
{
    if ((r && !assay_semver_range_match(r, v)) ||
        (pick->found && assay_semver_cmp(v, &pick->best) <= 0))
        return false;
    pick->best = *v;
    pick->found = true;
    return true;
}
