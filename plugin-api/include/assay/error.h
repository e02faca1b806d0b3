/* assay/error.h - error codes shared by the host and every module.
 *
 * Functions return 0 on success or a negative ASSAY_E* code. One X-macro
 * table generates the enum here and the strings in the host's
 * assay_strerror(); modules reach the strings through host->strerror. */
#ifndef ASSAY_ERROR_H
#define ASSAY_ERROR_H

#define ASSAY_ERRNO_MAP(X)                                                     \
    X(NOMEM, 1, "out of memory")                                               \
    X(INVAL, 2, "invalid argument")                                            \
    X(NOENT, 3, "no such entry")                                               \
    X(EXIST, 4, "already exists")                                              \
    X(IO, 5, "input/output error")                                             \
    X(PARSE, 6, "malformed input")                                             \
    X(TOOBIG, 7, "input too large")                                            \
    X(ABI, 8, "incompatible ABI")                                              \
    X(TYPE, 9, "wrong type")                                                   \
    X(RANGE, 10, "value out of range")                                         \
    X(TIMEOUT, 11, "timed out")                                                \
    X(CRASH, 12, "process died")                                               \
    X(PROTO, 13, "protocol error")                                             \
    X(UNSUPP, 14, "not supported")                                             \
    X(BUSY, 15, "resource busy")                                               \
    X(PERM, 16, "permission denied")                                           \
    X(CANCELLED, 17, "cancelled")                                              \
    X(NOTLEADER, 18, "not the leader")                                         \
    X(NOSPC, 19, "no space left on storage")                                   \
    X(CORRUPT, 20, "stored data is damaged")

enum {
#define ASSAY_ERR_ENUM_(name, num, text) ASSAY_E##name = -(num),
    ASSAY_ERRNO_MAP(ASSAY_ERR_ENUM_)
#undef ASSAY_ERR_ENUM_
};

/* Contextual error text (file, field, value) travels in caller-supplied
 * buffers of this size. */
#define ASSAY_ERRMSG_SIZE 256

#endif
