/* biqa model forward: a backbone on a safetensors batch, so anyone can check
 * biqa against their own PyTorch model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "harness/commands.h"
#include "methods/model.h"
#include "methods/model_io.h"

/* Writes features (N x D) and, when present, logits (N x K). */
static int write_outputs(biqa_backend *be, const char *path, const biqa_tensor *features,
                         const biqa_tensor *logits, biqa_error *err)
{
    const biqa_tensor *outs[2] = {features, logits};
    const char *names[2] = {"features", "logits"};
    biqa_st_entry entries[2];
    float *host[2] = {NULL, NULL};
    size_t count = 0;
    int rc = 0;
    for (int i = 0; i < 2 && outs[i]; i++) {
        size_t n = biqa_numel(outs[i]);
        host[i] = malloc(n * sizeof(float));
        if (!host[i]) {
            rc = biqa_fail(err, "%s: out of memory", path);
            break;
        }
        be->download(be, host[i], outs[i]->data, n);
        entries[count++] = (biqa_st_entry){names[i], 2, {outs[i]->n, outs[i]->c}, host[i], NULL};
    }
    if (rc == 0)
        rc = biqa_st_write(path, entries, count, NULL, err);
    free(host[0]);
    free(host[1]);
    return rc;
}

int biqa_cmd_model_forward(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    const char *backbone = biqa_arg(a, "backbone"), *weights = biqa_arg(a, "weights");
    const char *input = biqa_arg(a, "input"), *output = biqa_arg(a, "output");
    if (!backbone || !input || !output)
        return biqa_usage_error(a, "needs --backbone, --input and --output");
    biqa_error err = {{0}};
    biqa_model_options opt = {.num_classes = 0, .seed = cli->has_seed ? (uint64_t)cli->seed : 0};
    if (weights && biqa_weights_classes(weights, &opt.num_classes, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    int rc = BIQA_EXIT_FAIL;
    enum biqa_precision precision = BIQA_PREC_FP32;
    const char *ptext = biqa_arg(a, "precision");
    biqa_backend *be = !ptext || biqa_precision_parse(ptext, &precision, &err) == 0
                           ? biqa_backend_create_with(cli->backend ? cli->backend : "cpu",
                                                      cli->threads, precision, &err)
                           : NULL;
    biqa_model *m = be ? biqa_model_create(backbone, &opt, be, &err) : NULL;
    biqa_safetensors st = {0};
    biqa_tensor x = {0};
    if (!m || (weights && biqa_model_load(m, weights, 1, &err) < 0) ||
        biqa_st_open(input, &st, &err) < 0 || biqa_tensor_from_st(&st, "input", be, &x, &err) < 0)
        goto out;
    biqa_model_train(m, biqa_flag(a, "train"));
    const biqa_tensor *features, *logits;
    if (biqa_model_forward(m, &x, &features, &logits, &err) < 0 ||
        write_outputs(be, output, features, logits, &err) < 0)
        goto out;
    biqa_info("%s: features %d x %d%s (%s backend, %s mode)", output, features->n, features->c,
              logits ? ", logits" : "", be->name, biqa_flag(a, "train") ? "train" : "eval");
    rc = BIQA_EXIT_OK;
out:
    if (rc != BIQA_EXIT_OK)
        biqa_error_line("%s", err.msg);
    if (x.data)
        be->free(be, x.data);
    biqa_st_close(&st);
    biqa_model_destroy(m);
    biqa_backend_destroy(be);
    return rc;
}
