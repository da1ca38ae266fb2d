#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int biqa_read_file(const char *path, char **data, size_t *len, biqa_error *err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return biqa_fail(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            if (fd != STDIN_FILENO)
                close(fd);
            return biqa_fail(err, "%s: out of memory", path);
        }
        if (cap - n < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                free(buf);
            buf = bigger;
            cap *= 2;
            continue;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            if (fd != STDIN_FILENO)
                close(fd);
            return biqa_fail(err, "%s: %s", path, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (fd != STDIN_FILENO)
        close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int biqa_mkdir_p(const char *path, biqa_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return biqa_fail(err, "%.100s...: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) < 0 && errno != EEXIST)
                return biqa_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (!c)
                return 0;
        }
    }
}

int biqa_atomic_open(biqa_atomic_file *f, const char *path, biqa_error *err)
{
    size_t plen = strlen(path);
    f->path = strdup(path);
    f->tmp = malloc(plen + 16);
    f->fd = -1;
    if (!f->path || !f->tmp) {
        biqa_atomic_abort(f);
        return biqa_fail(err, "%s: out of memory", path);
    }
    snprintf(f->tmp, plen + 16, "%s.tmpXXXXXX", path);
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        int e = errno;
        free(f->tmp);
        f->tmp = NULL; /* nothing to unlink */
        biqa_atomic_abort(f);
        return biqa_fail(err, "%s: cannot create a temporary file beside it: %s", path,
                         strerror(e));
    }
    return 0;
}

int biqa_atomic_write(biqa_atomic_file *f, const void *data, size_t len, biqa_error *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            biqa_fail(err, "%s: %s", f->path, strerror(e));
            biqa_atomic_abort(f);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int biqa_atomic_commit(biqa_atomic_file *f, biqa_error *err)
{
    int rc = fsync(f->fd);
    if (rc == 0) {
        rc = close(f->fd);
        f->fd = -1;
    }
    if (rc == 0)
        rc = rename(f->tmp, f->path);
    if (rc < 0) {
        int e = errno;
        biqa_fail(err, "%s: %s", f->path, strerror(e));
        biqa_atomic_abort(f);
        return -1;
    }
    free(f->tmp);
    free(f->path);
    f->tmp = f->path = NULL;
    return 0;
}

void biqa_atomic_abort(biqa_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->fd = -1;
    f->tmp = f->path = NULL;
}

int biqa_write_file_atomic(const char *path, const void *data, size_t len, biqa_error *err)
{
    biqa_atomic_file f;
    if (biqa_atomic_open(&f, path, err) < 0 || biqa_atomic_write(&f, data, len, err) < 0)
        return -1;
    return biqa_atomic_commit(&f, err);
}
