/* noop - the `noop.pass` action, which does nothing and passes. It is the
 * benchmark workload: it measures the executor's own per-job cost, so it
 * must stay free of any work of its own. */
#include <assay.h>

static int noop_pass(assay_ctx *ctx)
{
    assay_message(ctx, "ok");
    return ASSAY_PASS;
}

static const assay_action actions[] = {
    ASSAY_ACTION(noop_pass, "pass", "always passes"),
    {0},
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_ACTION,
    .name = "noop",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "does nothing and passes (benchmark workload)",
    .actions = actions,
};

ASSAY_MODULE_DEFINE(desc)
