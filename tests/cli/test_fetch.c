/* The verified, resumable download against a loopback HTTP server that
 * injects faults (tests/tools/fault_server.py, started per test on an
 * ephemeral port and stopped at its end), driven through the fetch_run helper.
 * Expected digests come from coreutils' sha256sum; what the server saw (each
 * request's Range header and the status it answered) from its JSON log. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "tests/cli/run.h"

enum { DATA_BYTES = 300000 };

typedef struct server {
    char dir[64];     /* www/ (served), dl/ (download target), port, log */
    pid_t pid;
    char url[96];     /* http://127.0.0.1:PORT */
    char sha[65];     /* of www/data.bin */
    char fetch[512];  /* the fetch_run helper */
} server;

static void path_in(const server *s, const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", s->dir, rel);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void sha256sum(const char *path, char out[65])
{
    cli_result r;
    cli_run(&r, "sha256sum '%s'", path);
    cr_assert_eq(r.status, 0, "sha256sum %s: %s", path, r.err);
    cr_assert_geq(strlen(r.out), 64);
    memcpy(out, r.out, 64);
    out[64] = '\0';
    cli_result_free(&r);
}

/* A child running argv with stdout and stderr to files; returns its pid. */
static pid_t spawn(char *const argv[], const char *out, const char *err)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void wait_for_file(const char *path, const char *what)
{
    for (int i = 0; i < 200 && !exists(path); i++)
        usleep(50000);
    cr_assert(exists(path), "%s did not appear within 10 s (%s)", path, what);
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void server_start(server *s)
{
    const char *src = getenv("BIQA_SRC"), *py = getenv("BIQA_PYTHON"),
               *helpers = getenv("BIQA_HELPERS");
    cr_assert(src && py && helpers,
              "BIQA_SRC, BIQA_PYTHON and BIQA_HELPERS must be set (make test)");
    snprintf(s->fetch, sizeof s->fetch, "%s/fetch_run", helpers);
    cli_tmpdir(s->dir);
    char www[128], dl[128], data[160], port[128], log[128], err[128], script[512];
    path_in(s, "www", www, sizeof www);
    path_in(s, "dl", dl, sizeof dl);
    cr_assert_eq(mkdir(www, 0755), 0);
    cr_assert_eq(mkdir(dl, 0755), 0);
    /* Incompressible, deterministic content (xorshift). */
    unsigned char *bytes = malloc(DATA_BYTES);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < DATA_BYTES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bytes[i] = (unsigned char)(x >> 32);
    }
    snprintf(data, sizeof data, "%s/data.bin", www);
    cr_assert_eq(biqa_write_file_atomic(data, bytes, DATA_BYTES, NULL), 0);
    free(bytes);
    sha256sum(data, s->sha);
    path_in(s, "port", port, sizeof port);
    path_in(s, "log", log, sizeof log);
    path_in(s, "server.err", err, sizeof err);
    snprintf(script, sizeof script, "%s/tests/tools/fault_server.py", src);
    char *argv[] = {(char *)py, script, www, port, log, "--lifetime", "60", NULL};
    s->pid = spawn(argv, "/dev/null", err);
    wait_for_file(port, "the fault server's port file");
    char *text;
    size_t len;
    cr_assert_eq(biqa_read_file(port, &text, &len, NULL), 0);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", atoi(text));
    free(text);
}

static void server_stop(server *s)
{
    stop(s->pid);
    cli_rmdir(s->dir);
}

/* Lines of the server's request log that contain every one of the needles. */
static int logged(const server *s, const char *a, const char *b)
{
    char path[128], *text;
    size_t len;
    path_in(s, "log", path, sizeof path);
    if (biqa_read_file(path, &text, &len, NULL) < 0)
        return 0;
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        n += strstr(line, a) && (!b || strstr(line, b));
    free(text);
    return n;
}

/* fetch_run get into dl/NAME with fast retries; opts and the URLs follow. */
#define FETCH(r, s, name, opts, ...)                                                          \
    cli_run(r, "%s get %s/dl %s --backoff 0.05 " opts, (s)->fetch, (s)->dir, name, __VA_ARGS__)

static void assert_fetched(const server *s, const cli_result *r, const char *name)
{
    cr_assert_eq(r->status, 0, "fetch failed: %s", r->err);
    char want[80], path[160], part[170], got[65];
    snprintf(want, sizeof want, "sha256 %s\n", s->sha);
    cr_assert(strstr(r->out, want), "reported %s, sha256sum says %s", r->out, s->sha);
    snprintf(path, sizeof path, "%s/dl/%s", s->dir, name);
    snprintf(part, sizeof part, "%s.part", path);
    sha256sum(path, got);
    cr_assert_str_eq(got, s->sha, "%s on disk differs from what was served", path);
    cr_assert(!exists(part), "%s left behind after success", part);
}

static void assert_nothing_left(const server *s, const char *name)
{
    char path[160], part[170];
    snprintf(path, sizeof path, "%s/dl/%s", s->dir, name);
    snprintf(part, sizeof part, "%s.part", path);
    cr_assert(!exists(path), "%s exists after a failed fetch", path);
    cr_assert(!exists(part), "%s left behind", part);
}

Test(fetch, resumes_with_range_after_a_dropped_connection, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s --bytes %d '%s/data.bin?drop=100000'", s.sha, DATA_BYTES,
          s.url);
    assert_fetched(&s, &r, "f");
    cr_assert_eq(logged(&s, "\"status\": \"dropped\"", NULL), 1, "the server never cut the body");
    cr_assert_eq(logged(&s, "\"range\": \"bytes=100000-\"", "\"status\": 206"), 1,
                 "no Range request resumed the download at byte 100000");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, retries_after_server_errors, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s --retries 3 '%s/data.bin?fail=2'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    cr_assert_eq(logged(&s, "fail=2", "\"status\": 500"), 2);
    cr_assert_eq(logged(&s, "fail=2", "\"status\": 200"), 1);
    cli_result_free(&r);

    /* Retries exhausted: one error line naming the URL and the reason. */
    FETCH(&r, &s, "g", "--sha256 %s --retries 1 '%s/data.bin?fail=9'", s.sha, s.url);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "data.bin?fail=9: HTTP 500"), "%s", r.err);
    cr_assert_eq(logged(&s, "fail=9", NULL), 2, "1 retry means 2 requests");
    assert_nothing_left(&s, "g");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, next_source_after_a_404, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s '%s/gone.bin' '%s/data.bin'", s.sha, s.url, s.url);
    assert_fetched(&s, &r, "f");
    char want[160];
    snprintf(want, sizeof want, "url %s/data.bin\n", s.url);
    cr_assert(strstr(r.out, want), "%s", r.out);
    cr_assert_eq(logged(&s, "/gone.bin", "\"status\": 404"), 1, "a 404 is not retried");
    cli_result_free(&r);

    /* Every source failing: all of them named in the one error line. */
    FETCH(&r, &s, "g", "--sha256 %s '%s/gone.bin' '%s/data.bin?404'", s.sha, s.url, s.url);
    cr_assert_eq(r.status, 1);
    const char *last = strstr(r.err, "fetch_run: ");
    cr_assert(last && !strchr(last, '\n')[1], "not one final error line: %s", r.err);
    cr_assert(strstr(last, "gone.bin: HTTP 404") && strstr(last, "data.bin?404: HTTP 404"),
              "%s", r.err);
    assert_nothing_left(&s, "g");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, wrong_digest_leaves_nothing, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
    FETCH(&r, &s, "f", "--sha256 %s --retries 0 '%s/data.bin'", zero, s.url);
    cr_assert_eq(r.status, 1);
    char want[200];
    snprintf(want, sizeof want, "SHA-256 %s, expected %s", s.sha, zero);
    cr_assert(strstr(r.err, want) && strstr(r.err, s.url), "%s", r.err);
    assert_nothing_left(&s, "f");
    cli_result_free(&r);

    /* Wrong size, digest unknown. */
    FETCH(&r, &s, "g", "--bytes 1000 '%s/data.bin'", s.url);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "more than the expected 1000 bytes"), "%s", r.err);
    assert_nothing_left(&s, "g");
    cli_result_free(&r);
    server_stop(&s);
}

