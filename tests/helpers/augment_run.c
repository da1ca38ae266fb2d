/* Runs the colour/geometry ops of datasets/augment.h on one image for
 * tests/ref/augment_vs_torchvision.py:
 *   augment_run IN OUT.f32 S X Y W H [OP VALUE]...
 * crops box (X, Y, W, H) of IN and resizes it to S x S (to_tensor +
 * resized_crop), then applies each OP in order: brightness F, contrast F,
 * saturation F, hue F, gray 0, blur SIGMA (kernel biqa_blur_ksize(SIGMA, S),
 * printed). Writes the float32 CHW image in [0, 1] (before normalisation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/augment.h"

int main(int argc, char **argv)
{
    if (argc < 8 || (argc - 8) % 2) {
        fprintf(stderr, "usage: augment_run IN OUT.f32 S X Y W H [OP VALUE]...\n");
        return 2;
    }
    biqa_image im;
    biqa_error err;
    if (biqa_image_read(argv[1], &im, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const int S = atoi(argv[3]), hw = S * S;
    biqa_box box = {atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7])};
    if (S < 8 || box.x < 0 || box.y < 0 || box.w < 1 || box.h < 1 || box.x + box.w > im.w ||
        box.y + box.h > im.h) {
        fprintf(stderr, "augment_run: bad size or box\n");
        return 2;
    }
    float *v = malloc(3 * (size_t)hw * sizeof *v), *tmp = malloc((size_t)hw * sizeof *tmp);
    biqa_resized_crop(&im, box, S, v);
    for (int i = 8; i + 1 < argc; i += 2) {
        const char *op = argv[i];
        float f = strtof(argv[i + 1], NULL);
        if (strcmp(op, "brightness") == 0)
            biqa_adjust_brightness(v, hw, f);
        else if (strcmp(op, "contrast") == 0)
            biqa_adjust_contrast(v, hw, f);
        else if (strcmp(op, "saturation") == 0)
            biqa_adjust_saturation(v, hw, f);
        else if (strcmp(op, "hue") == 0)
            biqa_adjust_hue(v, hw, f);
        else if (strcmp(op, "gray") == 0)
            biqa_grayscale(v, hw);
        else if (strcmp(op, "blur") == 0) {
            int k = biqa_blur_ksize(f, S);
            printf("ksize %d\n", k);
            biqa_gaussian_blur(v, S, S, k, f, tmp);
        } else {
            fprintf(stderr, "augment_run: unknown op '%s'\n", op);
            return 2;
        }
    }
    FILE *out = fopen(argv[2], "wb");
    int ok = out && fwrite(v, sizeof *v, 3 * (size_t)hw, out) == 3 * (size_t)hw;
    if (out)
        ok &= fclose(out) == 0;
    free(v), free(tmp);
    biqa_image_free(&im);
    if (!ok)
        fprintf(stderr, "augment_run: cannot write %s\n", argv[2]);
    return ok ? 0 : 1;
}
