/* The extraction library from the command line, for the tests:
 *
 *   extract_run ARCHIVE DEST [--max-total N] [--max-ratio R] [--max-entries N] [--list FILE]
 *       extracts ARCHIVE under DEST (default caps unless given) and prints the
 *       file list ("<sha256>  <path>" lines) or writes it to FILE
 *   extract_run pack-7z OUT ROOT REL...
 *       writes the files ROOT/REL into a 7z archive (a REL ending in '/' as a
 *       directory entry) through libarchive's writer: Python has no 7z writer */
#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "datasets/extract.h"

static int pack_7z(int argc, char **argv)
{
    setlocale(LC_CTYPE, "C.UTF-8"); /* 7z stores names as UTF-16, converted from UTF-8 */
    struct archive *a = archive_write_new();
    int rc = archive_write_set_format_7zip(a) == ARCHIVE_OK &&
             archive_write_open_filename(a, argv[2]) == ARCHIVE_OK ? 0 : 1;
    for (int i = 4; i < argc && rc == 0; i++) {
        size_t rl = strlen(argv[i]);
        if (rl && argv[i][rl - 1] == '/') { /* a directory entry */
            struct archive_entry *ae = archive_entry_new();
            archive_entry_set_pathname_utf8(ae, argv[i]);
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, 0755);
            if (archive_write_header(a, ae) != ARCHIVE_OK)
                rc = 1;
            archive_entry_free(ae);
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[3], argv[i]);
        char *data;
        size_t len;
        biqa_error e;
        if (biqa_read_file(path, &data, &len, &e) < 0) {
            fprintf(stderr, "extract_run: %s\n", e.msg);
            rc = 1;
            break;
        }
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname_utf8(ae, argv[i]);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, (la_int64_t)len);
        if (archive_write_header(a, ae) != ARCHIVE_OK)
            rc = 1;
        if (len && archive_write_data(a, data, len) != (la_ssize_t)len)
            rc = 1;
        archive_entry_free(ae);
        free(data);
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        rc = 1;
    if (rc)
        fprintf(stderr, "extract_run: %s: %s\n", argv[2], archive_error_string(a));
    archive_write_free(a);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "pack-7z") == 0)
        return pack_7z(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: extract_run ARCHIVE DEST [--max-total N] [--max-ratio R] "
                        "[--max-entries N] [--list FILE] | extract_run pack-7z OUT ROOT REL...\n");
        return 2;
    }
    biqa_extract_limits lim;
    biqa_extract_limits_default(&lim);
    const char *list_path = NULL;
    for (int i = 3; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "extract_run: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--max-total") == 0)
            lim.max_total_bytes = strtoll(v, NULL, 10);
        else if (strcmp(argv[i], "--max-ratio") == 0)
            lim.max_ratio = strtod(v, NULL);
        else if (strcmp(argv[i], "--max-entries") == 0)
            lim.max_entries = strtoll(v, NULL, 10);
        else if (strcmp(argv[i], "--list") == 0)
            list_path = v;
        else {
            fprintf(stderr, "extract_run: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    biqa_extract_list l;
    biqa_error e;
    if (biqa_extract(argv[1], argv[2], &lim, &l, &e) < 0) {
        fprintf(stderr, "extract_run: %s\n", e.msg);
        return 1;
    }
    int rc = 0;
    if (list_path) {
        if (biqa_extract_list_write(&l, list_path, &e) < 0) {
            fprintf(stderr, "extract_run: %s\n", e.msg);
            rc = 1;
        }
    } else {
        for (size_t i = 0; i < l.n; i++)
            printf("%s  %s\n", l.files[i].sha256, l.files[i].path);
    }
    fprintf(stderr, "extract_run: %zu files, %lld bytes\n", l.n, (long long)l.total_bytes);
    biqa_extract_list_free(&l);
    return rc;
}
