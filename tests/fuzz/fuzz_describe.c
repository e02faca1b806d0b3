/* tests/fuzz/fuzz_describe.c - a describer's answer as the daemon reads it
 * (core/plugin/describe.c): the helper ran plugin code, so its answer may be any
 * bytes. Whatever they are: no crash, no leak, and a description that is
 * accepted passes the checks of a loaded module. */
#include <stdlib.h>

#include "fuzz.h"
#include "plugin/describe.h"
#include "plugin/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_description *d = NULL;
    char err[256];
    if (assay_describe_parse(data, size, &d, err, sizeof err) == 0) {
        if (assay_module_validate(assay_description_module(d),
                                  ASSAY_KIND_ACTION, NULL, 0) != 0)
            abort(); /* accepted what a loaded module could not be */
        assay_description_destroy(&d);
    }
    return 0;
}
