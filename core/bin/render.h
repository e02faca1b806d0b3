/* core/bin/render.h - human-readable tables of results and catalogues
 * (assayctl's default output; --json prints the objects as they are). */
#ifndef ASSAY_RENDER_H
#define ASSAY_RENDER_H

#include <stdio.h>

#include <jansson.h>

/* One row per job, findings indented below it. */
void assay_render_results(FILE *out, const json_t *results);
/* Plugins with their actions' signatures, then refused files. */
void assay_render_catalog(FILE *out, const json_t *catalog);

#endif
