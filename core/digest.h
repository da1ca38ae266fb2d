/* SHA-256 (OpenSSL EVP) as lowercase hex, and the canonical JSON form that
 * config hashes are taken over. */
#ifndef BIQA_CORE_DIGEST_H
#define BIQA_CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BIQA_SHA256_HEX_LEN 65 /* 64 hex digits and the NUL */

void biqa_sha256_hex(const void *data, size_t len, char out[BIQA_SHA256_HEX_LEN]);
/* SHA-256 of a file's bytes, and its size (bytes may be NULL). */
int biqa_sha256_file(const char *path, char hex[BIQA_SHA256_HEX_LEN], int64_t *bytes,
                     biqa_error *err);

/* Canonical JSON: object keys sorted (byte order) at every depth, no
 * whitespace, cJSON's number printing. Two configs that mean the same thing
 * get the same text and hence the same hash. Returns malloc'd text. */
char *biqa_json_canonical(const char *json, biqa_error *err);

#endif
