/* The communicator layer and the data-parallel helpers that need no model
 * (kernels/comm.h, methods/dist.h), with ranks as threads
 * (tests/unit/thread_comm.h): the choice of communicator from the knob and
 * the launch variables, the torchrun-style TCP rendezvous, agreement on
 * failures naming the rank, bucketed gradient averaging (a parameter larger
 * than a bucket included), unreadable-image records gathered on rank 0 in
 * batch order, the loader's shards, and shuffled batch norm on ranks
 * against its one-process emulation. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "datasets/loader.h"
#include "kernels/image/image.h"
#include "kernels/comm.h"
#include "methods/dist.h"
#include "tests/unit/thread_comm.h"

/* ---- the choice of communicator ---- */

static void clear_launch(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS",
                                       "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                       "MASTER_PORT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

Test(comm, without_a_launcher_auto_and_none_mean_one_process)
{
    clear_launch();
    biqa_comm *c = (biqa_comm *)1;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_comm_open("auto", "cpu", &c, &err), 0, "%s", err.msg);
    cr_assert_null(c);
    cr_assert_eq(biqa_comm_open("none", "cuda", &c, &err), 0, "%s", err.msg);
    cr_assert_null(c);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1); /* mpirun -np 1: still one process */
    cr_assert_eq(biqa_comm_open("auto", "cpu", &c, &err), 0, "%s", err.msg);
    cr_assert_null(c);
}

Test(comm, bad_choices_are_one_line_naming_the_knob_or_variable)
{
    clear_launch();
    biqa_comm *c = NULL;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_comm_open("gloo", "cpu", &c, &err), -1);
    cr_assert(strstr(err.msg, "compute.comm gloo: unknown"), "%s", err.msg);
    cr_assert_eq(biqa_comm_open("nccl", "cpu", &c, &err), -1);
    cr_assert(strstr(err.msg, "compute.comm nccl: NCCL needs the cuda backend, not 'cpu'"), "%s",
              err.msg);
    setenv("RANK", "1", 1), setenv("WORLD_SIZE", "2", 1);
    cr_assert_eq(biqa_comm_open("auto", "cpu", &c, &err), -1);
    cr_assert(strstr(err.msg, "start CPU ranks with mpirun or srun"), "%s", err.msg);
    cr_assert_eq(biqa_comm_open("mpi", "ref", &c, &err), -1);
    cr_assert(strstr(err.msg, "compute.comm mpi: WORLD_SIZE=2 without mpirun or srun"), "%s",
              err.msg);
    setenv("RANK", "2", 1);
    cr_assert_eq(biqa_comm_open("auto", "cuda", &c, &err), -1);
    cr_assert(strstr(err.msg, "RANK=2 is not below WORLD_SIZE=2"), "%s", err.msg);
    setenv("RANK", "0", 1), setenv("MASTER_PORT", "http", 1);
    cr_assert_eq(biqa_comm_open("auto", "cuda", &c, &err), -1);
    cr_assert(strstr(err.msg, "MASTER_PORT=http"), "%s", err.msg);
    cr_assert_null(strchr(err.msg, '\n'));
}

Test(comm, launch_variables)
{
    clear_launch();
    biqa_launch l;
    biqa_error err = {{0}};
    setenv("SLURM_STEP_NUM_TASKS", "4", 1);
    setenv("RANK", "3", 1), setenv("WORLD_SIZE", "8", 1), setenv("LOCAL_RANK", "1", 1);
    cr_assert_eq(biqa_launch_detect(&l, &err), 0, "%s", err.msg);
    cr_assert(l.mpi && l.mpi_size == 4);
    cr_assert(l.torchrun && l.rank == 3 && l.size == 8 && l.local_rank == 1);
    cr_assert_str_eq(l.master_addr, "127.0.0.1");
    cr_assert_eq(l.master_port, 29500);
    setenv("OMPI_COMM_WORLD_SIZE", "two", 1);
    cr_assert_eq(biqa_launch_detect(&l, &err), -1);
    cr_assert(strstr(err.msg, "OMPI_COMM_WORLD_SIZE=two"), "%s", err.msg);
}