/* A complete file with a wrong byte is deleted, never resumed from: the next
 * mirror is asked for the whole file, without a Range header. */
Test(fetch, corrupt_mirror_is_not_resumed_from, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s '%s/data.bin?corrupt' '%s/data.bin?mirror=2'", s.sha, s.url,
          s.url);
    assert_fetched(&s, &r, "f");
    cr_assert(strstr(r.err, "data.bin?corrupt: SHA-256"), "%s", r.err);
    cr_assert_eq(logged(&s, "mirror=2", "\"range\": null"), 1,
                 "the second mirror was asked to resume a corrupt file");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, server_ignoring_range_restarts_from_zero, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s '%s/data.bin?drop=100000,norange'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    cr_assert_eq(logged(&s, "\"range\": \"bytes=100000-\"", "\"status\": 200"), 1,
                 "the resume request was not answered with the whole file");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, slow_trickle_hits_the_low_speed_timeout, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s --retries 0 --low-speed 5000 1 '%s/data.bin?trickle=500'",
          s.sha, s.url);
    cr_assert_eq(r.status, 1);
    /* libcurl's low-speed abort; the whole trickle would take 600 s. */
    cr_assert(strstr(r.err, "too slow"), "%s", r.err);
    cli_result_free(&r);

    /* The partial bytes are kept, and resumed by the next (fast) mirror. */
    FETCH(&r, &s, "f", "--sha256 %s --retries 0 --low-speed 5000 1 '%s/data.bin?trickle=500' "
          "'%s/data.bin'", s.sha, s.url, s.url);
    assert_fetched(&s, &r, "f");
    cr_assert_eq(logged(&s, "\"query\": \"\"", "\"status\": 206"), 1,
                 "the fast mirror did not resume the trickled bytes");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, offline_uses_only_a_verified_local_file, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s --offline '%s/data.bin'", s.sha, s.url);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "dl/f: not present, and offline mode forbids"), "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(logged(&s, "data.bin", NULL), 0, "offline mode made a request");

    FETCH(&r, &s, "f", "--sha256 %s '%s/data.bin'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    cli_result_free(&r);
    FETCH(&r, &s, "f", "--sha256 %s --offline '%s/data.bin'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    cr_assert(strstr(r.out, "url -\n"), "%s", r.out);
    cli_result_free(&r);

    /* One flipped byte: offline refuses it, online replaces it. */
    char path[160];
    snprintf(path, sizeof path, "%s/dl/f", s.dir);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, 1234, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 1234, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    FETCH(&r, &s, "f", "--sha256 %s --offline '%s/data.bin'", s.sha, s.url);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "dl/f: does not verify (SHA-256"), "%s", r.err);
    cli_result_free(&r);
    FETCH(&r, &s, "f", "--sha256 %s '%s/data.bin'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    cr_assert_eq(logged(&s, "data.bin", NULL), 2, "expected one download, then one repair");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, present_file_is_not_downloaded_again, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s '%s/data.bin'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    cli_result_free(&r);
    FETCH(&r, &s, "f", "--sha256 %s --bytes %d '%s/data.bin'", s.sha, DATA_BYTES, s.url);
    assert_fetched(&s, &r, "f");
    cr_assert(strstr(r.out, "url -\n"), "%s", r.out);
    cr_assert_eq(logged(&s, "data.bin", NULL), 1);
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, unknown_digest_is_computed_and_reported, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "'%s/data.bin?redirect'", s.url);
    assert_fetched(&s, &r, "f");
    cr_assert_eq(logged(&s, "redirect", "\"status\": 302"), 1, "the redirect was not followed");
    cli_result_free(&r);
    server_stop(&s);
}

