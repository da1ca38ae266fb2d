#include "datasets/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"

void biqa_fetch_options_default(biqa_fetch_options *o)
{
    *o = (biqa_fetch_options){.offline = 0,
                              .retries = 4,
                              .backoff_s = 1.0,
                              .connect_timeout_s = 30,
                              .low_speed_bytes = 1024,
                              .low_speed_time_s = 60,
                              .progress = 1};
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec t = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

static void digest_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    if (copy && EVP_MD_CTX_copy_ex(copy, md) && EVP_DigestFinal_ex(copy, d, &n) && n == 32) {
        for (unsigned i = 0; i < n; i++)
            snprintf(out + 2 * i, 3, "%02x", d[i]);
    } else {
        out[0] = '\0'; /* compares unequal to every digest */
    }
    EVP_MD_CTX_free(copy);
}

/* Hashes fd's first `bytes` bytes into md (freshly initialised). */
static int hash_fd(int fd, int64_t bytes, EVP_MD_CTX *md, const char *path, biqa_error *err)
{
    if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        return biqa_fail(err, "%s: cannot initialise SHA-256", path);
    static const size_t chunk = 1 << 20;
    char *buf = malloc(chunk);
    if (!buf)
        return biqa_fail(err, "%s: out of memory", path);
    for (int64_t at = 0; at < bytes;) {
        size_t want = bytes - at < (int64_t)chunk ? (size_t)(bytes - at) : chunk;
        ssize_t got = pread(fd, buf, want, at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            free(buf);
            return biqa_fail(err, "%s: %s", path,
                             got < 0 ? strerror(errno) : "file shrank while read");
        }
        EVP_DigestUpdate(md, buf, (size_t)got);
        at += got;
    }
    free(buf);
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

typedef struct progress {
    int on, tty;
    const char *name;
    int64_t total;          /* the expected size; < 0: unknown */
    int64_t hint;           /* the size the server announced; < 0: none */
    int64_t base;           /* bytes in the .part when this call began */
    double t0, last;
    int drawn;              /* a bar is on screen (TTY) */
} progress;

static void human(double b, char *out, size_t n)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4)
        b /= 1024, u++;
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

/* Bytes, rate, ETA: redrawn in place on a TTY at most 5 times a second,
 * a plain line every 5 s otherwise (logs, CI). */
static void progress_show(progress *p, int64_t done, int final)
{
    if (!p->on)
        return;
    double t = now_s();
    if (!final && t - p->last < (p->tty ? 0.2 : 5.0))
        return;
    if (final && !p->drawn)
        return;
    p->last = t;
    int64_t total = p->total >= 0 ? p->total : p->hint;
    double rate = t > p->t0 ? (double)(done - p->base) / (t - p->t0) : 0;
    char d[32], tot[32] = "", r[32], eta[32] = "", bar[24] = "";
    human((double)done, d, sizeof d);
    human(rate, r, sizeof r);
    if (total > 0) {
        char h[24];
        human((double)total, h, sizeof h);
        snprintf(tot, sizeof tot, " / %s", h);
        long s = rate > 0 && total >= done ? (long)((double)(total - done) / rate) : -1;
        if (s >= 0)
            snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        double pct = 100.0 * (double)done / (double)total;
        int fill = (int)(pct / 5);
        bar[0] = '[';
        for (int i = 0; i < 20; i++)
            bar[1 + i] = i < fill ? '#' : '.';
        snprintf(bar + 21, sizeof bar - 21, "] ");
        snprintf(tot + strlen(tot), sizeof tot - strlen(tot), " (%.0f%%)", pct);
    }
    if (p->tty) {
        fprintf(stderr, "\r%s %s%s%s, %s/s%s\033[K%s", p->name, bar, d, tot, r, eta,
                final ? "\n" : "");
        p->drawn = !final;
    } else if (!final) {
        fprintf(stderr, "fetch %s: %s%s, %s/s%s\n", p->name, d, tot, r, eta);
    }
}

/* ---- one attempt ----------------------------------------------------------- */

