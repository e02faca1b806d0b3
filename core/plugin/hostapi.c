/* core/plugin/hostapi.c - the assay_host_api table and the job context behind it.
 *
 * The table is a single static const object: modules keep a pointer to it
 * for the life of the process. Everything a module passes in is copied.
 *
 * The table's `log` entry cannot tell which module called it (the ABI
 * gives it no context), so the core names the module it is about to call
 * in a thread-local label (assay_host_label); a module's own threads, and
 * calls the core did not label, are named after the shared object the call
 * came from. */
#include "plugin/hostapi.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "base/log.h"

static _Thread_local const char *s_label;
static _Thread_local int s_lines; /* logged under s_label so far */

const char *assay_host_label(const char *label)
{
    const char *prev = s_label;
    s_label = label;
    s_lines = 0;
    return prev;
}

/* Modules written when every line was labelled "plugin:" name themselves
 * ("zmq: cannot bind ..."); the label already does, so that is dropped. */
static const char *s_unprefixed(const char *msg, const char *label)
{
    const char *word = strrchr(label, ' ');
    word = word ? word + 1 : label;
    size_t n = strlen(word);
    return !strncmp(msg, word, n) && msg[n] == ':' && msg[n + 1] == ' '
               ? msg + n + 2
               : msg;
}

/* The file name of the shared object that holds `addr`. */
static const char *s_object_name(const void *addr)
{
    Dl_info dl;
    if (!dladdr(addr, &dl) || !dl.dli_fname)
        return "module";
    const char *slash = strrchr(dl.dli_fname, '/');
    return slash ? slash + 1 : dl.dli_fname;
}

static void s_log(int level, const char *fmt, ...)
{
    if (level > assay_log_level() || !fmt)
        return;
    const char *label = s_label;
    if (!label) {
        label = s_object_name(__builtin_return_address(0));
    } else if (s_lines > ASSAY_MAX_LOG_LINES) {
        return;
    } else if (++s_lines > ASSAY_MAX_LOG_LINES) {
        assay_logf(ASSAY_LOG_WARN,
                   "%s: more than %d log lines in one call; the rest are "
                   "dropped",
                   label, ASSAY_MAX_LOG_LINES);
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    assay_logf(level, "%s: %s", label, s_unprefixed(msg, label));
}

static void *s_alloc(size_t size) { return calloc(1, size ? size : 1); }

static void s_free(void *p) { free(p); }

/* Formats into a heap string of at most ASSAY_MAX_TEXT bytes. */
static char *s_vformat(const char *fmt, va_list ap)
{
    va_list probe;
    va_copy(probe, ap);
    int n = vsnprintf(NULL, 0, fmt, probe);
    va_end(probe);
    if (n < 0)
        return NULL;
    size_t size = (size_t)n + 1 < ASSAY_MAX_TEXT ? (size_t)n + 1 : ASSAY_MAX_TEXT;
    char *out = malloc(size);
    if (out)
        vsnprintf(out, size, fmt, ap);
    return out;
}

/* JSON strings must be UTF-8; plugin text may not be (file contents,
 * provider output), so invalid bytes become '?'. */
static json_t *s_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s ? s : "");
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static void s_message(assay_ctx *ctx, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *m = s_vformat(fmt, ap);
    va_end(ap);
    if (m)
        json_object_set_new(ctx->result, "message", s_text(m));
    free(m);
}

static const char *s_state_name(int state)
{
    switch (state) {
    case ASSAY_SATISFIED: return "satisfied";
    case ASSAY_NOT_SATISFIED: return "not-satisfied";
    case ASSAY_INFO: return "info";
    default: return NULL;
    }
}

static int s_finding(assay_ctx *ctx, int state, const char *title,
                     const char *subject)
{
    const char *sn = s_state_name(state);
    if (!ctx || !title || !sn)
        return ASSAY_EINVAL;
    json_t *list = json_object_get(ctx->result, "findings");
    if (json_array_size(list) >= ASSAY_MAX_FINDINGS)
        return ASSAY_ETOOBIG;
    json_t *f = json_pack("{s:o, s:o, s:s, s:{}}", "title", s_text(title),
                          "subject", s_text(subject ? subject : ""), "state",
                          sn, "evidence");
    if (!f)
        return ASSAY_ENOMEM;
    json_array_append_new(list, f);
    return (int)json_array_size(list) - 1;
}

static int s_set_kv(json_t *obj, const char *key, const char *fmt, va_list ap)
{
    if (!key || !fmt || !*key)
        return ASSAY_EINVAL;
    if (json_object_size(obj) >= ASSAY_MAX_DATA_KEYS &&
        !json_object_get(obj, key))
        return ASSAY_ETOOBIG;
    char *v = s_vformat(fmt, ap);
    if (!v)
        return ASSAY_ENOMEM;
    json_t *jk = s_text(key);
    int rc = jk ? json_object_set_new(obj, json_string_value(jk), s_text(v))
                : -1;
    json_decref(jk);
    free(v);
    return rc ? ASSAY_ENOMEM : 0;
}

static int s_evidence(assay_ctx *ctx, int finding, const char *key,
                      const char *fmt, ...)
{
    if (!ctx)
        return ASSAY_EINVAL;
    json_t *f = json_array_get(json_object_get(ctx->result, "findings"),
                               (size_t)finding);
    if (finding < 0 || !f)
        return ASSAY_ENOENT;
    va_list ap;
    va_start(ap, fmt);
    int rc = s_set_kv(json_object_get(f, "evidence"), key, fmt, ap);
    va_end(ap);
    return rc;
}

static int s_data(assay_ctx *ctx, const char *key, const char *fmt, ...)
{
    if (!ctx)
        return ASSAY_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    int rc = s_set_kv(json_object_get(ctx->result, "data"), key, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *s_config(assay_ctx *ctx, const char *key)
{
    if (!ctx || !key)
        return NULL;
    for (size_t i = 0; ctx->config_decl && ctx->config_decl[i].name; i++) {
        if (strcmp(ctx->config_decl[i].name, key))
            continue;
        const char *v = json_string_value(json_object_get(ctx->config, key));
        return v ? v : ctx->config_decl[i].def;
    }
    return NULL;
}

static int64_t s_remaining_ms(assay_ctx *ctx)
{
    if (!ctx)
        return 0;
    int64_t left = ctx->deadline_ms - assay_now_ms();
    return left > 0 ? left : 0;
}

static void *s_state(assay_ctx *ctx) { return ctx ? ctx->state : NULL; }

static const assay_host_api s_api = {
    .abi_major = ASSAY_ABI_MAJOR,
    .abi_minor = ASSAY_ABI_MINOR,
    .struct_size = sizeof(assay_host_api),
    .log = s_log,
    .alloc = s_alloc,
    .free = s_free,
    .strerror = assay_strerror,
    .message = s_message,
    .finding = s_finding,
    .evidence = s_evidence,
    .data = s_data,
    .config = s_config,
    .remaining_ms = s_remaining_ms,
    .state = s_state,
};

const assay_host_api *assay_host_table(void) { return &s_api; }

int assay_ctx_init(assay_ctx *ctx, const json_t *config,
                   const assay_param *config_decl, int64_t deadline_ms,
                   void *state)
{
    ctx->result = json_pack("{s:[], s:{}}", "findings", "data");
    if (!ctx->result)
        return ASSAY_ENOMEM;
    ctx->config = config;
    ctx->config_decl = config_decl;
    ctx->deadline_ms = deadline_ms;
    ctx->state = state;
    return 0;
}

void assay_ctx_fini(assay_ctx *ctx)
{
    json_decref(ctx->result);
    ctx->result = NULL;
}
