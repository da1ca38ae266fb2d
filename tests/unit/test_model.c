/* The model interface's own contract (the numerics are checked against
 * torchvision by tests/ref/resnet_vs_torch.py): names, checkpoints, errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/safetensors.h"
#include "methods/model.h"

static biqa_backend *ref(void)
{
    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create("ref", 1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    return be;
}

Test(model, bad_names_are_refused_with_the_name)
{
    static const struct {
        const char *name, *msg;
    } cases[] = {
        {"resnet19", "unknown backbone 'resnet19'"},
        {"resnet18-w0", "backbone 'resnet18-w0': width suffix must be -wF with 0 < F <= 4"},
        {"resnet18-x2", "width suffix must be -wF"},
        {"mlp:12", "head 'mlp:12': needs an input and an output width"},
        {"mlp:12-x", "head 'mlp:12-x': want widths like mlp:2048-2048-128"},
    };
    biqa_backend *be = ref();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        biqa_error err = {{0}};
        cr_assert_null(biqa_model_create(cases[i].name, NULL, be, &err), "%s", cases[i].name);
        cr_assert(strstr(err.msg, cases[i].msg), "%s: %s", cases[i].name, err.msg);
    }
    biqa_backend_destroy(be);
}

Test(model, widths_and_parameter_counts)
{
    biqa_backend *be = ref();
    biqa_error err = {{0}};
    biqa_model_options opt = {.num_classes = 10};
    biqa_model *m = biqa_model_create("resnet18-w0.25", &opt, be, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(biqa_model_feature_dim(m), 128);
    biqa_param *p;
    size_t n = biqa_model_params(m, &p);
    /* stem 3 + 8 blocks x 6 + 3 downsamples x 3 + fc 2 */
    cr_assert_eq(n, 3 + 48 + 9 + 2);
    cr_assert_str_eq(p[0].name, "conv1.weight");
    cr_assert_str_eq(p[n - 1].name, "fc.bias");
    cr_assert(p[1].no_decay && p[n - 1].no_decay && !p[0].no_decay && !p[n - 2].no_decay);
    biqa_model_destroy(m);
    m = biqa_model_create("mlp:16-8-1", NULL, be, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(biqa_model_params(m, &p), 4);
    cr_assert_str_eq(p[2].name, "2.weight");
    cr_assert_eq(biqa_model_feature_dim(m), 1);
    biqa_model_destroy(m);
    biqa_backend_destroy(be);
}

/* Features of a fixed random 2 x 3 x 32 x 32 batch, eval mode, into out. */
static void features(biqa_model *m, biqa_backend *be, float *out, size_t n)
{
    float x[2 * 3 * 32 * 32];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)biqa_rng_uniform(3, 4, i) - 0.5f;
    void *mem = be->alloc(be, sizeof x);
    be->upload(be, mem, x, sizeof x / sizeof x[0]);
    biqa_tensor t = biqa_view(mem, 2, 3, 32, 32);
    const biqa_tensor *f;
    biqa_error err = {{0}};
    biqa_model_train(m, 0);
    cr_assert_eq(biqa_model_forward(m, &t, &f, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_numel(f), n);
    be->download(be, out, f->data, n);
    be->free(be, mem);
}

Test(model, checkpoint_round_trip_and_strict_errors)
{
    biqa_backend *be = ref();
    biqa_error err = {{0}};
    biqa_model_options a_opt = {.seed = 1}, b_opt = {.seed = 2};
    biqa_model *a = biqa_model_create("resnet18-w0.125", &a_opt, be, &err);
    biqa_model *b = biqa_model_create("resnet18-w0.125", &b_opt, be, &err);
    cr_assert(a && b, "%s", err.msg);
    char path[] = "/tmp/biqa-model-XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(biqa_model_save(a, path, "{\"note\": \"test\"}", &err), 0, "%s", err.msg);
    float fa[2 * 64], fb[2 * 64], fb2[2 * 64];
    features(a, be, fa, 2 * 64);
    features(b, be, fb, 2 * 64);
    cr_assert_neq(memcmp(fa, fb, sizeof fa), 0, "different seeds, same weights");
    cr_assert_eq(biqa_model_load(b, path, 1, &err), 0, "%s", err.msg);
    features(b, be, fb2, 2 * 64);
    cr_assert_eq(memcmp(fa, fb2, sizeof fa), 0, "a loaded checkpoint gives other features");

    /* A checkpoint of another width: strict load names the keys, changes nothing. */
    biqa_model *wide = biqa_model_create("resnet18-w0.25", NULL, be, &err);
    cr_assert_eq(biqa_model_save(wide, path, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_model_load(b, path, 1, &err), -1);
    cr_assert(strstr(err.msg, "shape [16, 3, 7, 7] (model [8, 3, 7, 7]) of conv1.weight"), "%s",
              err.msg);
    features(b, be, fb, 2 * 64);
    cr_assert_eq(memcmp(fa, fb, sizeof fa), 0, "a failed strict load changed the model");
    /* A classifier checkpoint into a backbone without one: strict names the
     * unexpected keys; non-strict loads the rest. */
    biqa_model_options cls = {.num_classes = 5, .seed = 1};
    biqa_model *with_fc = biqa_model_create("resnet18-w0.125", &cls, be, &err);
    cr_assert_eq(biqa_model_save(with_fc, path, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_model_load(b, path, 1, &err), -1);
    cr_assert(strstr(err.msg, "unexpected fc.weight; unexpected fc.bias"), "%s", err.msg);
    cr_assert_eq(biqa_model_load(b, path, 0, &err), 0, "%s", err.msg);
    features(b, be, fb, 2 * 64);
    cr_assert_eq(memcmp(fa, fb, sizeof fa), 0, "same seed, same backbone weights");
    unlink(path);
    biqa_model_destroy(with_fc);
    biqa_model_destroy(wide);
    biqa_model_destroy(a);
    biqa_model_destroy(b);
    biqa_backend_destroy(be);
}

Test(model, input_checks)
{
    biqa_backend *be = ref();
    biqa_error err = {{0}};
    biqa_model *m = biqa_model_create("resnet18-w0.125", NULL, be, &err);
    float x[1 * 4 * 32 * 32] = {0};
    biqa_tensor four = biqa_view(x, 1, 4, 32, 32), small = biqa_view(x, 1, 3, 16, 16);
    const biqa_tensor *f;
    cr_assert_eq(biqa_model_forward(m, &four, &f, NULL, &err), -1);
    cr_assert_str_eq(err.msg, "model input has 4 channels, not 3");
    cr_assert_eq(biqa_model_forward(m, &small, &f, NULL, &err), -1);
    cr_assert(strstr(err.msg, "smaller than 32 x 32"), "%s", err.msg);
    cr_assert_eq(biqa_model_backward(m, NULL, NULL, &err), -1);
    biqa_model_destroy(m);
    biqa_backend_destroy(be);
}
