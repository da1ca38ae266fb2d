/* Dataset manifests: load and validate (datasets/manifest.h). */
#include "datasets/manifest.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "datasets/labels.h"

/* The compiled-in manifests, generated from datasets/manifests/NAME.json
 * (tools/embed_manifests.py, run by the Makefile): names[i] is NAME, texts[i] the file's
 * bytes, lens[i] their count. */
extern const char *const biqa_manifest_names[];
extern const unsigned char *const biqa_manifest_texts[];
extern const size_t biqa_manifest_lens[];
extern const size_t biqa_manifest_n;

/* Validation context: the file being read and its error. */
typedef struct vctx {
    const char *origin;
    biqa_error *err;
} vctx;

static int bad(const vctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const vctx *c, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return biqa_fail(c->err, "%s: %s: %s", c->origin, field, msg);
}

/* "path.key" or "key" at the top level. */
static void field_path(char *out, size_t len, const char *path, const char *key)
{
    if (snprintf(out, len, "%s%s%s", path, *path ? "." : "", key) >= (int)len)
        memcpy(out + len - 4, "...", 4); /* field paths are short; never in practice */
}

/* Every key of obj must be one of allowed (NULL-terminated), and once. */
static int check_keys(const vctx *c, const cJSON *obj, const char *path,
                      const char *const *allowed)
{
    char f[256];
    for (const cJSON *k = obj->child; k; k = k->next) {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, k->string) == 0;
        field_path(f, sizeof f, path, k->string);
        if (!known)
            return bad(c, f, "unknown field");
        for (const cJSON *j = obj->child; j != k; j = j->next)
            if (strcmp(j->string, k->string) == 0)
                return bad(c, f, "given twice");
    }
    return 0;
}

static int oom(const vctx *c) { return biqa_fail(c->err, "%s: out of memory", c->origin); }

/* A string field: *out is a malloc'd copy, NULL when absent and optional. */
static int get_string(const vctx *c, const cJSON *obj, const char *path, const char *key,
                      int required, int allow_empty, char **out)
{
    char f[256];
    field_path(f, sizeof f, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v)
        return required ? bad(c, f, "missing") : 0;
    if (!cJSON_IsString(v))
        return bad(c, f, "not a string");
    if (!allow_empty && !*v->valuestring)
        return bad(c, f, "empty");
    if (strlen(v->valuestring) > 4000)
        return bad(c, f, "longer than 4000 characters");
    *out = strdup(v->valuestring);
    return *out ? 0 : oom(c);
}

/* An integer field that fits a double exactly; *out = -1 when absent (not
 * required) or JSON null when null_ok. */
