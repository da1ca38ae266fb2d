/* Safe extraction of a dataset archive (libarchive): only regular files and
 * directories, only under the destination, within size, ratio and entry caps,
 * and all or nothing. */
#ifndef BIQA_DATASETS_EXTRACT_H
#define BIQA_DATASETS_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct biqa_extract_limits {
    int64_t max_total_bytes; /* sum of extracted file sizes */
    double max_ratio;        /* extracted bytes / archive file bytes */
    int64_t max_entries;     /* archive entries of any kind */
} biqa_extract_limits;

/* Generous for real datasets: 64 GiB, ratio 200, 10^6 entries (FLIVE, the
 * largest, is ~40k images in ~12 GB of JPEGs: ratio about 1). */
void biqa_extract_limits_default(biqa_extract_limits *l);

typedef struct biqa_extracted_file {
    char *path; /* relative to dest, '/'-separated, no "." or ".." components */
    int64_t bytes;
    char sha256[65];
} biqa_extracted_file;

typedef struct biqa_extract_list {
    biqa_extracted_file *files;
    size_t n;
    int64_t total_bytes;
} biqa_extract_list;

/* Extracts every regular file and directory of `archive` (format and filter
 * detected by content: tar, gzip/bzip2/xz/zstd tar, zip, 7z, rar, whatever
 * libarchive reads) under dest, created if absent.
 *
 * Refused, with an error naming the archive and the entry: absolute paths,
 * any ".." component, symbolic and hard links of ANY target (policy: datasets
 * are plain images and label files, and a link that is harmless alone can be
 * written through by a later entry; refusing them all is simpler to audit
 * than resolving targets), device files, FIFOs and sockets, a file entry that
 * already exists under dest (a directory entry may name an existing
 * directory), total size over the cap, ratio over the cap (checked against
 * declared sizes before an entry is written and again while streaming its
 * bytes, so a bomb, even one whose header lies, is stopped before it fills
 * the disk), more entries than the cap, a truncated or corrupt archive.
 * Files are created with O_EXCL and directories are entered with O_NOFOLLOW
 * relative to dest, so no pre-existing link under dest is followed either.
 *
 * On ANY error every file and directory this call created (dest included, if
 * it created it) is removed. On success fills *out with the extracted files,
 * sorted by path (byte order), each with its size and SHA-256 computed while
 * writing. */
int biqa_extract(const char *archive, const char *dest, const biqa_extract_limits *lim,
                 biqa_extract_list *out, biqa_error *err);

void biqa_extract_list_free(biqa_extract_list *l);

/* Writes the list as "<sha256>  <path>\n" lines (sha256sum's format, as the
 * synthetic benchmark's digests.sha256), atomically. */
int biqa_extract_list_write(const biqa_extract_list *l, const char *path, biqa_error *err);

#endif
