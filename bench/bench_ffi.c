/* bench-ffi - cost of calling an action through libffi versus a direct
 * call through a function pointer (docs/benchmarks.md).
 *
 * Three loops over the same two-parameter action: a direct call, a bare
 * ffi_call with a prepared cif, and the host's full path
 * (assay_invoker_call: JSON params -> C arguments -> ffi_call). */
#include <stdio.h>
#include <stdlib.h>

#include <ffi.h>

#include "base/clock.h"
#include "plugin/hostapi.h"
#include "plugin/invoke.h"

static volatile int64_t s_sink;

__attribute__((noinline)) static int s_action(assay_ctx *ctx,
                                              const char *path, int64_t mode)
{
    (void)ctx;
    s_sink += mode + (path != NULL);
    return 0;
}

static const assay_param s_params[] = {
    {"path", ASSAY_TYPE_STRING, ASSAY_PARAM_REQUIRED, NULL, "path"},
    {"mode", ASSAY_TYPE_INT64, ASSAY_PARAM_REQUIRED, NULL, "mode"},
    {NULL, 0, 0, NULL, NULL}};
static const assay_action s_decl = {"bench", "bench", s_params,
                                    ASSAY_FN(s_action)};

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    int (*volatile direct)(assay_ctx *, const char *, int64_t) = s_action;
    assay_ctx *ctx = NULL;
    const char *path = "/etc/passwd";
    int64_t mode = 0644;

    int64_t t0 = assay_now_us();
    for (long i = 0; i < n; i++)
        direct(ctx, path, mode);
    int64_t t1 = assay_now_us();

    ffi_cif cif;
    ffi_type *types[] = {&ffi_type_pointer, &ffi_type_pointer,
                         &ffi_type_sint64};
    ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 3, &ffi_type_sint, types);
    void *values[] = {&ctx, &path, &mode};
    ffi_arg rv;
    int64_t t2 = assay_now_us();
    for (long i = 0; i < n; i++)
        ffi_call(&cif, FFI_FN(s_action), &rv, values);
    int64_t t3 = assay_now_us();

    assay_invoker *inv;
    char err[256];
    if (assay_invoker_new(&s_decl, &inv, err, sizeof err) != 0) {
        fprintf(stderr, "bench-ffi: %s\n", err);
        return 1;
    }
    json_t *params = json_pack("{s:s, s:I}", "path", path, "mode",
                               (json_int_t)mode);
    long m = n / 10;
    int ret;
    int64_t t4 = assay_now_us();
    for (long i = 0; i < m; i++)
        assay_invoker_call(inv, ctx, params, &ret, err, sizeof err);
    int64_t t5 = assay_now_us();
    json_decref(params);
    assay_invoker_destroy(&inv);

    double d = (t1 - t0) * 1000.0 / n, f = (t3 - t2) * 1000.0 / n;
    double h = (t5 - t4) * 1000.0 / m;
    printf("direct call:              %6.1f ns/call (%ld calls)\n", d, n);
    printf("ffi_call, prepared cif:   %6.1f ns/call\n", f);
    printf("libffi overhead:          %6.1f ns/call\n", f - d);
    printf("host path (JSON -> ffi):  %6.1f ns/call (%ld calls)\n", h, m);
    return 0;
}