static int get_count(const vctx *c, const cJSON *obj, const char *path, const char *key,
                     int required, int null_ok, int64_t min, int64_t *out)
{
    char f[256];
    field_path(f, sizeof f, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = -1;
    if (!v)
        return required ? bad(c, f, "missing") : 0;
    if (null_ok && cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return bad(c, f, "not a number%s", null_ok ? " or null" : "");
    const double d = v->valuedouble;
    if (!(d >= (double)min && d <= 9007199254740992.0) || floor(d) != d)
        return bad(c, f, "%g is not an integer >= %lld", d, (long long)min);
    *out = (int64_t)d;
    return 0;
}

static int get_bool(const vctx *c, const cJSON *obj, const char *path, const char *key,
                    int required, int *out)
{
    char f[256];
    field_path(f, sizeof f, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = 0;
    if (!v)
        return required ? bad(c, f, "missing") : 0;
    if (!cJSON_IsBool(v))
        return bad(c, f, "not true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

/* An array of strings (possibly empty); absent = empty unless required. */
static int get_strings(const vctx *c, const cJSON *obj, const char *path, const char *key,
                       int required, char ***out, int *n)
{
    char f[256];
    field_path(f, sizeof f, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL, *n = 0;
    if (!v)
        return required ? bad(c, f, "missing") : 0;
    if (!cJSON_IsArray(v))
        return bad(c, f, "not an array of strings");
    const int cnt = cJSON_GetArraySize(v);
    if (cnt == 0)
        return 0;
    char **s = calloc((size_t)cnt, sizeof *s);
    if (!s)
        return oom(c);
    *out = s;
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char fi[300];
        snprintf(fi, sizeof fi, "%s[%d]", f, i);
        if (!cJSON_IsString(e))
            return bad(c, fi, "not a string");
        if (!*e->valuestring)
            return bad(c, fi, "empty");
        if (!(s[i] = strdup(e->valuestring)))
            return oom(c);
        *n = i + 1;
    }
    return 0;
}

static int is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* A path inside the dataset directory: relative, '/'-separated, no "." or
 * ".." component, no empty component (a trailing '/' included). "" is the
 * directory itself when allow_empty. */
static int check_rel_path(const vctx *c, const char *field, const char *p, int allow_empty)
{
    if (!*p)
        return allow_empty ? 0 : bad(c, field, "empty");
    if (p[0] == '/')
        return bad(c, field, "'%s' is absolute: paths are relative to the dataset directory", p);
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return bad(c, field, "'%s' has an empty, '.' or '..' component", p);
        if (!e)
            break;
        s = e + 1;
        if (!*s)
            return bad(c, field, "'%s' ends with '/'", p);
    }
    if (strchr(p, '\\'))
        return bad(c, field, "'%s' holds a backslash: use '/'", p);
    return 0;
}

static int check_name(const vctx *c, const char *field, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return bad(c, field, "'%s' must be 1 to 64 characters", s);
    for (size_t i = 0; i < n; i++) {
        const char ch = s[i];
        const int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                       (i > 0 && (ch == '.' || ch == '_' || ch == '-'));
        if (!ok)
            return bad(c, field, "'%s' must be lowercase letters, digits, '.', '_' or '-', "
                                 "starting with a letter or digit", s);
    }
    return 0;
}

static int one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return 1;
    return 0;
}

static int parse_file(const vctx *c, const cJSON *o, const char *path, int manual,
                      biqa_manifest_file *f)
{
    static const char *const keys[] = {"file", "urls", "bytes", "sha256", "md5", "format", NULL};
    static const char *const formats[] = {"tgz", "tar", "zip", "rar", "7z", "file", NULL};
    char fp[300];
    if (!cJSON_IsObject(o))
        return bad(c, path, "not an object");
    if (check_keys(c, o, path, keys) < 0 || get_string(c, o, path, "file", 1, 0, &f->file) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "file");
    if (strchr(f->file, '/') || f->file[0] == '.' || strchr(f->file, '\\'))
        return bad(c, fp, "'%s' must be a plain file name (no '/', not starting with '.')",
                   f->file);
    if (get_strings(c, o, path, "urls", 1, &f->urls, &f->n_urls) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "urls");
    if (f->n_urls == 0 && !manual)
        return bad(c, fp, "empty (a source without URLs must say \"manual\": true)");
    for (int i = 0; i < f->n_urls; i++) {
        static const char *const schemes[] = {"http://", "https://", "ftp://", "ftps://",
                                              "file://", NULL};
        int ok = 0;
        for (const char *const *s = schemes; *s && !ok; s++)
            ok = strncmp(f->urls[i], *s, strlen(*s)) == 0 && f->urls[i][strlen(*s)];
        if (!ok) {
            char fi[320];
            snprintf(fi, sizeof fi, "%s[%d]", fp, i);
            return bad(c, fi, "'%s' is not an http(s), ftp(s) or file URL", f->urls[i]);
        }
    }
    field_path(fp, sizeof fp, path, "bytes");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bytes");
    if (!b)
        return bad(c, fp, "missing (an integer, or \"unknown\")");
    if (cJSON_IsString(b)) {
        if (strcmp(b->valuestring, "unknown") != 0)
            return bad(c, fp, "'%s' is neither an integer nor \"unknown\"", b->valuestring);
        f->bytes = -1;
    } else if (get_count(c, o, path, "bytes", 1, 0, 0, &f->bytes) < 0) {
        return -1;
    }
    char *sha = NULL;
    if (get_string(c, o, path, "sha256", 1, 0, &sha) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "sha256");
    if (strcmp(sha, "unknown") == 0) {
        free(sha);
    } else if (!is_hex(sha, 64)) {
        free(sha);
        return bad(c, fp, "not 64 lowercase hex digits (or \"unknown\")");
    } else {
        f->sha256 = sha;
    }
    if (get_string(c, o, path, "md5", 0, 0, &f->md5) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "md5");
    if (f->md5 && !is_hex(f->md5, 32))
        return bad(c, fp, "not 32 lowercase hex digits");
    if (get_string(c, o, path, "format", 1, 0, &f->format) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "format");
    if (!one_of(f->format, formats))
        return bad(c, fp, "'%s' is not one of tgz, tar, zip, rar, 7z, file", f->format);
    return 0;
}

static int parse_labels(const vctx *c, const cJSON *o, const char *path, biqa_manifest_labels *l)
{
    static const char *const keys[] = {"parser",  "file",     "image_dir",       "mos_range",
                                       "higher_better", "sheet", "ref_mode", "std_is_variance",
                                       "exclude", NULL};
    static const char *const ref_modes[] = {"auto", "none", "prefix", NULL};
    char fp[300];
    if (!cJSON_IsObject(o))
        return bad(c, path, "not an object");
    if (check_keys(c, o, path, keys) < 0 || get_string(c, o, path, "parser", 1, 0, &l->parser) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "parser");
    if (!one_of(l->parser, biqa_label_parsers())) {
        char known[512] = "";
        for (const char *const *p = biqa_label_parsers(); *p; p++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     *known ? ", " : "", *p);
        return bad(c, fp, "unknown parser '%s' (known: %s)", l->parser, known);
    }
    if (get_string(c, o, path, "file", 1, 0, &l->file) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "file");
    if (check_rel_path(c, fp, l->file, 0) < 0)
        return -1;
    if (get_string(c, o, path, "image_dir", 1, 1, &l->image_dir) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "image_dir");
    if (check_rel_path(c, fp, l->image_dir, 1) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "mos_range");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "mos_range");
    if (!r)
        return bad(c, fp, "missing ([lo, hi])");
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 || !cJSON_IsNumber(r->child) ||
        !cJSON_IsNumber(r->child->next))
        return bad(c, fp, "not a pair of numbers [lo, hi]");
    l->mos_lo = r->child->valuedouble, l->mos_hi = r->child->next->valuedouble;
    if (!(l->mos_lo < l->mos_hi) || !isfinite(l->mos_lo) || !isfinite(l->mos_hi))
        return bad(c, fp, "[%g, %g] is empty: lo must be below hi", l->mos_lo, l->mos_hi);
    if (get_bool(c, o, path, "higher_better", 1, &l->higher_better) < 0 ||
        get_string(c, o, path, "sheet", 0, 0, &l->sheet) < 0 ||
        get_bool(c, o, path, "std_is_variance", 0, &l->std_is_variance) < 0 ||
        get_strings(c, o, path, "exclude", 0, &l->exclude, &l->n_exclude) < 0)
        return -1;
    char *mode = NULL;
    if (get_string(c, o, path, "ref_mode", 0, 0, &mode) < 0)
        return -1;
    l->ref_mode = BIQA_REF_AUTO;
    if (mode) {
        field_path(fp, sizeof fp, path, "ref_mode");
        const int ok = one_of(mode, ref_modes);
        l->ref_mode = !strcmp(mode, "none") ? BIQA_REF_NONE
                      : !strcmp(mode, "prefix") ? BIQA_REF_PREFIX
                                                : BIQA_REF_AUTO;
        if (!ok) {
            int rc = bad(c, fp, "'%s' is not one of auto, none, prefix", mode);
            free(mode);
            return rc;
        }
        free(mode);
    }
    return 0;
}

static int parse_splits(const vctx *c, const cJSON *o, const char *path, biqa_manifest_splits *s)
{
    static const char *const keys[] = {"pyiqa", "official", NULL};
    static const char *const off_keys[] = {"file", "name_column", "set_column", "test_list", NULL};
    char fp[300];
    if (!cJSON_IsObject(o))
        return bad(c, path, "not an object");
    if (check_keys(c, o, path, keys) < 0 || get_string(c, o, path, "pyiqa", 0, 0, &s->pyiqa) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "pyiqa");
    if (s->pyiqa && check_rel_path(c, fp, s->pyiqa, 0) < 0)
        return -1;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(o, "official");
    if (!off)
        return 0;
    field_path(fp, sizeof fp, path, "official");
    if (!cJSON_IsObject(off))
        return bad(c, fp, "not an object");
    char ff[320];
    if (check_keys(c, off, fp, off_keys) < 0 ||
        get_string(c, off, fp, "file", 1, 0, &s->official_file) < 0 ||
        get_bool(c, off, fp, "test_list", 0, &s->test_list) < 0 ||
        get_string(c, off, fp, "name_column", !s->test_list, 0, &s->name_column) < 0 ||
        get_string(c, off, fp, "set_column", !s->test_list, 0, &s->set_column) < 0)
        return -1;
    field_path(ff, sizeof ff, fp, "file");
    if (check_rel_path(c, ff, s->official_file, 0) < 0)
        return -1;
    if (s->test_list && (s->name_column || s->set_column))
        return bad(c, fp, "a test list has no name_column or set_column");
    return 0;
}

static int parse_source(const vctx *c, const cJSON *o, const char *path, biqa_manifest_source *s)
{
    static const char *const keys[] = {"name", "note", "manual", "files", "labels", "splits", NULL};
    char fp[300];
    if (!cJSON_IsObject(o))
        return bad(c, path, "not an object");
    if (check_keys(c, o, path, keys) < 0 || get_string(c, o, path, "name", 1, 0, &s->name) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "name");
    if (check_name(c, fp, s->name) < 0 || get_string(c, o, path, "note", 0, 0, &s->note) < 0 ||
        get_bool(c, o, path, "manual", 0, &s->manual) < 0)
        return -1;
    field_path(fp, sizeof fp, path, "files");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files");
    if (!files)
        return bad(c, fp, "missing");
    if (!cJSON_IsArray(files))
        return bad(c, fp, "not an array");
    const int n = cJSON_GetArraySize(files);
    if (n == 0 && !s->manual)
        return bad(c, fp, "empty (a source without files must say \"manual\": true)");
    if (n > 0 && !(s->files = calloc((size_t)n, sizeof *s->files)))
        return oom(c);
    int i = 0;
    for (const cJSON *f = files->child; f; f = f->next, i++) {
        char fi[320];
        snprintf(fi, sizeof fi, "%s[%d]", fp, i);
        s->n_files = i + 1;
        if (parse_file(c, f, fi, s->manual, &s->files[i]) < 0)
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(s->files[j].file, s->files[i].file) == 0)
                return bad(c, fi, "file '%s' is listed twice", s->files[i].file);
    }
    field_path(fp, sizeof fp, path, "labels");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
    if (!labels)
        return bad(c, fp, "missing");
    if (parse_labels(c, labels, fp, &s->labels) < 0)
        return -1;
    const cJSON *splits = cJSON_GetObjectItemCaseSensitive(o, "splits");
    field_path(fp, sizeof fp, path, "splits");
    return splits ? parse_splits(c, splits, fp, &s->splits) : 0;
}

