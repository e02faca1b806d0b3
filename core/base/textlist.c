/* core/base/textlist.c - bounded lists of names for messages (textlist.h). */
#include "base/textlist.h"

#include <string.h>

#include <bsd/string.h>

#define CUT ", ..."

bool assay_textlist_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !memcmp(p, item, n))
            return true;
        p += k;
        p += *p == ',';
        p += *p == ' ';
    }
    return false;
}

void assay_textlist_insert(char *list, size_t len, char *at,
                           const char *item)
{
    size_t used = strlen(list), n = strlen(item);
    if (used >= 3 && !strcmp(list + used - 3, "..."))
        return; /* full: it says so already */
    if (used + n + 2 + sizeof CUT > len) {
        strlcat(list, used ? CUT : CUT + 2, len);
        return;
    }
    if (!*at) {
        if (used)
            strlcat(list, ", ", len);
        strlcat(list, item, len);
        return;
    }
    memmove(at + n + 2, at, strlen(at) + 1);
    memcpy(at, item, n);
    memcpy(at + n, ", ", 2);
}

void assay_textlist_add(char *list, size_t len, const char *item)
{
    if (!assay_textlist_has(list, item))
        assay_textlist_insert(list, len, list + strlen(list), item);
}
