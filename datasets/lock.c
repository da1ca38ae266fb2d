#include "datasets/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid the holder wrote into the lock file, or 0 when it has not yet. */
static long holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long pid = 0;
    return sscanf(buf, "%ld", &pid) == 1 ? pid : 0;
}

int biqa_lock_acquire(const char *lock_path, int wait, int *fd_out, biqa_error *err)
{
    *fd_out = -1;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return biqa_fail(err, "%s: cannot open lock file: %s", lock_path, strerror(errno));
    int rc;
    while ((rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int e = errno;
        long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
        close(fd);
        if (e != EWOULDBLOCK)
            return biqa_fail(err, "%s: cannot lock: %s", lock_path, strerror(e));
        if (pid > 0)
            return biqa_fail(err, "%s: locked by another process (pid %ld)", lock_path, pid);
        return biqa_fail(err, "%s: locked by another process (pid not yet written)", lock_path);
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return biqa_fail(err, "%s: cannot write the holder's pid: %s", lock_path, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

void biqa_lock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the last descriptor of the open file drops the flock */
}
