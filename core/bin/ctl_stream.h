/* core/bin/ctl_stream.h - assayctl watch --from/--consumer and consumers:
 * the result stream read from a position (docs/cli.md, docs/protocol.md
 * #assaystream). */
#ifndef ASSAY_CTL_STREAM_H
#define ASSAY_CTL_STREAM_H

#include "ctl_cluster.h"

/* watch --from POS | --consumer NAME [--count N] [--wait-ms N]: every
 * ended job's evidence record after POS (or the consumer's position),
 * then each as it ends; a consumer's position is acknowledged after each
 * page printed. Returns the exit code. */
int assay_ctl_stream_watch(const assay_ctl_opts *o);
/* consumers [delete NAME]: the durable consumers, or one deleted. */
int assay_ctl_consumers(char **args, int nargs, const assay_ctl_opts *o);

#endif