/* A .part that already holds the whole file (its fetch died before the
 * rename): with the size unknown the server's 416 says it is complete; with
 * the size known no request is needed at all. */
Test(fetch, complete_part_file_is_verified_not_refetched, .timeout = 60)
{
    server s;
    server_start(&s);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/www/data.bin %s/dl/f.part && cp %s/www/data.bin %s/dl/g.part",
             s.dir, s.dir, s.dir, s.dir);
    cr_assert_eq(system(cmd), 0);
    cli_result r;
    FETCH(&r, &s, "f", "--sha256 %s '%s/data.bin'", s.sha, s.url);
    assert_fetched(&s, &r, "f");
    char range[64];
    snprintf(range, sizeof range, "\"range\": \"bytes=%d-\"", DATA_BYTES);
    cr_assert_eq(logged(&s, range, "\"status\": 416"), 1);
    cli_result_free(&r);
    FETCH(&r, &s, "g", "--sha256 %s --bytes %d '%s/data.bin'", s.sha, DATA_BYTES, s.url);
    assert_fetched(&s, &r, "g");
    cr_assert_eq(logged(&s, "data.bin", NULL), 1, "a complete, verifying .part was fetched again");
    cli_result_free(&r);
    server_stop(&s);
}

Test(fetch, connection_refused_names_the_url, .timeout = 60)
{
    server s;
    server_start(&s);
    cli_result r;
    FETCH(&r, &s, "f", "--retries 1 '%s'", "http://127.0.0.1:1/data.bin");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "http://127.0.0.1:1/data.bin: ") && strstr(r.err, "connect"), "%s",
              r.err);
    assert_nothing_left(&s, "f");
    cli_result_free(&r);
    server_stop(&s);
}

