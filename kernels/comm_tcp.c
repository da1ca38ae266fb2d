/* The rendezvous of a torchrun-style launch (kernels/comm.h): rank 0 hands
 * the other ranks one small blob (the NCCL unique id) over TCP at
 * MASTER_ADDR:MASTER_PORT, as torch.distributed's TCPStore does for its
 * own bootstrap. Each peer sends its rank (4 bytes, network order) and
 * receives the blob; rank 0 checks that every rank 1..size-1 came once. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kernels/comm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, double deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int ms = (int)((deadline - now()) * 1000);
        if (ms <= 0)
            return 0;
        int rc = poll(&p, 1, ms);
        if (rc > 0 || (rc < 0 && errno != EINTR))
            return rc > 0;
    }
}

static int io_all(int fd, void *buf, size_t len, int sending, double deadline)
{
    unsigned char *p = buf;
    while (len > 0) {
        if (!wait_fd(fd, sending ? POLLOUT : POLLIN, deadline))
            return -1;
        ssize_t n = sending ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

static int serve(int port, int size, const void *blob, size_t len, double deadline,
                 biqa_error *err)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0), v6 = fd >= 0;
    if (fd < 0)
        fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return biqa_fail(err, "rendezvous: socket: %s", strerror(errno));
    int one = 1, zero = 0, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage sa = {0};
    socklen_t salen;
    if (v6) {
        /* Every address, IPv4 ones too. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
        a->sin6_family = AF_INET6, a->sin6_port = htons((uint16_t)port), a->sin6_addr = in6addr_any;
        salen = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&sa;
        a->sin_family = AF_INET, a->sin_port = htons((uint16_t)port);
        a->sin_addr.s_addr = INADDR_ANY;
        salen = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, size) < 0) {
        rc = biqa_fail(err, "rendezvous: listening on port %d (MASTER_PORT): %s", port,
                       strerror(errno));
        close(fd);
        return rc;
    }
    char *seen = calloc((size_t)size, 1);
    if (!seen)
        rc = biqa_fail(err, "rendezvous: out of memory");
    for (int got = 1; rc == 0 && got < size;) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            rc = biqa_fail(err, "rendezvous: %d of WORLD_SIZE=%d ranks reached port %d in time",
                           got, size, port);
            break;
        }
        int peer = accept(fd, NULL, NULL);
        if (peer < 0)
            continue;
        uint32_t r = 0;
        if (io_all(peer, &r, sizeof r, 0, deadline) == 0) {
            r = ntohl(r);
            if (r < 1 || r >= (uint32_t)size || seen[r])
                rc = biqa_fail(err, "rendezvous: a peer says it is rank %u (WORLD_SIZE=%d, "
                                    "every rank 1..%d once)", r, size, size - 1);
            else if (io_all(peer, (void *)blob, len, 1, deadline) == 0)
                seen[r] = 1, got++;
        }
        close(peer);
    }
    free(seen);
    close(fd);
    return rc;
}

static int fetch(const char *addr, int port, int rank, void *blob, size_t len, double deadline,
                 biqa_error *err)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(addr, service, &hints, &res);
    if (g != 0)
        return biqa_fail(err, "rendezvous: MASTER_ADDR %s: %s", addr, gai_strerror(g));
    int rc = -1;
    /* Rank 0 may not listen yet: retry every 100 ms until the deadline. */
    while (rc < 0 && now() < deadline) {
        for (struct addrinfo *a = res; a && rc < 0; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
            if (fd < 0)
                continue;
            uint32_t r = htonl((uint32_t)rank);
            if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
                io_all(fd, &r, sizeof r, 1, deadline) == 0 &&
                io_all(fd, blob, len, 0, deadline) == 0)
                rc = 0;
            close(fd);
        }
        if (rc < 0)
            usleep(100 * 1000);
    }
    freeaddrinfo(res);
    if (rc < 0)
        return biqa_fail(err, "rendezvous: rank %d got nothing from rank 0 at %s:%d in time",
                         rank, addr, port);
    return 0;
}

int biqa_tcp_rendezvous(const char *addr, int port, int rank, int size, void *blob, size_t len,
                        double timeout_s, biqa_error *err)
{
    const double deadline = now() + timeout_s;
    if (size < 2)
        return 0;
    return rank == 0 ? serve(port, size, blob, len, deadline, err)
                     : fetch(addr, port, rank, blob, len, deadline, err);
}
