/* Reads a dataset's labels with biqa_labels_read and prints the normalised
 * index, the missing images and optionally an imported split, for
 * tests/ref/labels_vs_python.py to compare with what Python computes.
 *
 *   labels_run DIR PARSER FILE [options]
 *     --images SUB       image folder under DIR
 *     --range LO HI      declared raw MOS range (default 0 1)
 *     --dmos             lower raw scores are better
 *     --sheet NAME       xlsx sheet
 *     --ref-mode none|prefix
 *     --std-var          the std column holds a variance
 *     --pyiqa CSV NN     import pyiqa split column NN
 *     --official CSV NAMECOL SETCOL
 *     --test-list FILE
 *     --val F --seed S   validation carving (default 0.1, 1)
 *
 * Output, tab separated: "item name mos std ref distortion path" per index
 * row (%.17g; std "nan", ref/distortion "-" when absent), "missing name",
 * then "split id hash" and "part name part". Errors: "error: MSG" on
 * stderr, exit 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/labels.h"
#include "datasets/splits_import.h"

static int usage(void)
{
    fprintf(stderr, "usage: labels_run DIR PARSER FILE [--images SUB] [--range LO HI] [--dmos] "
                    "[--sheet S] [--ref-mode none|prefix] [--std-var] [--pyiqa CSV NN | "
                    "--official CSV NAMECOL SETCOL | --test-list FILE] [--val F] [--seed S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    biqa_label_spec spec = {.parser = argv[2], .file = argv[3], .mos_lo = 0, .mos_hi = 1,
                            .higher_better = 1};
    const char *split_kind = NULL, *split_a = NULL, *split_b = NULL, *split_c = NULL;
    double val = 0.1;
    unsigned long long seed = 1;
    for (int i = 4; i < argc; i++) {
        const char *o = argv[i];
        int left = argc - i - 1;
        if (!strcmp(o, "--images") && left >= 1)
            spec.image_dir = argv[++i];
        else if (!strcmp(o, "--range") && left >= 2)
            spec.mos_lo = atof(argv[i + 1]), spec.mos_hi = atof(argv[i + 2]), i += 2;
        else if (!strcmp(o, "--dmos"))
            spec.higher_better = 0;
        else if (!strcmp(o, "--sheet") && left >= 1)
            spec.sheet = argv[++i];
        else if (!strcmp(o, "--ref-mode") && left >= 1)
            spec.ref_mode = !strcmp(argv[++i], "none") ? BIQA_REF_NONE : BIQA_REF_PREFIX;
        else if (!strcmp(o, "--std-var"))
            spec.std_is_variance = 1;
        else if (!strcmp(o, "--pyiqa") && left >= 2)
            split_kind = o, split_a = argv[i + 1], split_b = argv[i + 2], i += 2;
        else if (!strcmp(o, "--official") && left >= 3)
            split_kind = o, split_a = argv[i + 1], split_b = argv[i + 2], split_c = argv[i + 3],
            i += 3;
        else if (!strcmp(o, "--test-list") && left >= 1)
            split_kind = o, split_a = argv[++i];
        else if (!strcmp(o, "--val") && left >= 1)
            val = atof(argv[++i]);
        else if (!strcmp(o, "--seed") && left >= 1)
            seed = strtoull(argv[++i], NULL, 10);
        else
            return usage();
    }
    biqa_index idx;
    biqa_index_init(&idx, "test", NULL);
    biqa_error e = {{0}};
    size_t n_missing;
    char **missing;
    if (biqa_labels_read(argv[1], &spec, &idx, &n_missing, &missing, &e) < 0) {
        fprintf(stderr, "error: %s\n", e.msg);
        biqa_index_free(&idx);
        return 1;
    }
    for (size_t i = 0; i < idx.n; i++) {
        const biqa_index_item *it = &idx.items[i];
        printf("item\t%s\t%.17g\t%.17g\t%s\t%s\t%s\n", it->name, it->mos, it->std,
               it->ref ? it->ref : "-", it->distortion ? it->distortion : "-", it->path);
    }
    for (size_t i = 0; i < n_missing; i++)
        printf("missing\t%s\n", missing[i]);
    biqa_labels_free_names(missing, n_missing);
    int rc = 0;
    if (split_kind) {
        biqa_split s;
        if (!strcmp(split_kind, "--pyiqa"))
            rc = biqa_split_import_pyiqa(&idx, split_a, atoi(split_b), val, seed, &s, &e);
        else if (!strcmp(split_kind, "--official"))
            rc = biqa_split_import_official(&idx, split_a, split_b, split_c, val, seed, &s, &e);
        else
            rc = biqa_split_import_test_list(&idx, split_a, val, seed, &s, &e);
        if (rc == 0) {
            printf("split\t%s\t%s\n", s.id, s.hash);
            for (size_t i = 0; i < idx.n; i++)
                printf("part\t%s\t%s\n", idx.items[i].name,
                       biqa_part_name((enum biqa_part)s.part[i]));
            biqa_split_free(&s);
        } else {
            fprintf(stderr, "error: %s\n", e.msg);
        }
    }
    biqa_index_free(&idx);
    return rc < 0 ? 1 : 0;
}