/* ---- the TCP rendezvous ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct tcp_arg {
    int port, rank, size, rc;
    unsigned char blob[128];
    biqa_error err;
} tcp_arg;

static void *tcp_rank(void *p)
{
    tcp_arg *a = p;
    a->rc = biqa_tcp_rendezvous("127.0.0.1", a->port, a->rank, a->size, a->blob, sizeof a->blob,
                                20, &a->err);
    return NULL;
}

Test(comm, rendezvous_hands_rank_0s_blob_to_every_rank)
{
    enum { size = 3 };
    const int port = free_port();
    tcp_arg a[size];
    pthread_t t[size];
    /* the peers first: they retry until rank 0 listens */
    for (int r = size - 1; r >= 0; r--) {
        memset(&a[r], 0, sizeof a[r]);
        a[r].port = port, a[r].rank = r, a[r].size = size;
        for (int i = 0; r == 0 && i < 128; i++)
            a[r].blob[i] = (unsigned char)(i * 7 + 1);
        pthread_create(&t[r], NULL, tcp_rank, &a[r]);
    }
    for (int r = 0; r < size; r++)
        pthread_join(t[r], NULL);
    for (int r = 0; r < size; r++) {
        cr_assert_eq(a[r].rc, 0, "rank %d: %s", r, a[r].err.msg);
        cr_assert_eq(memcmp(a[r].blob, a[0].blob, sizeof a[0].blob), 0, "rank %d", r);
    }
}

Test(comm, rendezvous_without_rank_0_times_out_naming_the_address)
{
    unsigned char blob[16];
    biqa_error err = {{0}};
    const int port = free_port();
    cr_assert_eq(biqa_tcp_rendezvous("127.0.0.1", port, 1, 2, blob, sizeof blob, 0.3, &err), -1);
    char want[64];
    snprintf(want, sizeof want, "rank 1 got nothing from rank 0 at 127.0.0.1:%d", port);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
}

/* ---- collectives of the loops, on thread ranks ---- */

typedef struct ranks {
    tc_shared sh;
    int size;
    void *(*fn)(void *);
} ranks;

typedef struct rank_ctx {
    ranks *all;
    int rank;
    biqa_dist *d;
    biqa_backend *be;
    void *user;
} rank_ctx;

/* Runs fn on `size` thread ranks, each with its dist (attached to a ref
 * backend) and user data user[rank]. */
static void on_ranks(int size, void *(*fn)(void *), void **user)
{
    ranks all = {.size = size, .fn = fn};
    tc_shared_init(&all.sh, size);
    rank_ctx ctx[TC_MAX];
    pthread_t t[TC_MAX];
    for (int r = 0; r < size; r++) {
        biqa_error err = {{0}};
        ctx[r] = (rank_ctx){&all, r, biqa_dist_wrap(tc_comm(&all.sh, r), &err),
                            biqa_backend_create("ref", 1, &err), user ? user[r] : NULL};
        cr_assert(ctx[r].d && ctx[r].be, "%s", err.msg);
        cr_assert_eq(biqa_dist_attach(ctx[r].d, ctx[r].be, &err), 0, "%s", err.msg);
    }
    for (int r = 0; r < size; r++)
        pthread_create(&t[r], NULL, fn, &ctx[r]);
    for (int r = 0; r < size; r++)
        pthread_join(t[r], NULL);
    for (int r = 0; r < size; r++) {
        biqa_dist_close(ctx[r].d, 0);
        biqa_backend_destroy(ctx[r].be);
    }
    tc_shared_free(&all.sh);
}

typedef struct agree_out {
    int rc[3], rc_ok[3];
    char msg[3][1024];
} agree_out;

static void *agree_rank(void *p)
{
    rank_ctx *c = p;
    agree_out *o = c->user;
    biqa_error err = {{0}};
    o->rc_ok[c->rank] = biqa_dist_agree(c->d, 0, &err);
    int mine = c->rank == 0 ? 0 : biqa_fail(&err, "disk full on rank %d", c->rank);
    o->rc[c->rank] = biqa_dist_agree(c->d, mine, &err);
    snprintf(o->msg[c->rank], sizeof o->msg[0], "%s", err.msg);
    return NULL;
}