static int parse_root(const vctx *c, const cJSON *root, biqa_manifest *m)
{
    static const char *const keys[] = {"format", "name",   "title",      "kind",    "homepage",
                                       "licence", "citation", "distortions", "images", "references",
                                       "classes", "layout", "notes",     "sources", NULL};
    if (!cJSON_IsObject(root))
        return bad(c, "(top level)", "not a JSON object");
    int64_t format;
    char *kind = NULL;
    if (check_keys(c, root, "", keys) < 0 || get_count(c, root, "", "format", 1, 0, 1, &format) < 0)
        return -1;
    if (format != 1)
        return bad(c, "format", "version %lld is not supported (this biqa reads 1)",
                   (long long)format);
    if (get_string(c, root, "", "name", 1, 0, &m->name) < 0 || check_name(c, "name", m->name) < 0 ||
        get_string(c, root, "", "title", 1, 0, &m->title) < 0 ||
        get_string(c, root, "", "kind", 1, 0, &kind) < 0)
        return -1;
    static const char *const kinds[] = {"download", "local", "generated", NULL};
    if (!one_of(kind, kinds)) {
        int rc = bad(c, "kind", "'%s' is not one of download, local, generated", kind);
        free(kind);
        return rc;
    }
    m->kind = !strcmp(kind, "download") ? BIQA_MANIFEST_DOWNLOAD
              : !strcmp(kind, "local")  ? BIQA_MANIFEST_LOCAL
                                        : BIQA_MANIFEST_GENERATED;
    free(kind);
    const int dl = m->kind == BIQA_MANIFEST_DOWNLOAD, local = m->kind == BIQA_MANIFEST_LOCAL;
    if (get_string(c, root, "", "homepage", 0, 0, &m->homepage) < 0 ||
        get_string(c, root, "", "licence", 1, 0, &m->licence) < 0 ||
        get_string(c, root, "", "citation", 0, 0, &m->citation) < 0 ||
        get_string(c, root, "", "distortions", 0, 0, &m->distortions) < 0 ||
        get_strings(c, root, "", "notes", 0, &m->notes, &m->n_notes) < 0 ||
        get_count(c, root, "", "images", dl || local, 0, 1, &m->images) < 0 ||
        get_count(c, root, "", "references", 0, 1, 1, &m->references) < 0 ||
        get_count(c, root, "", "classes", local, 0, 1, &m->classes) < 0 ||
        get_string(c, root, "", "layout", local, 0, &m->layout) < 0)
        return -1;
    static const char *const distortions[] = {"authentic", "synthetic", NULL};
    if (m->distortions && !one_of(m->distortions, distortions))
        return bad(c, "distortions", "'%s' is not authentic or synthetic", m->distortions);
    if (m->layout && strcmp(m->layout, "class-folders") != 0)
        return bad(c, "layout", "'%s' is not class-folders", m->layout);
    if (!local && (m->layout || m->classes >= 0))
        return bad(c, m->layout ? "layout" : "classes", "only a dataset of kind local has it");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(root, "sources");
    if (!dl) {
        if (sources)
            return bad(c, "sources", "a dataset of kind %s is never downloaded: no sources",
                       local ? "local" : "generated");
        return 0;
    }
    if (!sources)
        return bad(c, "sources", "missing");
    if (!cJSON_IsArray(sources) || cJSON_GetArraySize(sources) == 0)
        return bad(c, "sources", "not a non-empty array");
    const int n = cJSON_GetArraySize(sources);
    if (!(m->sources = calloc((size_t)n, sizeof *m->sources)))
        return oom(c);
    int i = 0;
    for (const cJSON *s = sources->child; s; s = s->next, i++) {
        char sp[64];
        snprintf(sp, sizeof sp, "sources[%d]", i);
        m->n_sources = i + 1;
        if (parse_source(c, s, sp, &m->sources[i]) < 0)
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(m->sources[j].name, m->sources[i].name) == 0)
                return bad(c, sp, "source name '%s' is used twice", m->sources[i].name);
    }
    return 0;
}

