/* datasets/splits.h: the split generator is deterministic, content-disjoint
 * by reference, honours its fractions, and its hash follows membership. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "datasets/splits.h"

/* refs references x per images each ("rNN" / "rNN_dK"); refs 0: no ref ids. */
static void make_index(biqa_index *idx, int refs, int per, int with_refs)
{
    biqa_index_init(idx, "test", "test.csv");
    biqa_error e = {{0}};
    for (int r = 0; r < refs; r++)
        for (int k = 0; k < per; k++) {
            char name[32], ref[16];
            snprintf(name, sizeof name, "r%02d_d%d.png", r, k);
            snprintf(ref, sizeof ref, "r%02d", r);
            cr_assert_eq(biqa_index_add(idx, name, name, 1 + (r * per + k) % 99, NAN,
                                        with_refs ? ref : NULL, NULL, &e), 0, "%s", e.msg);
        }
    cr_assert_eq(biqa_index_normalise(idx, 1, 100, 1, &e), 0, "%s", e.msg);
}

Test(splits, deterministic_and_different_per_split)
{
    biqa_index idx;
    make_index(&idx, 30, 4, 1);
    biqa_split a, b, c;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_split_make(&idx, 7, 3, 0.8, 0.1, &a, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_split_make(&idx, 7, 3, 0.8, 0.1, &b, &e), 0, "%s", e.msg);
    cr_assert_eq(memcmp(a.part, b.part, idx.n), 0);
    cr_assert_str_eq(a.hash, b.hash);
    cr_assert_str_eq(a.id, "split3");
    cr_assert_eq(biqa_split_make(&idx, 7, 4, 0.8, 0.1, &c, &e), 0, "%s", e.msg);
    cr_assert_str_neq(a.hash, c.hash, "another split number draws another split");
    biqa_split_free(&c);
    cr_assert_eq(biqa_split_make(&idx, 8, 3, 0.8, 0.1, &c, &e), 0, "%s", e.msg);
    cr_assert_str_neq(a.hash, c.hash, "another seed draws another split");
    biqa_split_free(&a), biqa_split_free(&b), biqa_split_free(&c);
    biqa_index_free(&idx);
}

Test(splits, content_disjoint_with_the_documented_fractions)
{
    biqa_index idx;
    make_index(&idx, 30, 4, 1);
    biqa_error e = {{0}};
    for (int k = 0; k < 10; k++) {
        biqa_split s;
        cr_assert_eq(biqa_split_make(&idx, 1, k, 0.8, 0.1, &s, &e), 0, "%s", e.msg);
        /* every image of a reference lies in one part */
        for (size_t i = 0; i < idx.n; i++)
            cr_assert_eq(s.part[i], s.part[i - i % 4], "split %d: ref of item %zu straddles", k, i);
        /* 30 refs: round(30 * 0.2) = 6 test, round(24 * 0.1) = 2 val, 22 train */
        cr_assert_eq(s.groups[BIQA_PART_TEST], 6);
        cr_assert_eq(s.groups[BIQA_PART_VAL], 2);
        cr_assert_eq(s.groups[BIQA_PART_TRAIN], 22);
        cr_assert_eq(s.count[BIQA_PART_TEST], 24);
        cr_assert_eq(s.count[BIQA_PART_VAL], 8);
        cr_assert_eq(s.count[BIQA_PART_TRAIN], 88);
        biqa_split_free(&s);
    }
    biqa_index_free(&idx);
}

Test(splits, every_reference_is_tested_across_splits)
{
    /* a shuffle, not a fixed choice: over 20 splits most references are tested */
    biqa_index idx;
    make_index(&idx, 20, 2, 1);
    int tested[20] = {0}, distinct = 0;
    biqa_error e = {{0}};
    for (int k = 0; k < 20; k++) {
        biqa_split s;
        cr_assert_eq(biqa_split_make(&idx, 3, k, 0.8, 0.0, &s, &e), 0, "%s", e.msg);
        cr_assert_eq(s.count[BIQA_PART_VAL], 0, "val_fraction 0: no validation part");
        for (int r = 0; r < 20; r++)
            tested[r] |= s.part[2 * r] == BIQA_PART_TEST;
        biqa_split_free(&s);
    }
    for (int r = 0; r < 20; r++)
        distinct += tested[r];
    cr_assert_geq(distinct, 15, "only %d of 20 references were ever tested", distinct);
    biqa_index_free(&idx);
}

Test(splits, images_without_references_split_one_by_one)
{
    biqa_index idx;
    make_index(&idx, 10, 5, 0); /* 50 images, no reference ids */
    biqa_split s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_split_make(&idx, 1, 0, 0.8, 0.1, &s, &e), 0, "%s", e.msg);
    cr_assert_eq(s.count[BIQA_PART_TEST], 10);
    cr_assert_eq(s.count[BIQA_PART_VAL], 4);
    int straddles = 0;
    for (size_t i = 0; i < idx.n; i++)
        straddles |= s.part[i] != s.part[i - i % 5];
    cr_assert(straddles, "without references, images of one name prefix are independent");
    biqa_split_free(&s);
    biqa_index_free(&idx);
}

Test(splits, hash_is_membership_only)
{
    biqa_index idx;
    make_index(&idx, 12, 2, 1);
    biqa_split a, b;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_split_make(&idx, 5, 0, 0.8, 0.2, &a, &e), 0, "%s", e.msg);
    /* the same membership given as parts hashes the same */
    cr_assert_eq(biqa_split_from_parts(&idx, 0, a.part, &b, &e), 0, "%s", e.msg);
    cr_assert_str_eq(a.hash, b.hash);
    biqa_split_free(&b);
    /* one image moved from train to val changes it */
    unsigned char *parts = malloc(idx.n);
    memcpy(parts, a.part, idx.n);
    size_t i = 0;
    while (parts[i] != BIQA_PART_TRAIN)
        i++;
    parts[i] = BIQA_PART_VAL;
    cr_assert_eq(biqa_split_from_parts(&idx, 0, parts, &b, &e), 0, "%s", e.msg);
    cr_assert_str_neq(a.hash, b.hash);
    biqa_split_free(&b);
    free(parts);
    /* the documented text: sorted "<name>\t<part>\n" lines */
    char text[2048] = "";
    for (size_t j = 0; j < idx.n; j++) /* names are generated in sorted order */
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s\t%s\n",
                 idx.items[j].name, biqa_part_name((enum biqa_part)a.part[j]));
    char want[BIQA_SHA256_HEX_LEN];
    biqa_sha256_hex(text, strlen(text), want);
    cr_assert_str_eq(a.hash, want);
    biqa_split_free(&a);
    biqa_index_free(&idx);
}

Test(splits, refuses_bad_fractions_and_too_few_references)
{
    biqa_index idx;
    make_index(&idx, 2, 3, 1);
    biqa_split s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_split_make(&idx, 1, 0, 1.0, 0.1, &s, &e), -1);
    cr_assert(strstr(e.msg, "splits.train_fraction"), "%s", e.msg);
    cr_assert_eq(biqa_split_make(&idx, 1, 0, 0.8, 0.1, &s, &e), -1, "2 refs cannot make 3 parts");
    cr_assert(strstr(e.msg, "too few"), "%s", e.msg);
    biqa_index_free(&idx);
}
