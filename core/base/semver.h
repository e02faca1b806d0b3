/* core/base/semver.h - Semantic Versioning 2.0.0 versions and version ranges.
 *
 * Plugins and modules declare versions; dependencies name ranges. Parsing
 * is strict (semver.org grammar, no "v" prefix, no leading zeros) so that
 * two parties never disagree about what a version string means.
 *
 * Range syntax, a subset of npm's: comparators separated by blanks, all of
 * which must hold. Each is an operator glued to a version (">=1.0", never
 * ">= 1.0"); a version may be partial (MAJOR or MAJOR.MINOR, no
 * prerelease) except where noted.
 *
 *   1.2.3  =1.2.3   exactly that version (build metadata ignored)
 *   1.2    =1.2     >=1.2.0 <1.3.0
 *   1      =1       >=1.0.0 <2.0.0
 *   >X  >=X  <X  <=X  ordinary bounds; partial: >1.2 := >=1.3.0,
 *                     <=1.2 := <1.3.0, >=1.2 := >=1.2.0, <1.2 := <1.2.0
 *   ^X     same leftmost non-zero part: ^1.2.3 := >=1.2.3 <2.0.0,
 *          ^0.2.3 := >=0.2.3 <0.3.0, ^0.0.3 := >=0.0.3 <0.0.4,
 *          ^1.2 := >=1.2.0 <2.0.0, ^0.0 := >=0.0.0 <0.1.0
 *   ~X     patch-level changes: ~1.4.0 := >=1.4.0 <1.5.0, ~1 := >=1.0.0
 *          <2.0.0
 *   *      any version; so is an empty or all-blank range
 *
 * Prereleases follow npm's rule: a version with a prerelease matches only
 * if it satisfies every comparator AND some comparator was written with a
 * prerelease on the same MAJOR.MINOR.PATCH. So ">=1.2.3-beta" matches
 * 1.2.3-rc.1 but not 1.3.0-alpha, and "*" matches no prerelease. Upper
 * bounds implied by an operator exclude the bound's own prereleases
 * (^1.2.3 does not admit 2.0.0-rc.1 even next to ">=2.0.0-alpha"). */
#ifndef ASSAY_CORE_SEMVER_H
#define ASSAY_CORE_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted version string, build metadata included; the
 * prerelease is always shorter, so `pre` cannot truncate. */
#define ASSAY_SEMVER_MAX_LEN 63
/* Comparators (blank-separated tokens) allowed in one range. */
#define ASSAY_SEMVER_RANGE_MAX 16

typedef struct {
    uint32_t major, minor, patch;
    char pre[64]; /* prerelease without the '-', "" for a release */
} assay_semver;

typedef struct assay_semver_range assay_semver_range;

/* Parses a full MAJOR.MINOR.PATCH[-PRE][+BUILD] string; build metadata is
 * checked and dropped. Returns 0 or ASSAY_EINVAL (out untouched). */
int assay_semver_parse(const char *s, assay_semver *out);

/* Precedence per semver section 11: <0, 0 or >0 (-1, 0, 1). */
int assay_semver_cmp(const assay_semver *a, const assay_semver *b);

/* Parses a range into *out (free with assay_semver_range_destroy).
 * Returns 0, ASSAY_EINVAL (err names the offending token), ASSAY_ETOOBIG
 * (more than ASSAY_SEMVER_RANGE_MAX comparators) or ASSAY_ENOMEM. */
int assay_semver_range_parse(const char *s, assay_semver_range **out, char *err,
                             size_t errlen);

bool assay_semver_range_match(const assay_semver_range *r,
                              const assay_semver *v);

void assay_semver_range_destroy(assay_semver_range **r);

/* The one "highest version in a range" rule, for any list of candidates
 * (loaded plugins, a runtime's catalogue): offer each; true when `v` is
 * in `r` (NULL: any) and above every version kept so far, which it then
 * replaces. Start from a zeroed assay_semver_pick. */
typedef struct {
    assay_semver best;
    bool found;
} assay_semver_pick;
bool assay_semver_pick_offer(assay_semver_pick *pick,
                             const assay_semver_range *r,
                             const assay_semver *v);

/* Adds `version` to `list`, a ", "-separated list of versions for a message
 * that says what exists ("installed: 1.2.0, 1.4.1"). The list stays in
 * ascending precedence with each version once, whatever order the versions
 * are found in (load order, or many runtimes offering the same one). A
 * string that is not a version is ignored; a version that does not fit in
 * `len` is left out and the list ends in ", ..." (len >= 6). */
void assay_semver_list_add(char *list, size_t len, const char *version);

#endif
