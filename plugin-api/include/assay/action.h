/* assay/action.h - conveniences for action plugin authors.
 *
 * In exactly one .c file of the plugin:
 *
 *     static const assay_module desc = { ASSAY_MODULE_HEADER, ... };
 *     ASSAY_MODULE_DEFINE(desc)
 *
 * Other files of the same plugin may use the result macros after
 * including this header (the host table pointer is a hidden global). */
#ifndef ASSAY_ACTION_H
#define ASSAY_ACTION_H

#include "module.h"

/* The first three fields of every descriptor. */
#define ASSAY_MODULE_HEADER                                                    \
    .abi_major = ASSAY_ABI_MAJOR, .abi_minor = ASSAY_ABI_MINOR,                \
    .struct_size = sizeof(assay_module)

/* The host table, set by the entry point before any other call. Hidden so
 * that two plugins loaded RTLD_LOCAL never share it. */
__attribute__((visibility("hidden"))) extern const assay_host_api *assay_host;

#define ASSAY_MODULE_DEFINE(desc)                                              \
    __attribute__((visibility("hidden"))) const assay_host_api *assay_host;    \
    ASSAY_API const assay_module *assay_module_v1(const assay_host_api *host)  \
    {                                                                          \
        assay_host = host;                                                     \
        return &(desc);                                                        \
    }

#define assay_message(ctx, ...) assay_host->message((ctx), __VA_ARGS__)
#define assay_finding(ctx, state, title, subject)                              \
    assay_host->finding((ctx), (state), (title), (subject))
#define assay_evidence(ctx, f, key, ...)                                       \
    assay_host->evidence((ctx), (f), (key), __VA_ARGS__)
#define assay_data(ctx, key, ...) assay_host->data((ctx), (key), __VA_ARGS__)
#define assay_config(ctx, key) assay_host->config((ctx), (key))
#define assay_log(level, ...) assay_host->log((level), __VA_ARGS__)

/* ---- Declaring an action ------------------------------------------------
 *
 *     static int sysctl_equals(assay_ctx *ctx, const char *key,
 *                              const char *expected) { ... }
 *
 *     static const assay_action actions[] = {
 *         ASSAY_ACTION(sysctl_equals, "equals", "passes if ...",
 *             ASSAY_ARG(const char *, "key", ASSAY_PARAM_REQUIRED, NULL,
 *                       "dotted sysctl name"),
 *             ASSAY_ARG(const char *, "expected", ASSAY_PARAM_REQUIRED, NULL,
 *                       "required value")),
 *         {0},
 *     };
 *
 * ASSAY_ARG(C type, "name", flags, default, "help") declares one param by
 * the C type the function takes; its assay_type follows from that type
 * (the table in types.h). ASSAY_ACTION builds the assay_action, params in
 * the function's order, and checks at compile time that the function is
 * int fn(assay_ctx *, <those C types, in that order>): a param declared
 * with a type the function does not take, or in another order, is a
 * compile error naming the action and its params, not a crash when the
 * host calls the function. Names and help are string literals. At most 32
 * params (the host's limit). The result is an ordinary ABI 1.0 assay_action,
 * so plugins declared by hand load the same. */

/* The assay_type of a C param type; 0 for a type the host cannot pass. */
#define ASSAY_TYPE_OF(ctype)                                                   \
    _Generic((ctype)0,                                                         \
        const char *: ASSAY_TYPE_STRING,                                       \
        int64_t: ASSAY_TYPE_INT64,                                             \
        double: ASSAY_TYPE_DOUBLE,                                             \
        bool: ASSAY_TYPE_BOOL,                                                 \
        const assay_bytes *: ASSAY_TYPE_BYTES,                                 \
        const assay_strlist *: ASSAY_TYPE_STRLIST,                             \
        const assay_map *: ASSAY_TYPE_MAP,                                     \
        default: 0)