int biqa_manifest_parse(const char *origin, const char *text, size_t len, biqa_manifest *m,
                        biqa_error *err)
{
    memset(m, 0, sizeof *m);
    m->images = m->references = m->classes = -1;
    const vctx c = {origin, err};
    m->origin = strdup(origin);
    m->text = malloc(len + 1);
    if (!m->origin || !m->text) {
        biqa_manifest_free(m);
        return oom(&c);
    }
    memcpy(m->text, text, len);
    m->text[len] = '\0';
    biqa_sha256_hex(text, len, m->sha256);
    if (memchr(text, '\0', len)) {
        biqa_manifest_free(m);
        return biqa_fail(err, "%s: holds a NUL byte: not a JSON text", origin);
    }
    const char *end = NULL;
    /* The copy in m->text ends with a NUL, which cJSON wants inside the length to
     * reject trailing garbage. */
    cJSON *root = cJSON_ParseWithLengthOpts(m->text, len + 1, &end, 1);
    if (!root) {
        /* Line of the first byte cJSON could not take. */
        size_t at = end ? (size_t)(end - m->text) : 0, line = 1;
        for (size_t i = 0; i < at && i < len; i++)
            line += text[i] == '\n';
        biqa_manifest_free(m);
        return biqa_fail(err, "%s:%zu: not valid JSON", origin, line);
    }
    int rc = parse_root(&c, root, m);
    cJSON_Delete(root);
    if (rc < 0)
        biqa_manifest_free(m);
    return rc;
}

