/* datasets/labels.h and datasets/splits_import.h: normalisation and
 * direction, reference modes, images missing on disk reported by name,
 * malformed label files rejected with FILE:LINE, names matched ignoring case,
 * a user's own CSV, and imported splits joined by name (LIVE
 * Challenge's 7-row offset included). Format fidelity against Python's
 * readers: tests/ref/labels_vs_python.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/labels.h"
#include "datasets/labels_parse.h"
#include "datasets/splits_import.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-labels-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_at(const char *rel, const char *text)
{
    char path[256], cmd[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void touch(const char *rel) { write_at(rel, "x"); }

static biqa_label_spec spec_of(const char *parser, const char *file, double lo, double hi)
{
    return (biqa_label_spec){.parser = parser, .file = file, .mos_lo = lo, .mos_hi = hi,
                             .higher_better = 1};
}

static int read_labels(const biqa_label_spec *spec, biqa_index *idx, size_t *n_missing,
                       char ***missing, biqa_error *e)
{
    biqa_index_init(idx, "test", NULL);
    return biqa_labels_read(dir, spec, idx, n_missing, missing, e);
}

/* The label file fails with a message holding every needle; the index stays empty. */
static void rejects(const biqa_label_spec *spec, const char *n1, const char *n2)
{
    biqa_index idx;
    biqa_error e = {{0}};
    size_t nm = 7;
    cr_assert_eq(read_labels(spec, &idx, &nm, NULL, &e), -1, "expected '%s'", n1);
    cr_assert(strstr(e.msg, n1) && (!n2 || strstr(e.msg, n2)), "'%s' lacks '%s' / '%s'", e.msg,
              n1, n2 ? n2 : "");
    cr_assert_eq(idx.n, 0);
    cr_assert_eq(nm, 0);
    biqa_index_free(&idx);
}

static const biqa_index_item *item(const biqa_index *idx, const char *name)
{
    for (size_t i = 0; i < idx->n; i++)
        if (!strcmp(idx->items[i].name, name))
            return &idx->items[i];
    cr_assert_fail("no item '%s'", name);
    return NULL;
}

Test(labels, parser_names)
{
    const char *const *p = biqa_label_parsers();
    const char *want[] = {"pyiqa-csv", "koniq-csv", "kadid-csv", "flive-csv", "pipal-csv",
                          "biqa-csv",  "tid-txt",   "livec-mat", "live-mat",  "csiq-xlsx",
                          "spaq-xlsx", "bid-xlsx"};
    size_t n = 0;
    while (p[n])
        n++;
    cr_assert_eq(n, sizeof want / sizeof *want);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(p[i], want[i]);
    biqa_label_spec s = spec_of("matlab", "x", 0, 1);
    rejects(&s, "label parser 'matlab' is unknown", "tid-txt");
    s = spec_of("biqa-csv", "x.csv", 2, 2);
    rejects(&s, "x.csv: declared MOS range [2, 2] is empty", NULL);
}