/* The C type's spelling travels along for the compile-time messages. */
#define ASSAY_ARG(ctype, name, flags, def, help)                               \
    (ctype, name, flags, def, help, #ctype)

#define ASSAY_ACTION(fn_, name_, ...)                                          \
    {                                                                          \
        .name = name_, .help = ASSAY__HELP(__VA_ARGS__, ~),                     \
        .params = (const assay_param[ASSAY__NPARAMS(__VA_ARGS__) + 1 +         \
                                     0 * sizeof(struct {                       \
                                         ASSAY__EACH(ASSAY__ASSERT_ARG, name_, \
                                                     __VA_ARGS__)              \
                                         _Static_assert(                       \
                                             _Generic((fn_),                   \
                                                 int (*)(assay_ctx *           \
                                                     ASSAY__EACH(              \
                                                         ASSAY__CTYPE, name_,  \
                                                         __VA_ARGS__)): 1,     \
                                                 default: 0),                  \
                                             "action '" name_ "': " #fn_       \
                                             " must be int " #fn_              \
                                             "(assay_ctx *"                    \
                                             ASSAY__EACH(ASSAY__SPELL, name_,  \
                                                         __VA_ARGS__)          \
                                             "), as its params declare");      \
                                         char assay_checked_;                  \
                                     })]){                                     \
            ASSAY__EACH(ASSAY__PARAM, name_, __VA_ARGS__){0}},                 \
        .fn = ASSAY_FN(fn_),                                                   \
    }

/* ---- Implementation of the above; not for direct use ------------------ */

#define ASSAY__HELP(help, ...) help
/* Each takes (action, C type, name, flags, default, help, spelled type). */
#define ASSAY__PARAM(a_, t_, n_, f_, d_, h_, s_)                               \
    {.name = n_, .type = ASSAY_TYPE_OF(t_), .flags = f_, .def = d_, .help = h_},
#define ASSAY__CTYPE(a_, t_, n_, f_, d_, h_, s_) , t_
#define ASSAY__SPELL(a_, t_, n_, f_, d_, h_, s_) ", " s_ " " n_
#define ASSAY__ASSERT_ARG(a_, t_, n_, f_, d_, h_, s_)                          \
    _Static_assert(ASSAY_TYPE_OF(t_) != 0,                                     \
                   "action '" a_ "': param '" n_ "': C type " s_               \
                   " is none of const char *, int64_t, double, bool, "         \
                   "const assay_bytes *, const assay_strlist *, "              \
                   "const assay_map *");

/* ASSAY__EACH(M, action, help, (arg)...) expands M(action, arg...) for each
 * param tuple after the help text. */
#define ASSAY__CAT(a, b) ASSAY__CAT_(a, b)
#define ASSAY__CAT_(a, b) a##b
#define ASSAY__EACH(M, action, ...)                                            \
    ASSAY__CAT(ASSAY__EACH_, ASSAY__NPARAMS(__VA_ARGS__))                      \
    (M, action, __VA_ARGS__)
#define ASSAY__APPLY(M, action, tuple)                                         \
    ASSAY__APPLY_(M, action, ASSAY__UNPAREN tuple)
#define ASSAY__APPLY_(M, action, ...) ASSAY__CALL(M, (action, __VA_ARGS__))
#define ASSAY__CALL(M, args) M args
#define ASSAY__UNPAREN(...) __VA_ARGS__
#define ASSAY__NPARAMS(...)                                                    \
    ASSAY__NPARAMS_(__VA_ARGS__, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23,       \
    22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,      \
    3, 2, 1, 0, ~)
#define ASSAY__NPARAMS_(help, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11,    \
    _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23,                \
    _24, _25, _26, _27, _28, _29, _30, _31, _32, n, ...)                       \
    n
#define ASSAY__EACH_0(M, action, help)
#define ASSAY__EACH_1(M, action, help, a) ASSAY__APPLY(M, action, a)
#define ASSAY__EACH_2(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_1(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_3(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_2(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_4(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_3(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_5(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_4(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_6(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_5(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_7(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_6(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_8(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_7(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_9(M, action, help, a, ...)                                 \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_8(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_10(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_9(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_11(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_10(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_12(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_11(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_13(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_12(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_14(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_13(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_15(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_14(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_16(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_15(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_17(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_16(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_18(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_17(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_19(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_18(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_20(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_19(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_21(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_20(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_22(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_21(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_23(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_22(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_24(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_23(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_25(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_24(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_26(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_25(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_27(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_26(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_28(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_27(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_29(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_28(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_30(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_29(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_31(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_30(M, action, help, __VA_ARGS__)
#define ASSAY__EACH_32(M, action, help, a, ...)                                \
    ASSAY__APPLY(M, action, a) ASSAY__EACH_31(M, action, help, __VA_ARGS__)

#endif