typedef struct transfer {
    CURL *curl;
    int fd;                 /* the .part, locked */
    const char *part;       /* its path */
    EVP_MD_CTX *md;         /* SHA-256 of the .part's bytes [0, off) */
    int64_t off;
    int64_t expect;         /* < 0: unknown */
    int64_t asked_from;     /* the Range start this attempt asked for (0: none) */
    int64_t body_base;      /* where this answer's body starts in the file */
    int64_t range_start;    /* Content-Range of the final response; -1: none */
    int64_t range_total;
    int body_started, discard, too_long;
    int local_error;        /* problem is a local I/O failure: fatal */
    char problem[256];      /* why the body callback stopped the transfer */
    progress *prog;
} transfer;

static int64_t parse_i64(const char *s, const char **end)
{
    char *e;
    long long v = strtoll(s, &e, 10);
    *end = e;
    return e == s ? -1 : (int64_t)v;
}

/* Status lines reset what we know (a redirect's headers come first); only
 * Content-Range matters: "bytes START-END/TOTAL" or "bytes * /TOTAL" (416). */
static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    transfer *t = user;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        t->range_start = t->range_total = -1;
    } else if (len > 14 && strncasecmp(p, "content-range:", 14) == 0) {
        const char *s = p + 14, *e;
        while (*s == ' ')
            s++;
        if (strncasecmp(s, "bytes ", 6) == 0) {
            s += 6;
            if (*s == '*') {
                e = s + 1;
            } else {
                t->range_start = parse_i64(s, &e);
                if (*e == '-')
                    parse_i64(e + 1, &e);
            }
            if (*e == '/')
                t->range_total = parse_i64(e + 1, &e);
        }
    }
    return len;
}

static int restart_part(transfer *t)
{
    if (ftruncate(t->fd, 0) < 0 || !EVP_DigestInit_ex(t->md, EVP_sha256(), NULL)) {
        snprintf(t->problem, sizeof t->problem, "%s: cannot truncate: %s", t->part,
                 strerror(errno));
        t->local_error = 1;
        return -1;
    }
    t->off = 0;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    transfer *t = user;
    size_t len = size * n;
    if (!t->body_started) {
        t->body_started = 1;
        long code = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 300) {
            t->discard = 1; /* an error page, not the file */
        } else if (code == 206 && t->range_start != t->asked_from) {
            snprintf(t->problem, sizeof t->problem, "resumed at byte %lld, not at %lld",
                     (long long)t->range_start, (long long)t->asked_from);
            return 0;
        } else if (code == 200 && t->asked_from > 0) {
            /* Range ignored: the whole file follows, so start it afresh. */
            t->body_base = 0;
            if (restart_part(t) < 0)
                return 0;
        }
    }
    if (t->discard)
        return len;
    if (t->expect >= 0 && t->off + (int64_t)len > t->expect) {
        t->too_long = 1;
        return 0;
    }
    for (size_t at = 0; at < len;) {
        ssize_t w = pwrite(t->fd, p + at, len - at, t->off + (int64_t)at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(t->problem, sizeof t->problem, "%s: %s", t->part, strerror(errno));
            t->local_error = 1;
            return 0;
        }
        at += (size_t)w;
    }
    EVP_DigestUpdate(t->md, p, len);
    t->off += (int64_t)len;
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dlnow, (void)ultotal, (void)ulnow;
    transfer *t = user;
    if (dltotal > 0)
        t->prog->hint = t->body_base + (int64_t)dltotal;
    progress_show(t->prog, t->off, 0);
    return 0;
}

enum outcome {
    GOT_FILE,   /* the body is complete: verify it */
    RETRY,      /* transient: same source again after a wait */
    NEXT,       /* this source cannot deliver: the next one */
    FATAL       /* a local failure no source can fix */
};

