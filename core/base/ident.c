/* core/base/ident.c - what an identifier may be (see ident.h). */
#include "base/ident.h"

#include <string.h>

static bool s_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

bool assay_ident_valid(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool assay_ident_node_valid(const char *s, size_t max)
{
    return assay_ident_valid(s, max) && s_alnum(s[0]);
}
