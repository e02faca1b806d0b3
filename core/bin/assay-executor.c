/* assay-executor - runs actions for assayd/assayctl in a separate process.
 * Started by the executor pool only; see core/executor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "log.h"

int main(int argc, char **argv)
{
    assay_executor_opts opts = {.fd = -1};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--fd"))
            opts.fd = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--memory-mb"))
            opts.memory_mb = atoll(argv[i + 1]);
    }
    if (opts.fd < 0) {
        fprintf(stderr, "assay-executor: started by assayd, not by hand "
                        "(usage: assay-executor --fd N [--memory-mb M])\n");
        return 64;
    }
    assay_log_init("assay-executor", ASSAY_LOG_WARN);
    return assay_executor_main(&opts);
}