Test(dist, every_rank_learns_the_first_failing_rank_and_its_message)
{
    agree_out o;
    void *user[3] = {&o, &o, &o};
    on_ranks(3, agree_rank, user);
    for (int r = 0; r < 3; r++) {
        cr_assert_eq(o.rc_ok[r], 0);
        cr_assert_eq(o.rc[r], -1);
        cr_assert_str_eq(o.msg[r], "rank 1 of 3: disk full on rank 1");
    }
    biqa_error err = {{0}};
    cr_assert_eq(biqa_dist_agree(NULL, -1, &err), -1, "one process: rc as given");
}

/* Gradients: small parameters and one larger than a 25 MB bucket. */
enum { NPARAM = 4 };
static const size_t psize[NPARAM] = {3, 1000, (size_t)7 << 20, 17};

static float grad_value(int rank, int p, size_t i)
{
    return (float)biqa_rng_uniform(11 + (uint64_t)rank, (uint64_t)p, i) - 0.5f;
}

typedef struct avg_out {
    int bad[2];
    double loss[2];
} avg_out;

static void *average_rank(void *p)
{
    rank_ctx *c = p;
    avg_out *o = c->user;
    biqa_param params[NPARAM];
    for (int k = 0; k < NPARAM; k++) {
        float *g = malloc(psize[k] * sizeof *g);
        for (size_t i = 0; i < psize[k]; i++)
            g[i] = grad_value(c->rank, k, i);
        params[k].name = "w";
        params[k].grad = params[k].value = biqa_view(g, (int)psize[k], 1, 1, 1);
    }
    biqa_error err = {{0}};
    double loss = c->rank ? 3.0 : 1.0;
    cr_assert_eq(biqa_dist_average(c->d, params, NPARAM, &loss, 0.5, &err), 0, "%s", err.msg);
    o->loss[c->rank] = loss;
    for (int k = 0; k < NPARAM; k++) {
        const float *g = params[k].grad.data;
        for (size_t i = 0; i < psize[k]; i++)
            o->bad[c->rank] += g[i] != (grad_value(0, k, i) + grad_value(1, k, i)) / 2.0f;
        free(params[k].grad.data);
    }
    return NULL;
}

Test(dist, gradients_are_averaged_in_buckets_and_the_loss_weighted, .timeout = 60)
{
    avg_out o;
    memset(&o, 0, sizeof o);
    void *user[2] = {&o, &o};
    on_ranks(2, average_rank, user);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(o.bad[r], 0, "rank %d: %d averaged elements differ", r, o.bad[r]);
        cr_assert_eq(o.loss[r], 2.0, "0.5 x 1 + 0.5 x 3");
    }
}

/* Unreadable images: rank 0 reports each item once, ranks in order. */
typedef struct fail_out {
    char seen[8][64];
    int n;
} fail_out;

static int record(void *ctx, const char *item, const char *reason, biqa_error *err)
{
    (void)err;
    fail_out *o = ctx;
    snprintf(o->seen[o->n++], sizeof o->seen[0], "%s:%s", item, reason);
    return 0;
}

static void *failures_rank(void *p)
{
    rank_ctx *c = p;
    static char *paths[4] = {"a.png", "b.png", "c.png", "d.png"};
    biqa_folder_item items[4];
    for (int i = 0; i < 4; i++)
        items[i] = (biqa_folder_item){paths[i], 0};
    biqa_folder folder = {.nitems = 4, .nclasses = 1, .items = items};
    biqa_loader_failure f[2] = {{.item = c->rank == 0 ? 2 : 1}, {.item = 2}};
    snprintf(f[0].error, sizeof f[0].error, "bad%d", c->rank);
    snprintf(f[1].error, sizeof f[1].error, "again");
    biqa_error err = {{0}};
    const int n = c->rank == 0 ? 1 : 2;
    cr_assert_eq(biqa_dist_failures(c->d, &folder, f, n, c->rank == 0 ? record : NULL, c->user,
                                    &err), 0, "%s", err.msg);
    /* a later step with nothing new: nothing reported */
    cr_assert_eq(biqa_dist_failures(c->d, &folder, f, 0, c->rank == 0 ? record : NULL, c->user,
                                    &err), 0, "%s", err.msg);
    return NULL;
}

