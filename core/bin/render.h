/* core/bin/render.h - human-readable tables of results and catalogues
 * (assayctl's default output; --json prints the objects as they are). */
#ifndef ASSAY_RENDER_H
#define ASSAY_RENDER_H

#include <stdio.h>

#include <jansson.h>

/* Longest actions shown in full in a table's ACTION column; a longer one
 * is clipped (ending "...") so that the columns stay aligned. */
#define ASSAY_RENDER_ACTION_MAX 48

/* The width of a column showing string `key` of every row: the longest
 * value, at least `min` and at most `max`. */
int assay_render_width(const json_t *rows, const char *key, int min, int max);
/* Prints s in exactly `width` columns: padded, or clipped ending "...". */
void assay_render_cell(FILE *out, const char *s, int width);
/* One row per job, findings indented below it; the ACTION column as wide
 * as the longest action (16 to ASSAY_RENDER_ACTION_MAX). */
void assay_render_results(FILE *out, const json_t *results);
/* The progress line of a wait, in place on a terminal ("\r", cleared to
 * the end), in assay-bench's form: "[  12.3s] wait: ended 40 of 100
 * (failed 2), running 8, queued 52, 3.3/s"; with jobs NULL it is erased. */
void assay_render_progress(FILE *out, double elapsed_s, const json_t *jobs);
/* One line for an event of the stream (`assayctl watch`). */
void assay_render_event(FILE *out, const char *topic, const json_t *body);
/* Plugins with their actions' signatures, then refused files. */
void assay_render_catalog(FILE *out, const json_t *catalog);

#endif
