/* Safe extraction, driven through the extract_run helper, on archives built by
 * tests/tools/make_archives.py with Python's tarfile and zipfile (the 7z one
 * through libarchive's writer; RAR cannot be written with free tools, so RAR
 * reading, which libarchive provides, is not tested here). Benign archives
 * must reproduce the source tree byte for byte (diff -r) with the digests
 * Python's hashlib computed; hostile ones must be refused with the archive and
 * the entry named, leaving the whole test directory exactly as it was. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "tests/cli/run.h"

typedef struct arena {
    char dir[64];      /* archives, tree/, benign.sha256, work/ (dest's parent) */
    char dest[96];     /* dir/work/dest */
    char helper[512];
} arena;

/* Builds the named archives (a space-separated list) in a fresh directory. */
static void arena_make(arena *a, const char *names)
{
    const char *src = getenv("BIQA_SRC"), *py = getenv("BIQA_PYTHON"),
               *helpers = getenv("BIQA_HELPERS");
    cr_assert(src && py && helpers,
              "BIQA_SRC, BIQA_PYTHON and BIQA_HELPERS must be set (make test)");
    snprintf(a->helper, sizeof a->helper, "%s/extract_run", helpers);
    cli_tmpdir(a->dir);
    snprintf(a->dest, sizeof a->dest, "%s/work/dest", a->dir);
    cli_result r;
    cli_run(&r, "%s %s/tests/tools/make_archives.py %s %s && mkdir %s/work && "
            "echo canary > %s/work/canary", py, src, a->dir, names, a->dir, a->dir);
    cr_assert_eq(r.status, 0, "make_archives.py failed: %s", r.err);
    cli_result_free(&r);
}

/* Every path under the arena with its type and size (the listing that must
 * not change when an extraction is refused). */
static char *snapshot(const arena *a)
{
    cli_result r;
    cli_run(&r, "cd %s && find . -printf '%%p %%y %%s\\n' | LC_ALL=C sort", a->dir);
    cr_assert_eq(r.status, 0);
    free(r.err);
    return r.out;
}

/* Extracting `archive` with `opts` must fail, naming the archive, the text
 * `why` (entry and reason), and leave no trace at all. */
static void refused(const arena *a, const char *archive, const char *opts, const char *why)
{
    char *before = snapshot(a);
    cli_result r;
    cli_run(&r, "%s %s/%s %s %s", a->helper, a->dir, archive, a->dest, opts);
    cr_assert_eq(r.status, 1, "%s was not refused: %s%s", archive, r.out, r.err);
    cr_assert_eq(cli_count_lines(r.err), 1, "%s", r.err);
    cr_assert(strstr(r.err, archive), "the error does not name %s: %s", archive, r.err);
    cr_assert(strstr(r.err, why), "%s: expected \"%s\" in: %s", archive, why, r.err);
    char *after = snapshot(a);
    cr_assert_str_eq(after, before, "%s left something behind or outside", archive);
    free(before);
    free(after);
    cli_result_free(&r);
}

static void extracts_like_python(const arena *a, const char *archive)
{
    cli_result r;
    cli_run(&r, "rm -rf %s && %s %s/%s %s --list %s/got.sha256 && cmp %s/got.sha256 "
            "%s/benign.sha256 && diff -r %s/tree %s", a->dest, a->helper, a->dir, archive,
            a->dest, a->dir, a->dir, a->dir, a->dir, a->dest);
    cr_assert_eq(r.status, 0, "%s: extraction differs from the tree or from hashlib's "
                 "digests:\n%s%s", archive, r.out, r.err);
    cr_log_info("%s: %s", archive, r.err);
    cli_result_free(&r);
}

