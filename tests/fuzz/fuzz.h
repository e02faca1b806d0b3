/* tests/fuzz/fuzz.h - the libFuzzer entry point every fuzz_*.c defines; the
 * same sources link either with libFuzzer (-fsanitize=fuzzer) or with
 * replay.c, which feeds them the checked-in corpus as a plain test. */
#ifndef ASSAY_FUZZ_H
#define ASSAY_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input; returns 0. A finding is a crash, a sanitizer report or a
 * leak, never a return value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