/* curl results worth another try at the same source. */
static int transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static enum outcome attempt(transfer *t, const char *url, const biqa_fetch_options *o,
                            char *why, size_t why_n)
{
    CURL *c = t->curl;
    curl_easy_reset(c);
    char range[32];
    t->asked_from = t->body_base = t->off;
    t->range_start = t->range_total = -1;
    t->body_started = t->discard = t->too_long = t->local_error = 0;
    t->problem[0] = '\0';
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp,ftps");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "biqa (libcurl)");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (o->connect_timeout_s > 0)
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
    if (o->low_speed_time_s > 0 && o->low_speed_bytes > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
    }
    /* CURLOPT_RANGE rather than RESUME_FROM: libcurl fails a resume that the
     * server answers with 200, where we want to restart from zero instead. */
    if (t->off > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)t->off);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    int http = strncasecmp(url, "http", 4) == 0;

    if (t->problem[0]) {
        /* A local write failure is fatal; a wrong Content-Range is the server's. */
        snprintf(why, why_n, "%s", t->problem);
        return t->local_error ? FATAL : NEXT;
    }
    if (t->too_long) {
        /* The .part holds the first bytes of some other, longer file. */
        snprintf(why, why_n, "more than the expected %lld bytes", (long long)t->expect);
        return restart_part(t) < 0 ? FATAL : NEXT;
    }
    if (http && code >= 400) {
        if (code == 416 && t->range_total >= 0 && t->off == t->range_total)
            return GOT_FILE; /* the .part already holds the whole file */
        if (code == 416) {
            snprintf(why, why_n, "HTTP 416 for bytes %lld-: restarting from zero",
                     (long long)t->off);
            return restart_part(t) < 0 ? FATAL : RETRY;
        }
        snprintf(why, why_n, "HTTP %ld", code);
        return code >= 500 || code == 408 || code == 429 ? RETRY : NEXT;
    }
    if (rc != CURLE_OK) {
        snprintf(why, why_n, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
        return transient(rc) ? RETRY : NEXT;
    }
    if (http && code == 200 && t->asked_from > 0 && !t->body_started && restart_part(t) < 0) {
        snprintf(why, why_n, "%s", t->problem); /* an empty 200 answer to a Range request */
        return FATAL;
    }
    /* The transfer ended cleanly (libcurl reports a body shorter than its
     * Content-Length as CURLE_PARTIAL_FILE, retried above): this is the
     * source's whole file, right or wrong. */
    return GOT_FILE;
}

/* ---- the whole fetch --------------------------------------------------------- */

static int valid_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
            return 0;
    return 1;
}

static int check_sources(const biqa_fetch_source *s, int n, biqa_error *err)
{
    if (n < 1 || !s)
        return biqa_fail(err, "fetch: no source given");
    const char *name = s[0].file_name;
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return biqa_fail(err, "%s: file name '%s' must be one plain name", s[0].url,
                         name ? name : "(null)");
    for (int i = 0; i < n; i++) {
        if (!s[i].url || !*s[i].url)
            return biqa_fail(err, "%s: source %d has no URL", name, i + 1);
        if (s[i].sha256 && !valid_hex64(s[i].sha256))
            return biqa_fail(err, "%s: sha256 '%s' is not 64 hex digits", s[i].url, s[i].sha256);
        int same_digest = (!s[i].sha256 && !s[0].sha256) ||
                          (s[i].sha256 && s[0].sha256 && strcasecmp(s[i].sha256, s[0].sha256) == 0);
        if (!s[i].file_name || strcmp(s[i].file_name, name) != 0 || s[i].bytes != s[0].bytes ||
            !same_digest)
            return biqa_fail(err, "%s: its file name, size or sha256 differ from %s's: mirrors "
                             "must describe the same file", s[i].url, s[0].url);
    }
    return 0;
}

/* Checks the bytes [0, bytes) hashed in md against the source's size and
 * digest; writes the digest to hex. 0 when they verify, else -1 and why. */
static int verdict(const biqa_fetch_source *s, int64_t bytes, EVP_MD_CTX *md, char hex[65],
                   char *why, size_t why_n)
{
    if (s->bytes >= 0 && bytes != s->bytes) {
        snprintf(why, why_n, "%lld bytes, expected %lld", (long long)bytes, (long long)s->bytes);
        return -1;
    }
    digest_hex(md, hex);
    if (s->sha256 && strcasecmp(hex, s->sha256) != 0) {
        snprintf(why, why_n, "SHA-256 %s, expected %s", hex, s->sha256);
        return -1;
    }
    return 0;
}