/* Two fetches of one file: the second fails at once, naming the .part. */
Test(fetch, concurrent_fetch_of_one_file_is_refused, .timeout = 60)
{
    server s;
    server_start(&s);
    char dl[128], url[160], part[160], out[160], err[160];
    snprintf(dl, sizeof dl, "%s/dl", s.dir);
    snprintf(url, sizeof url, "%s/data.bin?trickle=20000", s.url);
    snprintf(part, sizeof part, "%s/dl/f.part", s.dir);
    snprintf(out, sizeof out, "%s/bg.out", s.dir);
    snprintf(err, sizeof err, "%s/bg.err", s.dir);
    char *argv[] = {s.fetch, "get", dl, "f", url, NULL};
    pid_t bg = spawn(argv, out, err);
    wait_for_file(part, "the first fetch's .part");
    cli_result r;
    FETCH(&r, &s, "f", "'%s/data.bin'", s.url);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "f.part: another process is downloading this file"), "%s", r.err);
    cli_result_free(&r);
    stop(bg);
    server_stop(&s);
}

Test(fetch, lock_held_by_another_process_names_its_pid, .timeout = 60)
{
    char dir[64], lock[96], out[96], err[96], helper[512];
    cli_tmpdir(dir);
    snprintf(lock, sizeof lock, "%s/dataset.lock", dir);
    snprintf(out, sizeof out, "%s/holder.out", dir);
    snprintf(err, sizeof err, "%s/holder.err", dir);
    snprintf(helper, sizeof helper, "%s/fetch_run", getenv("BIQA_HELPERS"));
    char *argv[] = {helper, "lock", lock, "--hold", "30", NULL};
    pid_t holder = spawn(argv, out, err);
    char *text = NULL;
    size_t len = 0;
    for (int i = 0; i < 200 && !(text && strstr(text, "locked")); i++) {
        free(text);
        text = NULL;
        usleep(50000);
        biqa_read_file(out, &text, &len, NULL);
    }
    cr_assert(text && strstr(text, "locked"), "the holder never took the lock");
    free(text);

    cli_result r;
    cli_run(&r, "%s lock %s", helper, lock);
    cr_assert_eq(r.status, 1);
    char want[160];
    snprintf(want, sizeof want, "dataset.lock: locked by another process (pid %ld)", (long)holder);
    cr_assert(strstr(r.err, want), "%s", r.err);
    cli_result_free(&r);

    /* The lock dies with its holder, even when it is killed. */
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    cli_run(&r, "%s lock %s", helper, lock);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}