Test(dist, unreadable_images_reach_rank_0_once_in_batch_order)
{
    fail_out o = {0};
    void *user[2] = {&o, &o};
    on_ranks(2, failures_rank, user);
    cr_assert_eq(o.n, 2);
    cr_assert_str_eq(o.seen[0], "c.png:bad0");
    cr_assert_str_eq(o.seen[1], "b.png:bad1");
}

/* ---- shuffled batch norm ---- */

enum { SROWS = 8, SWIDTH = 3 };

/* A stand-in for an encoder with batch norm: each row minus the mean of
 * the rows encoded with it, so a key depends on its part. */
static int centre(void *ctx, const biqa_tensor *x, biqa_tensor *keys, biqa_error *err)
{
    (void)ctx, (void)err;
    const float *in = x->data;
    float *out = keys->data;
    for (int j = 0; j < SWIDTH; j++) {
        double m = 0;
        for (int i = 0; i < x->n; i++)
            m += in[i * SWIDTH + j] / x->n;
        for (int i = 0; i < x->n; i++)
            out[i * SWIDTH + j] = (float)(in[i * SWIDTH + j] - m);
    }
    return 0;
}

static float row_value(int row, int j)
{
    return (float)biqa_rng_uniform(3, (uint64_t)row, (uint64_t)j);
}

typedef struct shuffle_out {
    float keys[2][SROWS * SWIDTH]; /* each rank's */
} shuffle_out;

static void *shuffle_rank(void *p)
{
    rank_ctx *c = p;
    shuffle_out *o = c->user;
    const int local = SROWS / 2;
    float x[SROWS / 2 * SWIDTH];
    for (int i = 0; i < local; i++)
        for (int j = 0; j < SWIDTH; j++)
            x[i * SWIDTH + j] = row_value(c->rank * local + i, j);
    biqa_shuffle s;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_shuffle_init(&s, c->d, c->be, 0, SROWS, SWIDTH, SWIDTH, 9, &err), 0, "%s",
                 err.msg);
    biqa_tensor xt = biqa_view(x, local, SWIDTH, 1, 1);
    biqa_tensor keys = biqa_view(o->keys[c->rank], SROWS, SWIDTH, 1, 1);
    cr_assert_eq(biqa_shuffle_keys(&s, 2, 5, &xt, centre, NULL, &keys, &err), 0, "%s", err.msg);
    biqa_shuffle_free(&s);
    return NULL;
}

