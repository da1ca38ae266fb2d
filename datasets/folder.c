/* The class-folder index (datasets/folder.h). */
#include "datasets/folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct names {
    char **v;
    int n, cap;
} names;

static int names_push(names *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static void names_free(names *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (names){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(name + n - e, ext[i]) == 0)
            return 1;
    }
    return 0;
}

/* Entries of dir: sub-folders (want_dirs) or image files, sorted. */
static int list_dir(const char *dir, int want_dirs, names *out, biqa_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return biqa_fail(err, "image folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue; /* a dangling link: not an entry */
        int keep = want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && is_image_name(e->d_name);
        if (keep && names_push(out, e->d_name) < 0)
            rc = biqa_fail(err, "image folder %s: out of memory", dir);
    }
    closedir(d);
    if (rc == 0 && out->n > 0)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return rc;
}

int biqa_folder_index(const char *root, biqa_folder *out, biqa_error *err)
{
    *out = (biqa_folder){0};
    names classes = {0};
    if (list_dir(root, 1, &classes, err) < 0)
        return -1;
    if (classes.n == 0) {
        names_free(&classes);
        return biqa_fail(err, "image folder %s: no class sub-folders (want ROOT/CLASS/IMAGE)",
                         root);
    }
    out->classes = classes.v;
    out->nclasses = classes.n;
    int cap = 0;
    char dir[4096];
    for (int c = 0; c < classes.n; c++) {
        names files = {0};
        snprintf(dir, sizeof dir, "%s/%s", root, classes.v[c]);
        if (list_dir(dir, 0, &files, err) < 0)
            goto fail;
        if (files.n == 0) {
            names_free(&files);
            biqa_fail(err, "image folder %s: no .jpg/.jpeg/.png/.bmp file in class folder", dir);
            goto fail;
        }
        for (int i = 0; i < files.n; i++) {
            if (out->nitems == cap) {
                cap = cap ? 2 * cap : 64;
                biqa_folder_item *v = realloc(out->items, (size_t)cap * sizeof *v);
                if (!v) {
                    names_free(&files);
                    biqa_fail(err, "image folder %s: out of memory", root);
                    goto fail;
                }
                out->items = v;
            }
            size_t len = strlen(dir) + strlen(files.v[i]) + 2;
            char *p = malloc(len);
            if (!p) {
                names_free(&files);
                biqa_fail(err, "image folder %s: out of memory", root);
                goto fail;
            }
            snprintf(p, len, "%s/%s", dir, files.v[i]);
            out->items[out->nitems++] = (biqa_folder_item){p, c};
        }
        names_free(&files);
    }
    return 0;
fail:
    biqa_folder_free(out);
    return -1;
}

void biqa_folder_free(biqa_folder *f)
{
    for (int i = 0; i < f->nitems; i++)
        free(f->items[i].path);
    free(f->items);
    for (int c = 0; c < f->nclasses; c++)
        free(f->classes[c]);
    free(f->classes);
    *f = (biqa_folder){0};
}