int biqa_manifest_load_file(const char *path, biqa_manifest *m, biqa_error *err)
{
    char *text;
    size_t len;
    memset(m, 0, sizeof *m);
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    int rc = biqa_manifest_parse(path, text, len, m, err);
    free(text);
    return rc;
}

size_t biqa_manifest_builtin_count(void) { return biqa_manifest_n; }

const char *biqa_manifest_builtin_name(size_t i)
{
    return i < biqa_manifest_n ? biqa_manifest_names[i] : NULL;
}

const char *biqa_manifest_builtin_text(size_t i, size_t *len)
{
    if (i >= biqa_manifest_n)
        return NULL;
    *len = biqa_manifest_lens[i];
    return (const char *)biqa_manifest_texts[i];
}

int biqa_manifest_load_builtin(const char *name, biqa_manifest *m, biqa_error *err)
{
    memset(m, 0, sizeof *m);
    char want[80];
    snprintf(want, sizeof want, "%s.json", name);
    for (size_t i = 0; i < biqa_manifest_n; i++)
        if (strcmp(biqa_manifest_names[i], name) == 0) {
            if (biqa_manifest_parse(want, (const char *)biqa_manifest_texts[i],
                                    biqa_manifest_lens[i], m, err) < 0)
                return -1;
            m->builtin = 1;
            if (strcmp(m->name, name) != 0) {
                int rc = biqa_fail(err, "%s: name: '%s' differs from the file name", want, m->name);
                biqa_manifest_free(m);
                return rc;
            }
            return 0;
        }
    char known[1024] = "";
    for (size_t i = 0; i < biqa_manifest_n; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 biqa_manifest_builtin_name(i));
    return biqa_fail(err, "no dataset called '%s' (known: %s; or --manifest FILE)", name, known);
}