Test(dist, shuffled_bn_on_two_ranks_is_its_one_process_emulation)
{
    shuffle_out two;
    void *user[2] = {&two, &two};
    on_ranks(2, shuffle_rank, user);

    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create("ref", 1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    float x[SROWS * SWIDTH], one[SROWS * SWIDTH], whole[SROWS * SWIDTH];
    for (int i = 0; i < SROWS; i++)
        for (int j = 0; j < SWIDTH; j++)
            x[i * SWIDTH + j] = row_value(i, j);
    biqa_tensor xt = biqa_view(x, SROWS, SWIDTH, 1, 1), k = biqa_view(one, SROWS, SWIDTH, 1, 1);
    biqa_tensor kw = biqa_view(whole, SROWS, SWIDTH, 1, 1);
    biqa_shuffle s;
    cr_assert_eq(biqa_shuffle_init(&s, NULL, be, 2, SROWS, SWIDTH, SWIDTH, 9, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(biqa_shuffle_keys(&s, 2, 5, &xt, centre, NULL, &k, &err), 0, "%s", err.msg);
    biqa_shuffle_free(&s);
    cr_assert_eq(memcmp(two.keys[0], two.keys[1], sizeof one), 0, "the ranks disagree");
    cr_assert_eq(memcmp(one, two.keys[0], sizeof one), 0, "ranks and emulation disagree");
    /* Two parts of 4 rows each, each centred on its own mean. */
    int in_a = 0;
    float ma[SWIDTH];
    for (int j = 0; j < SWIDTH; j++)
        ma[j] = x[j] - one[j];
    for (int i = 0; i < SROWS; i++)
        in_a += fabsf(x[i * SWIDTH] - one[i * SWIDTH] - ma[0]) < 1e-6f;
    cr_assert_eq(in_a, SROWS / 2, "row 0's part has %d rows", in_a);
    /* One part: the keys of the whole batch, which differ. */
    cr_assert_eq(biqa_shuffle_init(&s, NULL, be, 1, SROWS, SWIDTH, SWIDTH, 9, &err), 0);
    cr_assert_eq(biqa_shuffle_keys(&s, 2, 5, &xt, centre, NULL, &kw, &err), 0);
    biqa_shuffle_free(&s);
    cr_assert_neq(memcmp(one, whole, sizeof one), 0);
    /* Parts that cannot be equal, or of one row, are refused. */
    cr_assert_eq(biqa_shuffle_init(&s, NULL, be, 3, SROWS, SWIDTH, SWIDTH, 9, &err), -1);
    cr_assert(strstr(err.msg, "moco.bn_splits 3"), "%s", err.msg);
    cr_assert_eq(biqa_shuffle_init(&s, NULL, be, 8, SROWS, SWIDTH, SWIDTH, 9, &err), -1);
    biqa_backend_destroy(be);
}

/* ---- the loader's shards ---- */

Test(dist, two_shards_hold_the_batch_of_one_loader)
{
    char dir[64] = "/tmp/biqa-shards-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "%s/c%d", dir, c);
        cr_assert_eq(mkdir(path, 0755), 0);
        for (int i = 0; i < 5; i++) {
            biqa_image im;
            biqa_error err = {{0}};
            cr_assert_eq(biqa_image_alloc(&im, 40, 36, "test", &err), 0, "%s", err.msg);
            for (size_t k = 0; k < (size_t)3 * 40 * 36; k++)
                im.px[k] = (uint8_t)biqa_rng_below((uint64_t)(c * 5 + i), 1, k, 256);
            snprintf(path, sizeof path, "%s/c%d/%d.png", dir, c, i);
            cr_assert_eq(biqa_image_write(path, &im, 90, &err), 0, "%s", err.msg);
            biqa_image_free(&im);
        }
    }
    biqa_folder f;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_folder_index(dir, &f, &err), 0, "%s", err.msg);
    biqa_loader_config lc = {.folder = &f, .recipe = biqa_recipe_default(BIQA_RECIPE_MOCO, 32),
                             .batch = 4, .threads = 2, .prefetch = 1, .seed = 3};
    biqa_loader *whole, *shard[2];
    cr_assert_eq(biqa_loader_create(&lc, &whole, &err), 0, "%s", err.msg);
    for (int r = 0; r < 2; r++) {
        lc.shard = r, lc.shards = 2, lc.threads = 1;
        cr_assert_eq(biqa_loader_create(&lc, &shard[r], &err), 0, "%s", err.msg);
        cr_assert_eq(biqa_loader_batches(shard[r]), biqa_loader_batches(whole));
    }
    const size_t per = 3 * 32 * 32;
    for (uint64_t e = 0; e < 2; e++) {
        biqa_loader_epoch(whole, e);
        biqa_loader_epoch(shard[0], e), biqa_loader_epoch(shard[1], e);
        const biqa_batch *w, *b;
        while (biqa_loader_next(whole, &w, &err) == 1) {
            for (int r = 0; r < 2; r++) {
                cr_assert_eq(biqa_loader_next(shard[r], &b, &err), 1, "%s", err.msg);
                cr_assert_eq(b->items, 2);
                cr_assert_eq(b->views, w->views / 2);
                cr_assert_eq(memcmp(b->item, w->item + 2 * r, 2 * sizeof *b->item), 0);
                cr_assert_eq(memcmp(b->x, w->x + (size_t)r * b->views * per,
                                    (size_t)b->views * per * sizeof *b->x), 0,
                             "epoch %d batch %d shard %d", (int)e, w->index, r);
            }
        }
    }
    lc.shard = 2;
    biqa_loader *bad = NULL;
    cr_assert_eq(biqa_loader_create(&lc, &bad, &err), -1);
    cr_assert(strstr(err.msg, "shard 2 of 2"), "%s", err.msg);
    biqa_loader_destroy(whole), biqa_loader_destroy(shard[0]), biqa_loader_destroy(shard[1]);
    biqa_folder_free(&f);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_assert_eq(system(path), 0);
}
