/* biqa_fetch_file at the API level over file:// URLs (libcurl reads them with
 * the same code path, Range included), also under ASan+UBSan. The faults of
 * a real server are in tests/cli/test_fetch.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/log.h"
#include "datasets/fetch.h"

enum { N = 200000 };
static char dir[64], src_url[128], missing_url[128], dl[96];
static unsigned char data[N];
static char sha[65];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-fetch-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < N; i++)
        data[i] = (unsigned char)((unsigned)i * 2246822519u >> 11);
    biqa_sha256_hex(data, N, sha);
    char path[128];
    snprintf(path, sizeof path, "%s/src.bin", dir);
    cr_assert_eq(biqa_write_file_atomic(path, data, N, NULL), 0);
    snprintf(src_url, sizeof src_url, "file://%s/src.bin", dir);
    snprintf(missing_url, sizeof missing_url, "file://%s/missing.bin", dir);
    snprintf(dl, sizeof dl, "%s/dl", dir);
    biqa_log_set_level(BIQA_LOG_QUIET);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static biqa_fetch_options quick(void)
{
    biqa_fetch_options o;
    biqa_fetch_options_default(&o);
    o.retries = 1;
    o.backoff_s = 0.01;
    o.progress = 0;
    return o;
}

static int exists(const char *rel)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dl, rel);
    struct stat st;
    return stat(path, &st) == 0;
}

TestSuite(unit_fetch, .init = setup, .fini = teardown);

Test(unit_fetch, fetches_verifies_and_then_skips)
{
    biqa_fetch_source s = {src_url, "f.bin", N, sha};
    biqa_fetch_options o = quick();
    char got[65];
    const char *used = NULL;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, &used, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, sha);
    cr_assert_str_eq(used, src_url);
    char path[160], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/f.bin", dl);
    cr_assert_eq(biqa_read_file(path, &text, &len, NULL), 0);
    cr_assert_eq(len, (size_t)N);
    cr_assert_eq(memcmp(text, data, N), 0);
    free(text);
    cr_assert(!exists("f.bin.part"));
    /* Present and verifying: not fetched again, even offline. */
    o.offline = 1;
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, &used, &err), 0, "%s", err.msg);
    cr_assert_null(used);
}

Test(unit_fetch, wrong_digest_or_size_leaves_nothing)
{
    char bad[65];
    memset(bad, 'a', 64);
    bad[64] = '\0';
    biqa_fetch_source s = {src_url, "f.bin", -1, bad};
    biqa_fetch_options o = quick();
    char got[65];
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), -1);
    cr_assert(strstr(err.msg, "expected aaaa") && strstr(err.msg, src_url), "%s", err.msg);
    cr_assert(!exists("f.bin") && !exists("f.bin.part"));
    s = (biqa_fetch_source){src_url, "f.bin", N + 1, NULL};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), -1);
    cr_assert(strstr(err.msg, "200000 bytes, expected 200001"), "%s", err.msg);
    cr_assert(!exists("f.bin") && !exists("f.bin.part"));
}

Test(unit_fetch, unknown_digest_is_reported)
{
    biqa_fetch_source s = {src_url, "f.bin", -1, NULL};
    biqa_fetch_options o = quick();
    char got[65];
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, sha);
}

Test(unit_fetch, missing_source_then_mirror)
{
    biqa_fetch_source s[2] = {{missing_url, "f.bin", N, sha}, {src_url, "f.bin", N, sha}};
    biqa_fetch_options o = quick();
    char got[65];
    const char *used = NULL;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(s, 2, dl, &o, got, &used, &err), 0, "%s", err.msg);
    cr_assert_str_eq(used, src_url);
    cr_assert_eq(biqa_fetch_file(s, 1, dl, &o, got, &used, &err), 0, "present: %s", err.msg);
    biqa_fetch_source only_missing = {missing_url, "g.bin", N, sha};
    cr_assert_eq(biqa_fetch_file(&only_missing, 1, dl, &o, got, &used, &err), -1);
    cr_assert(strstr(err.msg, "fetching g.bin failed: ") && strstr(err.msg, missing_url), "%s",
              err.msg);
}

/* A .part holding the first bytes is resumed (a Range read of the file). */
Test(unit_fetch, resumes_a_partial_file)
{
    char part[160];
    cr_assert_eq(biqa_mkdir_p(dl, NULL), 0);
    snprintf(part, sizeof part, "%s/f.bin.part", dl);
    cr_assert_eq(biqa_write_file_atomic(part, data, N / 3, NULL), 0);
    biqa_fetch_source s = {src_url, "f.bin", N, sha};
    biqa_fetch_options o = quick();
    char got[65];
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, sha);
    cr_assert(!exists("f.bin.part"));
}

Test(unit_fetch, offline_without_the_file_fails)
{
    biqa_fetch_source s = {src_url, "f.bin", N, sha};
    biqa_fetch_options o = quick();
    o.offline = 1;
    char got[65];
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), -1);
    char want[160];
    snprintf(want, sizeof want, "%s/f.bin: not present, and offline mode forbids downloading it",
             dl);
    cr_assert_str_eq(err.msg, want);
}

Test(unit_fetch, bad_arguments_are_named)
{
    biqa_fetch_options o = quick();
    char got[65];
    biqa_error err = {{0}};
    biqa_fetch_source s = {src_url, "../f.bin", N, sha};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), -1);
    cr_assert(strstr(err.msg, "file name '../f.bin' must be one plain name"), "%s", err.msg);
    s = (biqa_fetch_source){src_url, "f.bin", N, "abc"};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), -1);
    cr_assert(strstr(err.msg, "sha256 'abc' is not 64 hex digits"), "%s", err.msg);
    biqa_fetch_source two[2] = {{src_url, "f.bin", N, sha}, {missing_url, "f.bin", N + 1, sha}};
    cr_assert_eq(biqa_fetch_file(two, 2, dl, &o, got, NULL, &err), -1);
    cr_assert(strstr(err.msg, "mirrors must describe the same file"), "%s", err.msg);
    cr_assert_eq(biqa_fetch_file(two, 0, dl, &o, got, NULL, &err), -1);
}

/* A .part of the full size whose bytes are wrong is started afresh from the
 * same source, not resumed past its end. */
Test(unit_fetch, complete_but_wrong_part_is_restarted)
{
    char part[160];
    cr_assert_eq(biqa_mkdir_p(dl, NULL), 0);
    snprintf(part, sizeof part, "%s/f.bin.part", dl);
    unsigned char *wrong = malloc(N);
    memcpy(wrong, data, N);
    wrong[N / 2] ^= 1;
    cr_assert_eq(biqa_write_file_atomic(part, wrong, N, NULL), 0);
    free(wrong);
    biqa_fetch_source s = {src_url, "f.bin", N, sha};
    biqa_fetch_options o = quick();
    o.retries = 0;
    char got[65];
    biqa_error err = {{0}};
    cr_assert_eq(biqa_fetch_file(&s, 1, dl, &o, got, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, sha);
}
