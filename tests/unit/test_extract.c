/* Extraction and the lock file at the API level (also run under ASan+UBSan):
 * archives written here with libarchive's writer, hostile ones included. The
 * CLI tests (tests/cli/test_extract_cli.c) cover archives made by Python. */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/file.h"
#include "datasets/extract.h"
#include "datasets/lock.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-extract-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

typedef struct member {
    const char *name;
    mode_t type;          /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFIFO */
    const void *data;
    size_t len;
    const char *link;     /* symlink target, or hardlink target with type 0 */
} member;

static void write_archive(const char *path, int gzip, const member *m, int n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        if (m[i].type == 0) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, m[i].link);
        } else {
            archive_entry_set_filetype(e, m[i].type);
        }
        archive_entry_set_perm(e, m[i].type == AE_IFDIR ? 0755 : 0644);
        if (m[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, m[i].link);
        archive_entry_set_size(e, m[i].type == AE_IFREG ? (la_int64_t)m[i].len : 0);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
        if (m[i].type == AE_IFREG && m[i].len)
            cr_assert_eq(archive_write_data(a, m[i].data, m[i].len), (la_ssize_t)m[i].len);
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

TestSuite(unit_extract, .init = setup, .fini = teardown);

Test(unit_extract, files_listed_sorted_with_their_digests)
{
    size_t big_len = 700000; /* several copy blocks */
    unsigned char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    const char *b_txt = "bee\n";
    member m[] = {{"./b.txt", AE_IFREG, b_txt, 4, NULL},
                  {"a/", AE_IFDIR, NULL, 0, NULL},
                  {"a//z.bin", AE_IFREG, big, big_len, NULL},
                  {"a/empty", AE_IFREG, "", 0, NULL}};
    char arc[128], dest[128];
    snprintf(arc, sizeof arc, "%s/ok.tar.gz", dir);
    snprintf(dest, sizeof dest, "%s/out/dest", dir);
    write_archive(arc, 1, m, 4);
    biqa_extract_limits lim;
    biqa_extract_limits_default(&lim);
    biqa_extract_list l;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_extract(arc, dest, &lim, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.files[0].path, "a/empty");
    cr_assert_str_eq(l.files[1].path, "a/z.bin");
    cr_assert_str_eq(l.files[2].path, "b.txt");
    cr_assert_eq(l.files[1].bytes, (int64_t)big_len);
    cr_assert_eq(l.total_bytes, (int64_t)big_len + 4);
    char want[65];
    biqa_sha256_hex(big, big_len, want);
    cr_assert_str_eq(l.files[1].sha256, want);
    biqa_sha256_hex("", 0, want);
    cr_assert_str_eq(l.files[0].sha256, want);

    char path[160], *got;
    size_t len;
    snprintf(path, sizeof path, "%s/a/z.bin", dest);
    cr_assert_eq(biqa_read_file(path, &got, &len, NULL), 0);
    cr_assert_eq(len, big_len);
    cr_assert_eq(memcmp(got, big, big_len), 0);
    free(got);

    snprintf(path, sizeof path, "%s/digests.sha256", dir);
    cr_assert_eq(biqa_extract_list_write(&l, path, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_read_file(path, &got, &len, NULL), 0);
    char line[128];
    biqa_sha256_hex(b_txt, 4, want);
    snprintf(line, sizeof line, "%s  b.txt\n", want);
    cr_assert_eq(strncmp(got + len - strlen(line), line, strlen(line)), 0, "%s", got);
    cr_assert_eq(len, 3 * 64 + 3 * 2 + strlen("a/empty\na/z.bin\nb.txt\n"));
    free(got);
    biqa_extract_list_free(&l);
    free(big);
}

/* Each hostile archive: refused naming the entry, and the destination's
 * parents, which this call created, are gone again. */
Test(unit_extract, refusals_leave_nothing_behind)
{
    struct {
        member bad;
        const char *why;
    } cases[] = {
        {{"../up.txt", AE_IFREG, "x", 1, NULL}, "entry '../up.txt': refused: '..'"},
        {{"d/../../up.txt", AE_IFREG, "x", 1, NULL}, "'..' in its path"},
        {{"/abs.txt", AE_IFREG, "x", 1, NULL}, "entry '/abs.txt': refused: absolute path"},
        {{"ln", AE_IFLNK, NULL, 0, "/etc"}, "entry 'ln': refused: a symbolic link (to '/etc')"},
        {{"hl", 0, NULL, 0, "ok.txt"}, "entry 'hl': refused: a hard link (to 'ok.txt')"},
        {{"fifo", AE_IFIFO, NULL, 0, NULL}, "entry 'fifo': refused: a FIFO"},
        {{"d/ok.txt", AE_IFREG, "again", 5, NULL}, "already exists"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        member m[] = {{"d/", AE_IFDIR, NULL, 0, NULL},
                      {"d/ok.txt", AE_IFREG, "ok\n", 3, NULL},
                      {"e/f/g.txt", AE_IFREG, "g\n", 2, NULL},
                      cases[i].bad};
        char arc[128], top[128], dest[160];
        snprintf(arc, sizeof arc, "%s/bad%zu.tar", dir, i);
        snprintf(top, sizeof top, "%s/new", dir);
        snprintf(dest, sizeof dest, "%s/new/dest", dir);
        write_archive(arc, 0, m, 4);
        biqa_extract_limits lim;
        biqa_extract_limits_default(&lim);
        biqa_extract_list l;
        biqa_error err = {{0}};
        cr_assert_eq(biqa_extract(arc, dest, &lim, &l, &err), -1, "case %zu extracted", i);
        cr_assert(strstr(err.msg, cases[i].why) && strstr(err.msg, arc), "case %zu: %s", i,
                  err.msg);
        cr_assert_eq(l.n, 0);
        cr_assert(!exists(top), "case %zu: %s left behind", i, top);
    }
}

Test(unit_extract, bomb_stopped_by_the_ratio_cap)
{
    size_t n = 8 << 20;
    char *zeros = calloc(n, 1);
    member m[] = {{"zeros.bin", AE_IFREG, zeros, n, NULL}};
    char arc[128], dest[128];
    snprintf(arc, sizeof arc, "%s/bomb.tar.gz", dir);
    snprintf(dest, sizeof dest, "%s/dest", dir);
    write_archive(arc, 1, m, 1);
    free(zeros);
    biqa_extract_limits lim;
    biqa_extract_limits_default(&lim);
    lim.max_ratio = 10;
    biqa_extract_list l;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_extract(arc, dest, &lim, &l, &err), -1);
    cr_assert(strstr(err.msg, "over the compression ratio cap of 10"), "%s", err.msg);
    cr_assert(!exists(dest));
    lim.max_ratio = 200;
    lim.max_total_bytes = 1 << 20;
    cr_assert_eq(biqa_extract(arc, dest, &lim, &l, &err), -1);
    cr_assert(strstr(err.msg, "over the cap of 1048576"), "%s", err.msg);
    cr_assert(!exists(dest));
}

Test(unit_extract, not_an_archive)
{
    char arc[128], dest[128];
    snprintf(arc, sizeof arc, "%s/labels.csv", dir);
    snprintf(dest, sizeof dest, "%s/dest", dir);
    const char *text = "image,mos\na.jpg,3.5\n";
    cr_assert_eq(biqa_write_file_atomic(arc, text, strlen(text), NULL), 0);
    biqa_extract_limits lim;
    biqa_extract_limits_default(&lim);
    biqa_extract_list l;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_extract(arc, dest, &lim, &l, &err), -1);
    cr_assert(strstr(err.msg, arc), "%s", err.msg);
    cr_assert(!exists(dest));
    snprintf(arc, sizeof arc, "%s/absent.tar", dir);
    cr_assert_eq(biqa_extract(arc, dest, &lim, &l, &err), -1);
    cr_assert(strstr(err.msg, "absent.tar: No such file"), "%s", err.msg);
}

TestSuite(unit_lock, .init = setup, .fini = teardown);

Test(unit_lock, second_holder_is_refused_with_the_pid)
{
    char path[128];
    snprintf(path, sizeof path, "%s/x.lock", dir);
    int fd, fd2;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_lock_acquire(path, 0, &fd, &err), 0, "%s", err.msg);
    /* flock conflicts between open file descriptions, even in one process. */
    cr_assert_eq(biqa_lock_acquire(path, 0, &fd2, &err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s: locked by another process (pid %ld)", path, (long)getpid());
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(fd2, -1);
    biqa_lock_release(fd);
    cr_assert_eq(biqa_lock_acquire(path, 1, &fd2, &err), 0, "%s", err.msg);
    biqa_lock_release(fd2);
    snprintf(path, sizeof path, "%s/no/such/dir/x.lock", dir);
    cr_assert_eq(biqa_lock_acquire(path, 0, &fd, &err), -1);
    cr_assert(strstr(err.msg, "x.lock: cannot open lock file"), "%s", err.msg);
}
