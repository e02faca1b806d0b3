/* core/member/notify.c - notify_command: a shell command the leader runs
 * for each event whose topic starts with one of notify_topics (by default
 * runtime.dead; finding.regressed pages someone only when a check turns
 * bad). Events leave as commands are applied, so only what the log
 * recorded is announced. At most 64 hooks run at once: an event past that
 * is logged and not run (a flood of regressions must not fork-bomb the
 * leader). */
#include "member/internal.h"

extern char **environ;

bool mb_notify_wants(const assay_leader *self, const char *topic)
{
    if (!self->conf || !self->conf->notify_command[0])
        return false;
    const char *list = self->conf->notify_topics;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ,");
        if (n && !strncmp(topic, p, n))
            return true;
        p += n;
        p += strspn(p, " ,");
    }
    return false;
}

/* The id an event names: a runtime's, or a job's. */
static const char *s_subject(const json_t *body)
{
    return mb_str(body, "id");
}

void mb_notify(assay_leader *self, const char *topic, const void *bytes,
               size_t len)
{
    json_t *body = NULL;
    if (bytes && assay_codec_decode(bytes, len, &body, NULL, 0))
        body = NULL;
    if (self->nhooks >= (int)(sizeof self->hooks / sizeof *self->hooks)) {
        assay_warn("notify_command: %d hooks still running: %s %s not "
                   "announced",
                   self->nhooks, topic, body ? s_subject(body) : "");
        json_decref(body);
        return;
    }
    bool runtime = !strncmp(topic, "runtime.", 8);
    const char *id = body && s_subject(body) ? s_subject(body) : "";
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        json_decref(body);
        return;
    }
    char ev[128], who[160];
    snprintf(ev, sizeof ev, "ASSAY_EVENT=%s", topic);
    snprintf(who, sizeof who, "%s=%s", runtime ? "ASSAY_RUNTIME" : "ASSAY_JOB",
             id);
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = calloc(nenv + 3, sizeof *env);
    if (!env) {
        close(in[0]);
        close(in[1]);
        json_decref(body);
        return;
    }
    memcpy(env, environ, nenv * sizeof *env);
    env[nenv] = ev;
    env[nenv + 1] = who;
    char *argv[] = {"/bin/sh", "-c", (char *)self->conf->notify_command,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(in[0]);
    if (rc == 0) {
        self->hooks[self->nhooks++] = pid;
        /* {event, leader, runtime: id} for a runtime's events (as before
         * topics were configurable); {event, leader, job: the job's view,
         * with its result and drift} for a job's. */
        json_t *msg = json_pack("{s:s, s:s}", "event", topic, "leader",
                                self->id);
        if (runtime)
            json_object_set_new(msg, "runtime", json_string(id));
        else if (body)
            json_object_set(msg, "job", body);
        char *text = json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
        if (text && (write(in[1], text, strlen(text)) < 0 ||
                     write(in[1], "\n", 1) < 0))
            assay_warn("notify_command: cannot write event: %m");
        free(text);
        assay_info("notify_command started (pid %d) for %s %s", (int)pid,
                   topic, id);
    } else {
        assay_error("notify_command: cannot start: %s", strerror(rc));
    }
    close(in[1]);
    json_decref(body);
}

void mb_notify_reap(assay_leader *self)
{
    /* Only ours: the executor pool reaps its own children. */
    for (int k = 0; k < self->nhooks;)
        if (waitpid(self->hooks[k], NULL, WNOHANG) != 0)
            self->hooks[k] = self->hooks[--self->nhooks];
        else
            k++;
}