static void free_strings(char **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void biqa_manifest_free(biqa_manifest *m)
{
    for (int i = 0; i < m->n_sources; i++) {
        biqa_manifest_source *s = &m->sources[i];
        for (int j = 0; j < s->n_files; j++) {
            biqa_manifest_file *f = &s->files[j];
            free(f->file), free(f->sha256), free(f->md5), free(f->format);
            free_strings(f->urls, f->n_urls);
        }
        free(s->files);
        biqa_manifest_labels *l = &s->labels;
        free(l->parser), free(l->file), free(l->image_dir), free(l->sheet);
        free_strings(l->exclude, l->n_exclude);
        free(s->splits.pyiqa), free(s->splits.official_file);
        free(s->splits.name_column), free(s->splits.set_column);
        free(s->name), free(s->note);
    }
    free(m->sources);
    free_strings(m->notes, m->n_notes);
    free(m->origin), free(m->text), free(m->name), free(m->title), free(m->homepage);
    free(m->licence), free(m->citation), free(m->distortions), free(m->layout);
    memset(m, 0, sizeof *m);
}

const char *biqa_manifest_kind_name(enum biqa_manifest_kind k)
{
    return k == BIQA_MANIFEST_DOWNLOAD ? "download" : k == BIQA_MANIFEST_LOCAL ? "local" : "generated";
}