/* The file under its final name: 1 when present and verifying, 0 when absent,
 * -1 when present but wrong (why says how), -2 on an error (err says which). */
static int check_present(const char *path, const biqa_fetch_source *s, char hex[65], char *why,
                         size_t why_n, biqa_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        biqa_fail(err, "%s: %s", path, strerror(e));
        return -2;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        biqa_fail(err, "%s: not a regular file", path);
        return -2;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -2;
    if (!md) {
        biqa_fail(err, "%s: out of memory", path);
    } else if (s->bytes >= 0 && st.st_size != s->bytes) {
        /* wrong size: no need to hash it */
        snprintf(why, why_n, "%lld bytes, expected %lld", (long long)st.st_size,
                 (long long)s->bytes);
        rc = -1;
    } else if (hash_fd(fd, st.st_size, md, path, err) == 0) {
        rc = verdict(s, st.st_size, md, hex, why, why_n) == 0 ? 1 : -1;
    }
    EVP_MD_CTX_free(md);
    close(fd);
    return rc;
}

static void append_reason(char *all, size_t n, const char *url, const char *why)
{
    size_t len = strlen(all);
    if (len < n)
        snprintf(all + len, n - len, "%s%s: %s", len ? "; " : "", url, why);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Downloads into part (resuming what it holds) and renames it to path once
 * it verifies. */
static int download(const biqa_fetch_source *sources, int n_sources, const char *dir,
                    const char *path, const char *part, const biqa_fetch_options *o,
                    char sha256_out[65], const char **used_url, biqa_error *err)
{
    const biqa_fetch_source *s = &sources[0];
    char why[512] = "", hex[65];
    int rc = -1;
    transfer t = {.fd = -1, .part = part, .expect = s->bytes};
    progress prog = {.on = o->progress, .tty = isatty(STDERR_FILENO), .name = s->file_name,
                     .total = s->bytes, .hint = -1};
    t.prog = &prog;
    char reasons[768] = "";
    struct stat st;
    t.md = EVP_MD_CTX_new();
    if (!t.md) {
        biqa_fail(err, "%s: out of memory", part);
        goto done;
    }
    if (biqa_mkdir_p(dir, err) < 0)
        goto done;
    t.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t.fd < 0) {
        biqa_fail(err, "%s: %s", part, strerror(errno));
        goto done;
    }
    /* The .part's lock keeps a second fetch of the same file from writing
     * into it; a crashed holder's lock dies with it. */
    if (flock(t.fd, LOCK_EX | LOCK_NB) < 0) {
        biqa_fail(err, "%s: another process is downloading this file", part);
        close(t.fd);
        t.fd = -1;
        goto done;
    }
    if (fstat(t.fd, &st) < 0) {
        biqa_fail(err, "%s: %s", part, strerror(errno));
        goto done;
    }
    t.off = st.st_size;
    if (t.expect >= 0 && t.off > t.expect && restart_part(&t) < 0) {
        biqa_fail(err, "%s", t.problem);
        goto done;
    }
    if (hash_fd(t.fd, t.off, t.md, part, err) < 0)
        goto done;
    if (t.off > 0)
        biqa_debug("fetch %s: resuming after %lld bytes in %s", s->file_name, (long long)t.off,
                   part);
    t.curl = curl_easy_init();
    if (!t.curl) {
        biqa_fail(err, "%s: cannot initialise libcurl", s->url);
        goto done;
    }
    prog.base = t.off;
    prog.t0 = prog.last = now_s();

    const char *winner = NULL;
    /* A .part of exactly the expected size from an earlier call (which died
     * before its rename) needs no network if it verifies, and is started
     * afresh if it does not. */
    if (t.expect >= 0 && t.off == t.expect) {
        if (verdict(s, t.off, t.md, hex, why, sizeof why) == 0) {
            winner = "";
        } else if (restart_part(&t) < 0) {
            biqa_fail(err, "%s", t.problem);
            goto done;
        }
    }
    for (int i = 0; i < n_sources && !winner; i++) {
        const char *url = sources[i].url;
        double wait = o->backoff_s;
        for (int a = 0; a <= o->retries; a++) {
            enum outcome out = attempt(&t, url, o, why, sizeof why);
            if (out == GOT_FILE) {
                if (verdict(s, t.off, t.md, hex, why, sizeof why) == 0) {
                    winner = url;
                    break;
                }
                /* Complete but wrong: delete, never resume from it. */
                out = restart_part(&t) < 0 ? FATAL : NEXT;
                if (out == FATAL)
                    snprintf(why, sizeof why, "%s", t.problem);
            }
            if (out == FATAL) {
                progress_show(&prog, t.off, 1);
                biqa_fail(err, "fetching %s from %s: %s", s->file_name, url, why);
                goto done;
            }
            if (out == NEXT)
                break;
            if (a < o->retries) {
                biqa_info("fetch %s: %s: %s; retry %d of %d in %g s", s->file_name, url, why,
                          a + 1, o->retries, wait);
                sleep_s(wait);
                wait *= 2;
            }
        }
        if (!winner) {
            append_reason(reasons, sizeof reasons, url, why);
            if (i + 1 < n_sources)
                biqa_info("fetch %s: %s: %s; trying the next source", s->file_name, url, why);
        }
    }
    progress_show(&prog, t.off, 1);
    if (!winner) {
        biqa_fail(err, "fetching %s failed: %s", s->file_name, reasons);
        goto done;
    }
    if (fsync(t.fd) < 0 || rename(part, path) < 0) {
        biqa_fail(err, "%s: cannot move into place: %s", path, strerror(errno));
        goto done;
    }
    fsync_dir(dir); /* best effort: the rename survives a crash on most file systems anyway */
    memcpy(sha256_out, hex, 65);
    if (used_url)
        *used_url = *winner ? winner : NULL;
    rc = 0;
done:
    if (t.fd >= 0) {
        /* An empty .part (nothing yet, or a wrong file deleted) is not left behind. */
        if (rc < 0 && t.off == 0)
            unlink(part);
        close(t.fd);
    }
    if (t.curl)
        curl_easy_cleanup(t.curl);
    EVP_MD_CTX_free(t.md);
    return rc;
}

