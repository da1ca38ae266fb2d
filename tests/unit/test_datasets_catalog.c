/* The dataset catalogue's library parts, in-process (and under ASan+UBSan):
 * manifests (every built-in loads; malformed ones fail naming the field),
 * a fetched dataset's index.csv (written, read back, quoting), the local
 * state (absent -> partial -> verified -> corrupt) and pinned digests. The
 * whole fetch/import/verify path is tests/cli/test_datasets_real.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/digest.h"
#include "datasets/dataset_state.h"
#include "datasets/index.h"
#include "datasets/manifest.h"

Test(datasets_catalog, every_builtin_manifest_loads)
{
    cr_assert_geq(biqa_manifest_builtin_count(), 12);
    for (size_t i = 0; i < biqa_manifest_builtin_count(); i++) {
        biqa_manifest m;
        biqa_error e = {{0}};
        const char *name = biqa_manifest_builtin_name(i);
        cr_assert_eq(biqa_manifest_load_builtin(name, &m, &e), 0, "%s", e.msg);
        cr_assert_str_eq(m.name, name);
        cr_assert(m.builtin);
        if (m.kind == BIQA_MANIFEST_DOWNLOAD) {
            cr_assert_gt(m.n_sources, 0, "%s", name);
            cr_assert_gt(m.images, 0, "%s", name);
            for (int s = 0; s < m.n_sources; s++)
                cr_assert(m.sources[s].manual || m.sources[s].n_files > 0, "%s", name);
        }
        biqa_manifest_free(&m);
    }
    biqa_manifest m;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_manifest_load_builtin("koniq", &m, &e), -1);
    cr_assert(strstr(e.msg, "no dataset called 'koniq'") && strstr(e.msg, "koniq10k"), "%s",
              e.msg);
}

/* A small valid manifest, edited by each case below. */
static const char good[] =
    "{\"format\": 1, \"name\": \"tiny\", \"title\": \"Tiny\", \"kind\": \"download\",\n"
    " \"licence\": \"none\", \"images\": 2, \"references\": null,\n"
    " \"sources\": [{\"name\": \"main\", \"files\": [{\"file\": \"t.tgz\",\n"
    "   \"urls\": [\"http://127.0.0.1/t.tgz\"], \"bytes\": 10, \"sha256\": \"unknown\",\n"
    "   \"format\": \"tgz\"}],\n"
    "  \"labels\": {\"parser\": \"biqa-csv\", \"file\": \"t/labels.csv\", \"image_dir\": \"t\",\n"
    "   \"mos_range\": [1, 5], \"higher_better\": true}}]}";

