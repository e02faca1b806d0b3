/* core/base/hostfacts.c - what a runtime says of its host (hostfacts.h). */
#include "base/hostfacts.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bsd/string.h>

#define S_FACT_MAX 255

/* The value of `key` in an os-release file (shell-quoted or not). */
static bool s_os_release(const char *path, const char *key, char *out,
                         size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    size_t klen = strlen(key);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) || line[klen] != '=')
            continue;
        char *v = line + klen + 1;
        v[strcspn(v, "\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        strlcpy(out, v, size);
        found = *out != '\0';
    }
    fclose(f);
    return found;
}

static void s_set(json_t *facts, const char *key, const char *value)
{
    char cut[S_FACT_MAX + 1];
    strlcpy(cut, value, sizeof cut);
    if (*cut)
        json_object_set_new(facts, key, json_string(cut));
}

json_t *assay_hostfacts(const char *asset_id)
{
    json_t *facts = json_object();
    if (!facts)
        return NULL;
    char text[512];
    if (gethostname(text, sizeof text) == 0) {
        text[sizeof text - 1] = '\0';
        s_set(facts, "hostname", text);
    }
    if (s_os_release("/etc/os-release", "PRETTY_NAME", text, sizeof text) ||
        s_os_release("/usr/lib/os-release", "PRETTY_NAME", text,
                     sizeof text))
        s_set(facts, "os", text);
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(text, sizeof text, "%s %s", u.sysname, u.release);
        s_set(facts, "kernel", text);
    }
    if (asset_id && *asset_id) {
        s_set(facts, "machine_id", asset_id);
    } else {
        FILE *f = fopen("/etc/machine-id", "re");
        if (f) {
            if (fgets(text, sizeof text, f)) {
                text[strcspn(text, " \n")] = '\0';
                s_set(facts, "machine_id", text);
            }
            fclose(f);
        }
    }
    return facts;
}
