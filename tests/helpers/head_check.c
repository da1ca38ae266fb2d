/* A backbone with an MLP head composed after it, for the PyTorch comparison
 * (tests/ref/resnet_vs_torch.py):
 *   head_check BACKEND BACKBONE BWEIGHTS HEAD HWEIGHTS CASE OUT
 * forwards CASE's `input` through the backbone (training mode) and the head
 * ("mlp:..."), backpropagates CASE's `dy` from the head's output through the
 * head and, by its input gradient, the backbone; OUT gets `output` and
 * backbone.<name> / head.<name> gradients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/model.h"
#include "methods/model_io.h"

static int add_grads(biqa_backend *be, biqa_model *m, const char *prefix, biqa_st_entry *e,
                     float **host, char **names, size_t *n)
{
    biqa_param *p;
    size_t np = biqa_model_params(m, &p);
    for (size_t i = 0; i < np; i++, (*n)++) {
        size_t count = biqa_numel(&p[i].grad), len = strlen(prefix) + strlen(p[i].name) + 2;
        host[*n] = malloc(count * sizeof(float));
        names[*n] = malloc(len);
        if (!host[*n] || !names[*n])
            return -1;
        be->download(be, host[*n], p[i].grad.data, count);
        snprintf(names[*n], len, "%s.%s", prefix, p[i].name);
        e[*n] = (biqa_st_entry){names[*n], 1, {(int64_t)count}, host[*n], NULL};
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: head_check BACKEND BACKBONE BWEIGHTS HEAD HWEIGHTS CASE OUT\n");
        return 2;
    }
    biqa_error err = {{0}};
    biqa_model_options bopt = {0}, hopt = {.input_grad = 1};
    biqa_safetensors c = {0};
    biqa_tensor x = {0}, dy = {0};
    biqa_backend *be = biqa_backend_create(argv[1], 0, &err);
    biqa_model *b = be ? biqa_model_create(argv[2], &bopt, be, &err) : NULL;
    biqa_model *h = b ? biqa_model_create(argv[4], &hopt, be, &err) : NULL;
    biqa_st_entry e[256];
    float *host[256] = {0};
    char *names[256] = {0};
    size_t n = 0;
    const biqa_tensor *feat, *out;
    int rc = h && biqa_model_load(b, argv[3], 1, &err) == 0 &&
                     biqa_model_load(h, argv[5], 1, &err) == 0 &&
                     biqa_st_open(argv[6], &c, &err) == 0 &&
                     biqa_tensor_from_st(&c, "input", be, &x, &err) == 0 &&
                     biqa_tensor_from_st(&c, "dy", be, &dy, &err) == 0 &&
                     biqa_model_forward(b, &x, &feat, NULL, &err) == 0 &&
                     biqa_model_forward(h, feat, &out, NULL, &err) == 0 &&
                     biqa_model_backward(h, &dy, NULL, &err) == 0 &&
                     biqa_model_backward(b, biqa_model_input_grad(h), NULL, &err) == 0
                 ? 0
                 : -1;
    if (rc == 0) {
        host[0] = malloc(biqa_numel(out) * sizeof(float));
        be->download(be, host[0], out->data, biqa_numel(out));
        e[n++] = (biqa_st_entry){"output", 2, {out->n, out->c}, host[0], NULL};
        if (add_grads(be, h, "head", e, host, names, &n) < 0 ||
            add_grads(be, b, "backbone", e, host, names, &n) < 0 ||
            biqa_st_write(argv[7], e, n, NULL, &err) < 0)
            rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "head_check: %s\n", err.msg[0] ? err.msg : "out of memory");
    for (size_t i = 0; i < n; i++) {
        free(host[i]);
        free(names[i]);
    }
    if (x.data)
        be->free(be, x.data);
    if (dy.data)
        be->free(be, dy.data);
    biqa_st_close(&c);
    biqa_model_destroy(h);
    biqa_model_destroy(b);
    biqa_backend_destroy(be);
    return rc < 0 ? 1 : 0;
}
