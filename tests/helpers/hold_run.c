/* Begins a run in the database argv[1], prints its id and waits to be
 * killed: the stand-in for a long training run that dies under kill -9. */
#include <stdio.h>
#include <unistd.h>

#include "results/runs.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: hold_run DB\n");
        return 2;
    }
    biqa_store s;
    biqa_error e = {{0}};
    int64_t id;
    biqa_run_spec spec = {.kind = "pretrain", .method = "qpt", .config_json = "{}"};
    if (biqa_store_open(&s, argv[1], BIQA_STORE_WRITE, &e) < 0 ||
        biqa_run_begin(&s, &spec, &id, &e) < 0) {
        fprintf(stderr, "hold_run: %s\n", e.msg);
        return 1;
    }
    printf("%lld\n", (long long)id);
    fflush(stdout);
    for (;;)
        pause();
}
