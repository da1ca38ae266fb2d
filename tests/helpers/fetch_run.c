/* The download library and the lock file from the command line, for the tests:
 *
 *   fetch_run get DIR NAME [--bytes N] [--sha256 HEX] [--offline] [--retries N]
 *             [--backoff S] [--connect-timeout S] [--low-speed BYTES SECONDS]
 *             [--progress] URL...
 *       fetches DIR/NAME from the URLs (mirrors, in order) and prints
 *       "sha256 HEX" and "url URL" ("url -" when the file was already there)
 *   fetch_run lock PATH [--wait] [--hold SECONDS]
 *       takes the lock, prints "locked PID", holds it SECONDS (default 0) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/fetch.h"
#include "datasets/lock.h"

static int lock_main(int argc, char **argv)
{
    int wait = 0;
    double hold = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--wait") == 0)
            wait = 1;
        else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
            hold = strtod(argv[++i], NULL);
        else {
            fprintf(stderr, "fetch_run: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int fd;
    biqa_error e;
    if (biqa_lock_acquire(argv[2], wait, &fd, &e) < 0) {
        fprintf(stderr, "fetch_run: %s\n", e.msg);
        return 1;
    }
    printf("locked %ld\n", (long)getpid());
    fflush(stdout);
    usleep((useconds_t)(hold * 1e6));
    biqa_lock_release(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "lock") == 0)
        return lock_main(argc, argv);
    if (argc < 5 || strcmp(argv[1], "get") != 0) {
        fprintf(stderr, "usage: fetch_run get DIR NAME [options] URL... | "
                        "fetch_run lock PATH [--wait] [--hold S]\n");
        return 2;
    }
    biqa_fetch_options o;
    biqa_fetch_options_default(&o);
    o.progress = 0;
    int64_t bytes = -1;
    const char *sha = NULL;
    biqa_fetch_source src[8];
    int n = 0;
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--offline") == 0)
            o.offline = 1;
        else if (strcmp(a, "--progress") == 0)
            o.progress = 1;
        else if (strncmp(a, "--", 2) == 0 && !v) {
            fprintf(stderr, "fetch_run: %s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--bytes") == 0)
            bytes = strtoll(argv[++i], NULL, 10);
        else if (strcmp(a, "--sha256") == 0)
            sha = argv[++i];
        else if (strcmp(a, "--retries") == 0)
            o.retries = atoi(argv[++i]);
        else if (strcmp(a, "--backoff") == 0)
            o.backoff_s = strtod(argv[++i], NULL);
        else if (strcmp(a, "--connect-timeout") == 0)
            o.connect_timeout_s = atol(argv[++i]);
        else if (strcmp(a, "--low-speed") == 0 && i + 2 < argc) {
            o.low_speed_bytes = atol(argv[++i]);
            o.low_speed_time_s = atol(argv[++i]);
        } else if (strncmp(a, "--", 2) == 0) {
            fprintf(stderr, "fetch_run: unknown option %s\n", a);
            return 2;
        } else if (n < 8) {
            src[n++] = (biqa_fetch_source){.url = a, .file_name = argv[3]};
        }
    }
    for (int i = 0; i < n; i++)
        src[i].bytes = bytes, src[i].sha256 = sha;
    char hex[65];
    const char *used;
    biqa_error e;
    if (biqa_fetch_file(src, n, argv[2], &o, hex, &used, &e) < 0) {
        fprintf(stderr, "fetch_run: %s\n", e.msg);
        return 1;
    }
    printf("sha256 %s\nurl %s\n", hex, used ? used : "-");
    return 0;
}
