/* core/base/codec.h - msgpack <-> JSON value conversion.
 *
 * Inside the core, structured values (params, results, JobSpecs) are jansson
 * trees; on the wire and on executor pipes they are msgpack. Decoding is
 * defensive: depth, element counts and string sizes are bounded, map keys
 * must be strings, and binary values become base64 strings (the JSON form
 * of ASSAY_TYPE_BYTES). */
#ifndef ASSAY_CORE_CODEC_H
#define ASSAY_CORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <msgpack.h>

#define ASSAY_CODEC_MAX_DEPTH 32
/* Values (map keys included) one message may hold when decoded into a
 * JSON tree: what a JobSpec of ASSAY_MAX_TARGETS targets of ten params
 * needs, with room. 1 MiB of empty maps (a million values) cost the loop
 * a second each. Log entries (assay_codec_unpack) are not bounded: they
 * were checked as messages, and must replay. */
#define ASSAY_CODEC_MAX_VALUES ((size_t)262144)

/* Chunk size of a zone kept to decode message after message: clearing a
 * zone keeps its first chunk, so whatever fits decodes without a malloc
 * (msgpack-c's 8 KiB default made a batch of results allocate on every
 * decode). */
#define ASSAY_CODEC_ZONE_CHUNK (256 * 1024)

/* Appends `value` to the packer. Returns 0 or ASSAY_EINVAL. */
int assay_codec_pack(msgpack_packer *pk, const json_t *value);

/* Appends bytes that already are msgpack (a value kept encoded). */
void assay_codec_pack_raw(msgpack_packer *pk, const void *bytes, size_t len);
/* A string (NULL: nil), and map entries with a string key (a NULL JSON
 * value, or one that cannot be packed, packs as nil). */
void assay_codec_pack_str(msgpack_packer *pk, const char *s);
void assay_codec_pack_kv_str(msgpack_packer *pk, const char *k,
                             const char *v);
void assay_codec_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v);
void assay_codec_pack_kv_bool(msgpack_packer *pk, const char *k, bool v);
void assay_codec_pack_kv_json(msgpack_packer *pk, const char *k,
                              const json_t *v);

/* Converts a msgpack object into a new JSON value (*out, caller decrefs). */
int assay_codec_to_json(const msgpack_object *obj, json_t **out, char *err,
                        size_t errlen);

/* Decodes exactly one msgpack value occupying all of buf[0..len) into
 * *out, whose parts live in `zone` until it is cleared, and checks it as
 * assay_codec_decode does (nesting, map keys of at most 255 bytes,
 * strings in UTF-8 without NUL, int64 integers, finite numbers): what
 * assay_codec_decode accepts, without a JSON tree. */
int assay_codec_unpack(const void *buf, size_t len, msgpack_zone *zone,
                       msgpack_object *out, char *err, size_t errlen);

/* Decodes exactly one msgpack value occupying all of buf[0..len), of at
 * most ASSAY_CODEC_MAX_VALUES values. */
int assay_codec_decode(const void *buf, size_t len, json_t **out, char *err,
                       size_t errlen);

/* Encodes value into a malloc'd buffer (*buf, caller frees). */
int assay_codec_encode(const json_t *value, char **buf, size_t *len);

#endif
