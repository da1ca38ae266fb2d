/* Verified, resumable download of one file from alternative mirrors (libcurl).
 *
 * Nothing is trusted before its size and SHA-256 are checked: bytes arrive in
 * dir/<file_name>.part and are renamed to dir/<file_name> only once they
 * verify, so a file under its final name is always complete. */
#ifndef BIQA_DATASETS_FETCH_H
#define BIQA_DATASETS_FETCH_H

#include <stdint.h>

#include "core/error.h"

typedef struct biqa_fetch_source {
    const char *url;       /* http(s)://, ftp(s):// or file:// */
    const char *file_name; /* name under dir; one plain name, no '/' */
    int64_t bytes;         /* < 0: unknown */
    const char *sha256;    /* 64 lowercase hex, or NULL when unknown */
} biqa_fetch_source;

typedef struct biqa_fetch_options {
    int offline;             /* no network: only a present, verifying file succeeds */
    int retries;             /* further attempts per source after the first */
    double backoff_s;        /* first wait before a retry, doubled each retry */
    long connect_timeout_s;  /* 0: libcurl's default */
    long low_speed_bytes;    /* abort an attempt slower than this many bytes/s ... */
    long low_speed_time_s;   /* ... for this many seconds (0: never) */
    int progress;            /* 1: progress bar on stderr when it is a TTY, plain
                                lines every few seconds otherwise */
} biqa_fetch_options;

/* retries 4, backoff 1 s, connect timeout 30 s, abort below 1 KiB/s for 60 s,
 * progress on. */
void biqa_fetch_options_default(biqa_fetch_options *o);

/* Fetches ONE file into dir/<file_name>. sources[0..n) are alternative mirrors
 * of the same file (the file name, size and digest of sources[0] are the ones
 * checked; the others' must agree), tried in order: the next source is used
 * after a 4xx answer, exhausted retries, or a wrong size/digest.
 *
 * Resume: bytes already in dir/<file_name>.part are kept and resumed with an
 * HTTP Range request after a dropped connection, by the same or the next
 * mirror, in this or a later call. A server that ignores Range and answers
 * 200 restarts the file from zero; a 416 answer means the .part already holds
 * the whole file (it is then verified) or is stale (it is then restarted).
 * Retries with exponential backoff on 5xx, timeouts and dropped connections.
 * A complete file whose size or digest is wrong is deleted, never resumed
 * from: its bytes are wrong somewhere, not missing at the end.
 *
 * If dir/<file_name> already exists and verifies, nothing is downloaded (and
 * a file that does not verify is replaced only by one that does). A source
 * whose sha256 is NULL is accepted with the computed digest reported to the
 * caller (who records it and passes it next time). With offline set there is
 * no network: success only if the file is already present and verifies, else
 * one error naming the file.
 *
 * Two processes fetching the same file do not collide: the .part is locked
 * while written, and the second caller fails at once naming it.
 *
 * Writes the hex digest to sha256_out (65 bytes) and, if used_url is not NULL,
 * the URL that delivered the file (sources[i].url; NULL when the file was
 * already present). Returns 0, or -1 with one error line naming the URL(s) and
 * the reason. */
int biqa_fetch_file(const biqa_fetch_source *sources, int n_sources, const char *dir,
                    const biqa_fetch_options *o, char sha256_out[65], const char **used_url,
                    biqa_error *err);

#endif