Test(extract, benign_archives_match_the_tree_and_hashlib, .timeout = 120)
{
    arena a;
    arena_make(&a, "benign.tar benign.tgz benign.tar.bz2 benign.tar.xz benign.zip "
                   "benign_stored.zip");
    const char *names[] = {"benign.tar", "benign.tgz", "benign.tar.bz2", "benign.tar.xz",
                           "benign.zip", "benign_stored.zip"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        extracts_like_python(&a, names[i]);

    /* 7z: written by libarchive from the same tree, read back the same way. */
    cli_result r;
    cli_run(&r, "cd %s/tree && { find . -type f | sed 's|^\\./||'; echo emptydir/; } | "
            "tr '\\n' '\\0' | xargs -0 %s pack-7z %s/benign.7z .", a.dir, a.helper, a.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    extracts_like_python(&a, "benign.7z");
    cli_rmdir(a.dir);
}

Test(extract, truncated_or_corrupt_archive_is_refused, .timeout = 60)
{
    arena a;
    arena_make(&a, "truncated.tgz corrupt.zip");
    refused(&a, "truncated.tgz", "", "truncated or corrupt archive");
    refused(&a, "corrupt.zip", "", "entry 'images/img_002.bmp': truncated or corrupt archive");
    cli_rmdir(a.dir);
}

Test(extract, paths_leaving_the_destination_are_refused, .timeout = 60)
{
    arena a;
    arena_make(&a, "dotdot.tar dotdot.zip abs.tar");
    refused(&a, "dotdot.tar", "", "entry 'sub/../../x': refused: '..' in its path");
    refused(&a, "dotdot.zip", "", "entry '../x': refused: '..' in its path");
    refused(&a, "abs.tar", "", "/escaped_abs': refused: absolute path");
    cli_rmdir(a.dir);
}

Test(extract, links_are_refused, .timeout = 60)
{
    arena a;
    arena_make(&a, "symlink.tar symlink.zip hardlink.tar");
    refused(&a, "symlink.tar", "", "entry 'evil': refused: a symbolic link");
    refused(&a, "symlink.zip", "", "entry 'evil': refused: a symbolic link (to '../..')");
    refused(&a, "hardlink.tar", "", "entry 'hl': refused: a hard link (to '../../escaped_hard')");
    cli_rmdir(a.dir);
}

Test(extract, devices_and_duplicates_are_refused, .timeout = 60)
{
    arena a;
    arena_make(&a, "device.tar duplicate.tar");
    refused(&a, "device.tar", "", "entry 'null': refused: a character device");
    refused(&a, "duplicate.tar", "", "entry 'ok.txt': ");
    refused(&a, "duplicate.tar", "", "/work/dest/ok.txt already exists");
    cli_rmdir(a.dir);
}

Test(extract, entry_cap, .timeout = 60)
{
    arena a;
    arena_make(&a, "many.tar");
    refused(&a, "many.tar", "--max-entries 10", "more than the cap of 10 entries");
    cli_result r;
    cli_run(&r, "%s %s/many.tar %s --max-entries 60", a.helper, a.dir, a.dest);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(cli_count_lines(r.out), 51, "50 files and ok.txt expected: %s", r.out);
    cli_result_free(&r);
    cli_rmdir(a.dir);
}

/* 1 GiB of zeros in about 1 MB, honest and lying about its size: each is
 * stopped before more than one copy block (256 KiB) is written. */
Test(extract, compression_bombs_are_refused, .timeout = 120)
{
    arena a;
    arena_make(&a, "bomb.tar.gz bomb.zip liar.zip");
    refused(&a, "bomb.tar.gz", "", "entry 'zeros.bin': declares 1073741824 bytes from a");
    refused(&a, "bomb.tar.gz", "", "over the compression ratio cap of 200");
    refused(&a, "bomb.zip", "", "over the compression ratio cap of 200");
    refused(&a, "bomb.zip", "--max-ratio 5000 --max-total 67108864",
            "declares 1073741824 bytes in all, over the cap of 67108864");
    /* The liar declares 1 KiB: the caps are checked on the bytes as they stream. */
    refused(&a, "liar.zip", "", "entry 'zeros.bin': more data than its declared 1024 bytes");
    refused(&a, "liar.zip", "--max-total 100000",
            "expands to 262144 bytes in all, over the cap of 100000");
    refused(&a, "liar.zip", "--max-ratio 0.1", "over the compression ratio cap of 0.1");
    cli_rmdir(a.dir);
}

/* A destination that exists already keeps what it held, whatever happens. */
Test(extract, existing_destination_keeps_its_files, .timeout = 60)
{
    arena a;
    arena_make(&a, "many.tar dotdot.tar");
    cr_assert_eq(mkdir(a.dest, 0755), 0);
    char mine[128], ok[128];
    snprintf(mine, sizeof mine, "%s/mine.txt", a.dest);
    snprintf(ok, sizeof ok, "%s/ok.txt", a.dest);
    cli_write(mine, "the user's own file\n");
    refused(&a, "dotdot.tar", "", "'..' in its path");
    cli_write(ok, "the user's ok.txt\n");
    refused(&a, "many.tar", "", "/work/dest/ok.txt already exists");
    char *text;
    size_t len;
    cr_assert_eq(biqa_read_file(ok, &text, &len, NULL), 0);
    cr_assert_str_eq(text, "the user's ok.txt\n");
    free(text);
    cli_rmdir(a.dir);
}