static void edit(char *out, size_t n, const char *from, const char *to)
{
    const char *at = strstr(good, from);
    cr_assert_not_null(at, "'%s' not in the sample", from);
    snprintf(out, n, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
}

Test(datasets_catalog, malformed_manifests_name_the_field)
{
    static const struct {
        const char *from, *to, *message;
    } cases[] = {
        {"\"unknown\"", "\"abc\"", "tiny.json: sources[0].files[0].sha256: not 64 lowercase hex"},
        {"\"title\"", "\"titel\"", "tiny.json: titel: unknown field"},
        {"\"format\": 1,", "\"format\": 2,", "tiny.json: format: version 2 is not supported"},
        {"\"name\": \"tiny\"", "\"name\": \"Tiny\"", "tiny.json: name: 'Tiny' must be lowercase"},
        {"\"kind\": \"download\"", "\"kind\": \"stream\"", "tiny.json: kind: 'stream'"},
        {"\"licence\": \"none\", ", "", "tiny.json: licence: missing"},
        {"\"images\": 2", "\"images\": 0", "tiny.json: images: 0 is not an integer >= 1"},
        {"\"file\": \"t.tgz\"", "\"file\": \"a/t.tgz\"", "sources[0].files[0].file: 'a/t.tgz'"},
        {"\"http://127.0.0.1/t.tgz\"", "\"gopher://x\"", "sources[0].files[0].urls[0]: 'gopher"},
        {"\"bytes\": 10", "\"bytes\": \"ten\"", "sources[0].files[0].bytes: 'ten' is neither"},
        {"\"format\": \"tgz\"", "\"format\": \"arj\"", "sources[0].files[0].format: 'arj'"},
        {"\"parser\": \"biqa-csv\"", "\"parser\": \"x\"", "sources[0].labels.parser: unknown"},
        {"\"t/labels.csv\"", "\"/t/labels.csv\"", "sources[0].labels.file: '/t/labels.csv' is "
                                                  "absolute"},
        {"\"image_dir\": \"t\"", "\"image_dir\": \"t/../..\"", "sources[0].labels.image_dir"},
        {"[1, 5]", "[5, 1]", "sources[0].labels.mos_range: [5, 1] is empty"},
        {"\"higher_better\": true", "\"higher_better\": 1", "labels.higher_better: not true or"},
        {"\"name\": \"main\",", "\"name\": \"main\", \"name\": \"x\",", "sources[0].name: given "
                                                                        "twice"},
        {"\"urls\": [\"http://127.0.0.1/t.tgz\"]", "\"urls\": []",
         "sources[0].files[0].urls: empty (a source without URLs must say \"manual\": true)"},
        {"\"format\": 1,", "\"format\": 1,,", "tiny.json:1: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048];
        edit(text, sizeof text, cases[i].from, cases[i].to);
        biqa_manifest m;
        biqa_error e = {{0}};
        cr_assert_eq(biqa_manifest_parse("tiny.json", text, strlen(text), &m, &e), -1,
                     "case %zu passed: %s", i, text);
        cr_assert(strstr(e.msg, cases[i].message), "case %zu: want '%s', got '%s'", i,
                  cases[i].message, e.msg);
    }
    biqa_manifest m;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_manifest_parse("tiny.json", good, strlen(good), &m, &e), 0, "%s", e.msg);
    cr_assert_null(m.sources[0].files[0].sha256, "\"unknown\" is NULL");
    cr_assert_eq(m.sources[0].files[0].bytes, 10);
    cr_assert_eq(m.references, -1);
    biqa_manifest_free(&m);
}

Test(datasets_catalog, index_csv_reads_back_what_was_written)
{
    char dir[] = "/tmp/biqa-catalog-XXXXXX", path[256], img[256];
    cr_assert_not_null(mkdtemp(dir));
    biqa_index idx;
    biqa_index_init(&idx, "tiny", "labels");
    biqa_error e = {{0}};
    static const char *const names[] = {"a.png", "b, \"quoted\".png", "c/d.bmp"};
    const double raw[] = {1.0, 3.5, 5.0}, std[] = {0.4, NAN, 0.0};
    for (int i = 0; i < 3; i++) {
        snprintf(img, sizeof img, "%s/t/%s", dir, names[i]);
        cr_assert_eq(biqa_index_add(&idx, img, names[i], raw[i], std[i], i == 1 ? NULL : "r1",
                                    i == 2 ? "blur:3" : NULL, &e),
                     0, "%s", e.msg);
    }
    cr_assert_eq(biqa_index_normalise(&idx, 1.0, 5.0, 0, &e), 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/index.csv", dir);
    cr_assert_eq(biqa_index_write_dataset(&idx, dir, path, &e), 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    static const char rec[] = "{\"name\": \"tiny\", \"mos_range\": [1, 5], \"higher_better\": false}";
    cr_assert_eq(biqa_write_file_atomic(path, rec, sizeof rec - 1, &e), 0);
    biqa_index back;
    cr_assert_eq(biqa_index_read_dir(dir, &back, &e), 0, "%s", e.msg);
    cr_assert_eq(back.n, 3);
    cr_assert_str_eq(back.dataset, "tiny");
    cr_assert_eq(back.mos_lo, 1.0);
    cr_assert_eq(back.mos_hi, 5.0);
    cr_assert_eq(back.higher_better, 0);
    for (int i = 0; i < 3; i++) {
        const biqa_index_item *a = &idx.items[i], *b = &back.items[i];
        cr_assert_str_eq(b->name, a->name);
        cr_assert_str_eq(b->path, a->path);
        cr_assert_eq(b->mos, a->mos, "%s: %.17g vs %.17g", a->name, b->mos, a->mos);
        cr_assert_eq(b->mos_raw, raw[i]);
        cr_assert(isnan(a->std) ? isnan(b->std) : b->std == a->std, "%s std", a->name);
        cr_assert((a->ref == NULL) == (b->ref == NULL));
        cr_assert((a->distortion == NULL) == (b->distortion == NULL));
    }
    cr_assert_eq(back.items[0].mos, 1.0, "DMOS 1 on [1, 5] is the best: 1");
    cr_assert_eq(back.items[2].mos, 0.0);
    biqa_index_free(&back);
    biqa_index_free(&idx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(biqa_index_read_dir(dir, &back, &e), -1);
    cr_assert(strstr(e.msg, "no index.csv") && strstr(e.msg, "no meta.csv"), "%s", e.msg);
}

static void touch(const char *path, const char *text)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_write_file_atomic(path, text, strlen(text), &e), 0, "%s", e.msg);
}

Test(datasets_catalog, state_moves_from_absent_to_partial_verified_corrupt)
{
    char root[] = "/tmp/biqa-catalog-XXXXXX", path[8192];
    cr_assert_not_null(mkdtemp(root));
    biqa_ds_paths p;
    biqa_ds_status st;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_ds_paths_init(root, "tiny", &p, &e), 0);
    cr_assert_eq(biqa_ds_status_read(&p, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st.state, BIQA_DS_ABSENT);
    cr_assert_eq(biqa_mkdir_p(p.downloads, &e), 0);
    snprintf(path, sizeof path, "%s/t.tgz.part", p.downloads);
    touch(path, "12345");
    cr_assert_eq(biqa_ds_status_read(&p, &st, &e), 0);
    cr_assert_eq(st.state, BIQA_DS_PARTIAL);
    cr_assert_eq(st.n_part, 1);
    cr_assert_eq(st.download_bytes, 5);
    /* A dataset folder without a verdict is not trusted. */
    cr_assert_eq(biqa_mkdir_p(p.dir, &e), 0);
    snprintf(path, sizeof path, "%s/digests.sha256", p.dir);
    touch(path, "x\n");
    cr_assert_eq(biqa_ds_status_read(&p, &st, &e), 0);
    cr_assert_eq(st.state, BIQA_DS_PARTIAL);
    cr_assert(strstr(st.detail, "no verdict"), "%s", st.detail);
    biqa_ds_status v = {.state = BIQA_DS_VERIFIED, .n_images = 2, .n_files = 3};
    snprintf(v.source, sizeof v.source, "main");
    cr_assert_eq(biqa_sha256_file(path, v.digests_sha256, NULL, &e), 0);
    cr_assert_eq(biqa_ds_status_write(&p, &v, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_ds_status_read(&p, &st, &e), 0);
    cr_assert_eq(st.state, BIQA_DS_VERIFIED);
    cr_assert_str_eq(st.source, "main");
    cr_assert_eq(st.n_images, 2);
    /* The verdict holds only for the digest list it was made on. */
    touch(path, "y\n");
    cr_assert_eq(biqa_ds_status_read(&p, &st, &e), 0);
    cr_assert_eq(st.state, BIQA_DS_CORRUPT);
    cr_assert(strstr(st.detail, "changed since it was verified"), "%s", st.detail);
    /* Pins. */
    char sha[BIQA_SHA256_HEX_LEN];
    int64_t bytes = 0;
    int found = 1;
    cr_assert_eq(biqa_ds_pin_get(&p, "main", "t.tgz", sha, &bytes, &found, &e), 0);
    cr_assert_eq(found, 0);
    static const char h[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    cr_assert_eq(biqa_ds_pin_put(&p, "main", "t.tgz", h, 42, "http://x/t.tgz", &e), 0);
    cr_assert_eq(biqa_ds_pin_get(&p, "main", "t.tgz", sha, &bytes, &found, &e), 0);
    cr_assert_eq(found, 1);
    cr_assert_str_eq(sha, h);
    cr_assert_eq(bytes, 42);
    cr_assert_eq(biqa_ds_pin_get(&p, "other", "t.tgz", sha, &bytes, &found, &e), 0);
    cr_assert_eq(found, 0, "pins are per source");
    /* The lock: a second holder in this process is refused too (flock is
     * per open file description). */
    int fd1 = -1, fd2 = -1;
    cr_assert_eq(biqa_ds_lock(&p, &fd1, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_ds_lock(&p, &fd2, &e), -1);
    cr_assert(strstr(e.msg, "tiny: another biqa is fetching"), "%s", e.msg);
    biqa_ds_unlock(fd1);
    cr_assert_eq(biqa_ds_remove_tree(root, &e), 0, "%s", e.msg);
    struct stat sb;
    cr_assert_neq(stat(root, &sb), 0);
}