Test(labels, missing_images_reported_by_name_in_label_order, .init = setup, .fini = teardown)
{
    write_at("index.csv", "image,mos\nb.png,2\nsub/a.png,4\nc.png,3\nd.png,1\n");
    touch("img/sub/a.png");
    touch("img/c.png");
    biqa_label_spec s = spec_of("biqa-csv", "index.csv", 1, 5);
    s.image_dir = "img";
    biqa_index idx;
    biqa_error e = {{0}};
    size_t nm;
    char **missing;
    cr_assert_eq(read_labels(&s, &idx, &nm, &missing, &e), 0, "%s", e.msg);
    cr_assert_eq(nm, 2);
    cr_assert_str_eq(missing[0], "b.png");
    cr_assert_str_eq(missing[1], "d.png");
    cr_assert_eq(idx.n, 2, "missing images leave the index");
    char want[256];
    snprintf(want, sizeof want, "%s/img/sub/a.png", dir);
    cr_assert_str_eq(item(&idx, "sub/a.png")->path, want);
    cr_assert_float_eq(item(&idx, "c.png")->mos, 0.5, 1e-15);
    snprintf(want, sizeof want, "%s/index.csv", dir);
    cr_assert_str_eq(idx.source, want);
    biqa_labels_free_names(missing, nm);
    biqa_index_free(&idx);
    cr_assert_eq(read_labels(&s, &idx, &nm, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(nm, 2, "counted without a list too");
    biqa_index_free(&idx);
    s.image_dir = "nowhere";
    rejects(&s, "index.csv: none of the 4 images it lists exists", "nowhere/b.png");
}

Test(labels, direction_std_and_reference_modes, .init = setup, .fini = teardown)
{
    write_at("l.csv", "image,mos,std,ref,distortion\nI01_02_3.png,20,5,r1,blur\n"
                      "I02_01_1.png,80,,r2,\n");
    touch("I01_02_3.png");
    touch("I02_01_1.png");
    biqa_label_spec s = spec_of("biqa-csv", "l.csv", 0, 100);
    s.higher_better = 0;
    biqa_index idx;
    biqa_error e = {{0}};
    size_t nm;
    cr_assert_eq(read_labels(&s, &idx, &nm, NULL, &e), 0, "%s", e.msg);
    const biqa_index_item *a = item(&idx, "I01_02_3.png"), *b = item(&idx, "I02_01_1.png");
    cr_assert_float_eq(a->mos, 0.8, 1e-15, "DMOS 20 of 0..100: 0.8 on the better-is-higher scale");
    cr_assert_float_eq(a->std, 0.05, 1e-15);
    cr_assert(isnan(b->std), "an empty std cell is unknown");
    cr_assert_str_eq(a->ref, "r1");
    cr_assert_str_eq(a->distortion, "blur");
    cr_assert_null(b->distortion);
    cr_assert_eq(idx.higher_better, 0);
    biqa_index_free(&idx);
    s.ref_mode = BIQA_REF_NONE;
    cr_assert_eq(read_labels(&s, &idx, &nm, NULL, &e), 0, "%s", e.msg);
    cr_assert_null(idx.items[0].ref);
    biqa_index_free(&idx);
    s.ref_mode = BIQA_REF_PREFIX;
    cr_assert_eq(read_labels(&s, &idx, &nm, NULL, &e), 0, "%s", e.msg);
    cr_assert_str_eq(item(&idx, "I01_02_3.png")->ref, "i01");
    biqa_index_free(&idx);
}

Test(labels, malformed_csv_names_file_and_line, .init = setup, .fini = teardown)
{
    touch("a.png"), touch("b.png"), touch("c.png");
    static const struct {
        const char *text, *line, *needle;
    } cases[] = {
        {"name,mos\na.png,1\nb.png,x1\n", "m.csv:3", "'x1' is not a finite number"},
        {"name,mos\na.png,1\nb.png,nan\n", "m.csv:3", "'nan' is not a finite number"},
        {"name,mos,std\na.png,1,1\nb.png,2\n", "m.csv:3", "expected 3 fields, found 2"},
        {"name,mos\na.png,1\n\"b.png,2\nc.png,3\n", "m.csv:3", "unterminated quoted field"},
        {"name,mos\na.png,1\nb.png,5.5\n", "m.csv:3", "MOS 5.5 outside the declared range [0, 5]"},
        {"name,mos\nb.png,1\nc.png,2\nb.png,3\n", "m.csv:4", "listed twice (first at"},
        {"name,mos,std\na.png,1,-2\n", "m.csv:2", "column 'std': -2 is negative"},
        {"name,mos\n,1\n", "m.csv:2", "the image name is empty"},
        {"image,mos\na.png,1\n", "m.csv", "no column 'dist_name' (columns: 'image', 'mos')"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_at("m.csv", cases[i].text);
        biqa_label_spec s = spec_of("pyiqa-csv", "m.csv", 0, 5);
        rejects(&s, cases[i].line, cases[i].needle);
    }
    write_at("dmos.csv", "dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,3,-1\n");
    biqa_label_spec s = spec_of("kadid-csv", "dmos.csv", 1, 5);
    rejects(&s, "dmos.csv:2", "column 'var': -1 is negative");
    write_at("p.txt", "A0001_00_00.bmp,1500\nA0001_01_00.bmp 1400\n");
    s = spec_of("pipal-csv", "p.txt", 0, 2000);
    rejects(&s, "p.txt:2", "expected '<image>,<score>'");
    s = spec_of("koniq-csv", "absent.csv", 1, 5);
    rejects(&s, "absent.csv", NULL);
}

Test(labels, kadid_variance_reference_and_distortion, .init = setup, .fini = teardown)
{
    write_at("dmos.csv", "dist_img,ref_img,dmos,var\nI01_03_05.png,I01.png,3,0.25\n"
                         "I02_25_01.png,I02.png,5,0\n");
    touch("images/I01_03_05.png"), touch("images/I02_25_01.png");
    biqa_label_spec s = spec_of("kadid-csv", "dmos.csv", 1, 5);
    s.image_dir = "images";
    biqa_index idx;
    biqa_error e = {{0}};
    size_t nm;
    cr_assert_eq(read_labels(&s, &idx, &nm, NULL, &e), 0, "%s", e.msg);
    const biqa_index_item *a = item(&idx, "I01_03_05.png");
    cr_assert_float_eq(a->mos, 0.5, 1e-15);
    cr_assert_float_eq(a->std, 0.125, 1e-15, "std = sqrt(var) = 0.5, over a range of 4");
    cr_assert_str_eq(a->ref, "I01");
    cr_assert_str_eq(a->distortion, "03:5");
    cr_assert_float_eq(item(&idx, "I02_25_01.png")->mos, 1, 1e-15);
    biqa_index_free(&idx);
}

Test(labels, tid_names_match_files_ignoring_case, .init = setup, .fini = teardown)
{
    write_at("mos_with_names.txt", "5.5 i01_01_1.bmp\r\n\r\n4.25 i25_08_5.bmp\r\n0 i02_01_1.bmp\r\n");
    write_at("mos_std.txt", "0.5\n0.25\n0.125\n");
    touch("d/I01_01_1.BMP");
    touch("d/i25_08_5.bmp");
    touch("d/I02_01_1.bmp"), touch("d/i02_01_1.BMP"); /* two candidates: ambiguous, missing */
    biqa_label_spec s = spec_of("tid-txt", "mos_with_names.txt", 0, 9);
    s.image_dir = "d";
    biqa_index idx;
    biqa_error e = {{0}};
    size_t nm;
    char **missing;
    cr_assert_eq(read_labels(&s, &idx, &nm, &missing, &e), 0, "%s", e.msg);
    cr_assert_eq(idx.n, 2);
    char want[256];
    snprintf(want, sizeof want, "%s/d/I01_01_1.BMP", dir);
    const biqa_index_item *a = item(&idx, "i01_01_1.bmp");
    cr_assert_str_eq(a->path, want);
    cr_assert_str_eq(a->ref, "i01");
    cr_assert_str_eq(a->distortion, "01:1");
    cr_assert_float_eq(a->std, 0.5 / 9, 1e-15);
    cr_assert_float_eq(item(&idx, "i25_08_5.bmp")->std, 0.25 / 9, 1e-15);
    cr_assert_eq(nm, 1);
    cr_assert_str_eq(missing[0], "i02_01_1.bmp");
    biqa_labels_free_names(missing, nm);
    biqa_index_free(&idx);
    write_at("mos_std.txt", "0.5\n0.25\n");
    rejects(&s, "mos_with_names.txt:4", "mos_std.txt has 2 values");
    write_at("mos_std.txt", "0.5\n0.25\n0.1\n0.1\n");
    rejects(&s, "mos_std.txt: 4 values for the 3 rows", NULL);
    write_at("mos_std.txt", "0.5\nlow\n0.1\n");
    rejects(&s, "mos_std.txt:2", "'low'");
    write_at("mos_std.txt", "0.5\n0.25\n0.1\n");
    write_at("mos_with_names.txt", "5.5 i01_01_1.bmp\n4.25\n");
    rejects(&s, "mos_with_names.txt:2", "expected '<mos> <image name>'");
    write_at("mos_with_names.txt", "5.5 i01_01_1.bmp extra\n");
    rejects(&s, "mos_with_names.txt:1", "more fields");
}

Test(labels, biqa_csv_quoting_and_verbatim_refs, .init = setup, .fini = teardown)
{
    write_at("l.csv", "image,mos,std,ref,chain\n\"a,\"\"q\"\".png\",2,0.5,\"r,1.5\",jpeg:3\n"
                      "b.png,4,,,\n");
    touch("a,\"q\".png"), touch("b.png");
    biqa_label_spec s = spec_of("biqa-csv", "l.csv", 1, 5);
    biqa_index idx;
    biqa_error e = {{0}};
    size_t nm;
    cr_assert_eq(read_labels(&s, &idx, &nm, NULL, &e), 0, "%s", e.msg);
    const biqa_index_item *a = item(&idx, "a,\"q\".png"), *b = item(&idx, "b.png");
    cr_assert_float_eq(a->mos, 0.25, 1e-15);
    cr_assert_float_eq(a->std, 0.125, 1e-15);
    cr_assert_str_eq(a->ref, "r,1.5", "a biqa-csv ref is an id, not a file name");
    cr_assert_str_eq(a->distortion, "jpeg:3", "the synthetic benchmark's chain column");
    cr_assert(isnan(b->std) && !b->ref && !b->distortion);
    biqa_index_free(&idx);
}

Test(labels, name_helpers)
{
    char tl[32];
    cr_assert_eq(label_type_level("I01_03_05.png", tl, sizeof tl), 1);
    cr_assert_str_eq(tl, "03:5");
    cr_assert_eq(label_type_level("dir/i25_24_5.bmp", tl, sizeof tl), 1);
    cr_assert_str_eq(tl, "24:5");
    cr_assert_eq(label_type_level("img1.bmp", tl, sizeof tl), 0);
    cr_assert_eq(label_type_level("a__.png", tl, sizeof tl), 0);
    char *s = label_stem("refimgs/bikes.bmp");
    cr_assert_str_eq(s, "bikes");
    free(s);
    s = label_stem(".hidden");
    cr_assert_str_eq(s, ".hidden");
    free(s);
    s = label_name_prefix("distorted/I25_01_1.BMP", 1);
    cr_assert_str_eq(s, "i25");
    free(s);
    s = label_name_prefix("A0001_00_00.bmp", 0);
    cr_assert_str_eq(s, "A0001");
    free(s);
}

/* ---- split import ------------------------------------------------------------ */

/* names[i] with refs[i] (NULL: none), MOS 1..5. */
static void make_index(biqa_index *idx, const char *const *names, const char *const *refs, int n)
{
    biqa_index_init(idx, "test", "test.csv");
    biqa_error e = {{0}};
    for (int i = 0; i < n; i++)
        cr_assert_eq(biqa_index_add(idx, names[i], names[i], 1 + i % 5, NAN,
                                    refs ? refs[i] : NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_index_normalise(idx, 1, 5, 1, &e), 0, "%s", e.msg);
}

static const char *part_of(const biqa_index *idx, const biqa_split *s, const char *name)
{
    for (size_t i = 0; i < idx->n; i++)
        if (!strcmp(idx->items[i].name, name))
            return biqa_part_name((enum biqa_part)s->part[i]);
    return NULL;
}

Test(splits_import, pyiqa_joined_by_name_past_livec_training_rows, .init = setup, .fini = teardown)
{
    /* the labels dropped t1..t7; pyiqa's CSV still starts with them */
    const char *names[] = {"10.bmp", "11.bmp", "12.bmp", "13.bmp", "14.bmp",
                           "15.bmp", "16.bmp", "17.bmp", "18.bmp", "19.JPG"};
    biqa_index idx;
    make_index(&idx, names, NULL, 10);
    write_at("meta.csv",
             "name,mos,ratio802_seed123_split_01\nt1.bmp,1,val\nt2.bmp,1,val\nt3.bmp,1,val\n"
             "t4.bmp,1,val\nt5.bmp,1,val\nt6.bmp,1,val\nt7.bmp,1,val\n"
             "19.jpg,1,val\n18.bmp,1,train\n17.bmp,1,train\n16.bmp,1,train\n15.bmp,1,train\n"
             "14.bmp,1,train\n13.bmp,1,train\n12.bmp,1,train\n11.bmp,1,train\n10.bmp,1,val\n");
    char csv[256];
    snprintf(csv, sizeof csv, "%s/meta.csv", dir);
    biqa_split s, s2;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_split_import_pyiqa(&idx, csv, 1, 0, 1, &s, &e), 0, "%s", e.msg);
    cr_assert_str_eq(s.id, "pyiqa01");
    cr_assert_eq(s.k, 0);
    cr_assert_str_eq(part_of(&idx, &s, "10.bmp"), "test", "pyiqa's val is the test part");
    cr_assert_str_eq(part_of(&idx, &s, "19.JPG"), "test", "a name matched ignoring case");
    cr_assert_str_eq(part_of(&idx, &s, "11.bmp"), "train");
    cr_assert_eq(s.count[BIQA_PART_TEST], 2);
    cr_assert_eq(s.count[BIQA_PART_VAL], 0);
    biqa_split_free(&s);

    cr_assert_eq(biqa_split_import_pyiqa(&idx, csv, 1, 0.25, 4, &s, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_split_import_pyiqa(&idx, csv, 1, 0.25, 4, &s2, &e), 0, "%s", e.msg);
    cr_assert_str_eq(s.hash, s2.hash, "deterministic");
    cr_assert_eq(s.count[BIQA_PART_VAL], 2, "round(8 train images x 0.25)");
    cr_assert_eq(s.count[BIQA_PART_TEST], 2, "val is carved from train, never from test");
    cr_assert_str_eq(part_of(&idx, &s, "10.bmp"), "test");
    biqa_split_free(&s), biqa_split_free(&s2);
    biqa_index_free(&idx);
}

Test(splits_import, validation_carved_by_reference, .init = setup, .fini = teardown)
{
    const char *names[] = {"a_1.png", "a_2.png", "b_1.png", "b_2.png", "c_1.png", "c_2.png",
                           "d_1.png", "d_2.png"};
    const char *refs[] = {"a", "a", "b", "b", "c", "c", "d", "d"};
    biqa_index idx;
    make_index(&idx, names, refs, 8);
    write_at("fr.csv", "ref_name,dist_name,dmos,ratio802_seed123_split_02\n"
                       "a,a_1.png,1,train\na,a_2.png,1,train\nb,b_1.png,1,train\nb,b_2.png,1,train\n"
                       "c,c_1.png,1,train\nc,c_2.png,1,train\nd,d_1.png,1,val\nd,d_2.png,1,val\n");
    char csv[256];
    snprintf(csv, sizeof csv, "%s/fr.csv", dir);
    for (uint64_t seed = 1; seed <= 8; seed++) {
        biqa_split s;
        biqa_error e = {{0}};
        cr_assert_eq(biqa_split_import_pyiqa(&idx, csv, 2, 0.3, seed, &s, &e), 0, "%s", e.msg);
        cr_assert_eq(s.count[BIQA_PART_VAL], 2, "one reference of three: both its images");
        for (int i = 0; i < 8; i += 2)
            cr_assert_eq(s.part[i], s.part[i + 1], "seed %d: reference %s straddles parts",
                         (int)seed, refs[i]);
        cr_assert_eq(s.part[6], BIQA_PART_TEST);
        biqa_split_free(&s);
    }
    biqa_index_free(&idx);
}

static void split_rejects(int rc, const biqa_error *e, const char *n1, const char *n2)
{
    cr_assert_eq(rc, -1, "expected '%s'", n1);
    cr_assert(strstr(e->msg, n1) && (!n2 || strstr(e->msg, n2)), "'%s' lacks '%s'", e->msg, n1);
}

Test(splits_import, malformed_split_sources, .init = setup, .fini = teardown)
{
    const char *names[] = {"a.png", "b.png", "c.png", "d.png"};
    biqa_index idx;
    make_index(&idx, names, NULL, 4);
    char csv[256], list[256];
    snprintf(csv, sizeof csv, "%s/s.csv", dir);
    snprintf(list, sizeof list, "%s/test.txt", dir);
    biqa_split s;
    biqa_error e = {{0}};
    write_at("s.csv", "name,ratio802_seed123_split_01\na.png,train\nb.png,dev\n");
    split_rejects(biqa_split_import_pyiqa(&idx, csv, 1, 0.1, 1, &s, &e), &e, "s.csv:3",
                  "'dev' is not train or val");
    write_at("s.csv", "name,ratio802_seed123_split_01\na.png,train\nb.png,val\nA.PNG,val\n");
    split_rejects(biqa_split_import_pyiqa(&idx, csv, 1, 0.1, 1, &s, &e), &e, "s.csv:4",
                  "image 'A.PNG' is listed twice");
    write_at("s.csv", "name,ratio802_seed123_split_01\na.png,train\nb.png,val\nc.png,train\n");
    split_rejects(biqa_split_import_pyiqa(&idx, csv, 1, 0.1, 1, &s, &e), &e, "s.csv",
                  "1 images of the index have no row (first: 'd.png')");
    split_rejects(biqa_split_import_pyiqa(&idx, csv, 3, 0.1, 1, &s, &e), &e, "s.csv",
                  "no column 'ratio802_seed123_split_03'");
    split_rejects(biqa_split_import_pyiqa(&idx, csv, 0, 0.1, 1, &s, &e), &e, "s.csv",
                  "pyiqa split 0 is not 1..99");
    write_at("s.csv", "name,ratio802_seed123_split_01\na.png,train\nb.png,val\nc.png,val\n"
                      "d.png,val\n");
    split_rejects(biqa_split_import_pyiqa(&idx, csv, 1, 0.1, 1, &s, &e), &e, "test.csv",
                  "1 training images are too few");
    write_at("test.txt", "# FLIVE test images\nname\n\nx.png\n");
    split_rejects(biqa_split_import_test_list(&idx, list, 0.1, 1, &s, &e), &e, "test.txt",
                  "none of its names is an image of the index");
    write_at("test.txt", "a.png\nb.png\na.png\n");
    split_rejects(biqa_split_import_test_list(&idx, list, 0.1, 1, &s, &e), &e, "test.txt:3",
                  "listed twice");
    biqa_index_free(&idx);
}

Test(splits_import, official_sets_keep_their_validation_part, .init = setup, .fini = teardown)
{
    const char *names[] = {"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"};
    biqa_index idx;
    make_index(&idx, names, NULL, 6);
    char csv[256], list[256];
    snprintf(csv, sizeof csv, "%s/sets.csv", dir);
    snprintf(list, sizeof list, "%s/test.txt", dir);
    write_at("sets.csv", "\"image_name\",\"set\"\n\"f.jpg\",\"test\"\n\"e.jpg\",\"validation\"\n"
                         "\"a.jpg\",\"training\"\n\"b.jpg\",\"training\"\n\"c.jpg\",\"training\"\n"
                         "\"d.jpg\",\"training\"\n");
    biqa_split s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_split_import_official(&idx, csv, "image_name", "set", 0.5, 1, &s, &e), 0,
                 "%s", e.msg);
    cr_assert_str_eq(s.id, "official");
    cr_assert_str_eq(part_of(&idx, &s, "e.jpg"), "val");
    cr_assert_str_eq(part_of(&idx, &s, "f.jpg"), "test");
    cr_assert_eq(s.count[BIQA_PART_TRAIN], 4, "an official val part: nothing carved");
    biqa_split_free(&s);
    write_at("test.txt", "name\nf.jpg\n  e.jpg  \n# comment\n");
    cr_assert_eq(biqa_split_import_test_list(&idx, list, 0.25, 1, &s, &e), 0, "%s", e.msg);
    cr_assert_eq(s.count[BIQA_PART_TEST], 2);
    cr_assert_eq(s.count[BIQA_PART_VAL], 1, "round(4 x 0.25)");
    cr_assert_eq(s.count[BIQA_PART_TRAIN], 3);
    biqa_split_free(&s);
    biqa_index_free(&idx);
}