int biqa_fetch_file(const biqa_fetch_source *sources, int n_sources, const char *dir,
                    const biqa_fetch_options *o, char sha256_out[65], const char **used_url,
                    biqa_error *err)
{
    if (used_url)
        *used_url = NULL;
    if (check_sources(sources, n_sources, err) < 0)
        return -1;
    const biqa_fetch_source *s = &sources[0];
    size_t plen = strlen(dir) + strlen(s->file_name) + 8;
    char *path = malloc(plen), *part = malloc(plen);
    if (!path || !part) {
        free(path);
        free(part);
        return biqa_fail(err, "%s: out of memory", s->file_name);
    }
    snprintf(path, plen, "%s/%s", dir, s->file_name);
    snprintf(part, plen, "%s/%s.part", dir, s->file_name);

    char why[512] = "", hex[65];
    int rc, present = check_present(path, s, hex, why, sizeof why, err);
    if (present == 1) {
        memcpy(sha256_out, hex, 65);
        rc = 0;
    } else if (present == -2) {
        rc = -1;
    } else if (o->offline && present == 0) {
        rc = biqa_fail(err, "%s: not present, and offline mode forbids downloading it", path);
    } else if (o->offline) {
        rc = biqa_fail(err, "%s: does not verify (%s), and offline mode forbids downloading it",
                       path, why);
    } else {
        /* A wrong file is replaced only by one that verifies. */
        if (present == -1)
            biqa_warn("%s: does not verify (%s): downloading it again", path, why);
        rc = download(sources, n_sources, dir, path, part, o, sha256_out, used_url, err);
    }
    free(path);
    free(part);
    return rc;
}
