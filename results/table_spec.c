#include "results/table_spec.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

/* ---- selections -------------------------------------------------------- */

char biqa_tspec_key_class(const char *key)
{
    static const char *const runs[] = {"kind", "method", "backbone", "seed", "git_commit", NULL};
    static const char *const metrics[] = {"dataset", "split", "metric", NULL};
    for (int i = 0; runs[i]; i++)
        if (!strcmp(key, runs[i]))
            return 'r';
    for (int i = 0; metrics[i]; i++)
        if (!strcmp(key, metrics[i]))
            return 'm';
    if (!strcmp(key, "group"))
        return 'g';
    /* a config path: dot-separated segments of [a-z0-9_], at least two */
    int dots = 0, seg = 0;
    for (const char *p = key; *p; p++) {
        if (*p == '.') {
            if (!seg)
                return 0;
            dots++, seg = 0;
        } else if (islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_') {
            seg++;
        } else {
            return 0;
        }
    }
    return dots > 0 && seg ? 'c' : 0;
}

const cJSON *biqa_tspec_where_get(const biqa_tspec_where *w, const char *key)
{
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->terms[i].key, key))
            return w->terms[i].value;
    return NULL;
}

int biqa_tspec_where_set(biqa_tspec_where *w, const char *key, const cJSON *value,
                         biqa_error *err)
{
    cJSON *copy = cJSON_Duplicate(value, 0);
    if (!copy)
        return biqa_fail(err, "where %s: out of memory", key);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->terms[i].key, key)) {
            cJSON_Delete(w->terms[i].value);
            w->terms[i].value = copy;
            return 0;
        }
    biqa_tspec_term *grown = realloc(w->terms, (size_t)(w->n + 1) * sizeof *grown);
    char *k = strdup(key);
    if (!grown || !k) {
        free(k);
        cJSON_Delete(copy);
        if (grown)
            w->terms = grown;
        return biqa_fail(err, "where %s: out of memory", key);
    }
    w->terms = grown;
    w->terms[w->n++] = (biqa_tspec_term){k, copy};
    return 0;
}

int biqa_tspec_where_set_text(biqa_tspec_where *w, const char *key_value, biqa_error *err)
{
    const char *eq = strchr(key_value, '=');
    if (!eq || eq == key_value)
        return biqa_fail(err, "--where '%s': expected KEY=VALUE", key_value);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - key_value), key_value);
    if (!biqa_tspec_key_class(key))
        return biqa_fail(err, "--where '%s': '%s' is not a run field (kind, method, backbone, "
                         "seed, git_commit, group), a metrics field (dataset, split, metric) "
                         "or a config path (section.name)", key_value, key);
    cJSON *v = cJSON_Parse(eq + 1);
    if (!cJSON_IsNumber(v) && !cJSON_IsBool(v)) {
        cJSON_Delete(v);
        v = cJSON_CreateString(eq + 1);
    }
    int rc = v ? biqa_tspec_where_set(w, key, v, err) : biqa_fail(err, "out of memory");
    cJSON_Delete(v);
    return rc;
}

void biqa_tspec_where_free(biqa_tspec_where *w)
{
    for (int i = 0; i < w->n; i++) {
        free(w->terms[i].key);
        cJSON_Delete(w->terms[i].value);
    }
    free(w->terms);
    w->terms = NULL;
    w->n = 0;
}

static int where_merge(biqa_tspec_where *into, const biqa_tspec_where *from, biqa_error *err)
{
    for (int i = 0; from && i < from->n; i++)
        if (biqa_tspec_where_set(into, from->terms[i].key, from->terms[i].value, err) < 0)
            return -1;
    return 0;
}

int biqa_tspec_cell_where(const biqa_tspec *t, int row, int col, const biqa_tspec_where *extra,
                          biqa_tspec_where *out, biqa_error *err)
{
    *out = (biqa_tspec_where){0};
    const biqa_tspec_row *r = &t->rows[row];
    if (where_merge(out, &t->where, err) < 0 ||
        where_merge(out, &t->sections[r->section].where, err) < 0 ||
        where_merge(out, &r->where, err) < 0 || where_merge(out, &t->cols[col].where, err) < 0 ||
        where_merge(out, extra, err) < 0) {
        biqa_tspec_where_free(out);
        return -1;
    }
    return 0;
}

void biqa_tspec_value_text(const cJSON *v, char *out, size_t len)
{
    if (cJSON_IsString(v)) {
        snprintf(out, len, "%s", v->valuestring);
    } else if (cJSON_IsBool(v)) {
        snprintf(out, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 1e15) {
            snprintf(out, len, "%lld", (long long)d);
            return;
        }
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(out, len, "%.*g", prec, d);
            if (strtod(out, NULL) == d)
                return;
        }
    } else {
        snprintf(out, len, "?");
    }
}

/* ---- fill commands ----------------------------------------------------- */

typedef struct buf {
    char *s;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->s = grown, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* Single-quotes text the shell would otherwise split or expand. */
static void put_shell(buf *b, const char *s)
{
    if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,+-=/:@") ==
                  strlen(s)) {
        puts_(b, s);
        return;
    }
    puts_(b, "'");
    for (; *s; s++)
        *s == '\'' ? puts_(b, "'\\''") : put(b, s, 1);
    puts_(b, "'");
}

char *biqa_tspec_fill_command(const biqa_tspec *t, int row, const biqa_tspec_where *cell,
                              const char *profile, biqa_tspec_is_default is_default, void *ctx,
                              biqa_error *err)
{
    const biqa_tspec_section *sec = &t->sections[t->rows[row].section];
    const char *tpl = t->rows[row].fill ? t->rows[row].fill : sec->fill ? sec->fill : t->fill;
    const char *field = t->rows[row].fill ? "fill of the row" : sec->fill ? "fill of its section"
                                                                          : "fill";
    if (!tpl) {
        biqa_fail(err, "%s: row '%s': no fill command (\"fill\" of the row, its section or "
                  "the table)", t->path, t->rows[row].id);
        return NULL;
    }
    buf b = {0};
    puts_(&b, "");
    for (const char *p = tpl; *p;) {
        if (*p != '{') {
            put(&b, p++, 1);
            continue;
        }
        const char *close = strchr(p, '}');
        char name[32];
        if (!close || close - p - 1 >= (long)sizeof name) {
            biqa_fail(err, "%s: %s '%s': unterminated placeholder", t->path, field, tpl);
            goto fail;
        }
        snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
        p = close + 1;
        char text[256];
        if (!strcmp(name, "profile")) {
            put_shell(&b, profile);
        } else if (!strcmp(name, "set")) {
            for (int i = 0; i < cell->n; i++) {
                const char *key = cell->terms[i].key;
                if (biqa_tspec_key_class(key) != 'c' || !strncmp(key, "bench.", 6) ||
                    !strncmp(key, "downstream.", 11))
                    continue; /* not a knob: set by the command itself */
                if (is_default && is_default(ctx, key, cell->terms[i].value))
                    continue;
                char kv[512];
                biqa_tspec_value_text(cell->terms[i].value, text, sizeof text);
                snprintf(kv, sizeof kv, "%s=%s", key, text);
                puts_(&b, " --set ");
                put_shell(&b, kv);
            }
        } else if (!strcmp(name, "method") || !strcmp(name, "dataset") || !strcmp(name, "kind") ||
                   !strcmp(name, "split")) {
            const cJSON *v = biqa_tspec_where_get(cell, name);
            if (!v) {
                biqa_fail(err, "%s: row '%s': %s uses {%s} but the cell selects no %s", t->path,
                          t->rows[row].id, field, name, name);
                goto fail;
            }
            biqa_tspec_value_text(v, text, sizeof text);
            put_shell(&b, text);
        } else {
            biqa_fail(err, "%s: %s: unknown placeholder {%s} (method, dataset, kind, split, "
                      "set, profile)", t->path, field, name);
            goto fail;
        }
    }
    if (!b.oom)
        return b.s;
    biqa_fail(err, "%s: out of memory", t->path);
fail:
    free(b.s);
    return NULL;
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct ctx {
    const char *file;
    biqa_error *err;
} ctx;

/* Every field of obj must be one of allowed (NULL-terminated). */
static int known_fields(const ctx *c, const cJSON *obj, const char *where,
                        const char *const *allowed)
{
    for (const cJSON *f = obj->child; f; f = f->next) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(f->string, allowed[i]);
        if (!ok) {
            char list[512] = "";
            for (int i = 0; allowed[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         allowed[i]);
            return biqa_fail(c->err, "%s: %s%s%s: unknown field (known: %s)", c->file, where,
                             *where ? "." : "", f->string, list);
        }
    }
    return 0;
}

/* Optional (or required) string field, copied into *out. */
static int str_field(const ctx *c, const cJSON *obj, const char *where, const char *name,
                     int required, char **out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!f) {
        if (required)
            return biqa_fail(c->err, "%s: %s%s%s: missing (a string)", c->file, where,
                             *where ? "." : "", name);
        return 0;
    }
    if (!cJSON_IsString(f) || !*f->valuestring)
        return biqa_fail(c->err, "%s: %s%s%s: must be a non-empty string", c->file, where,
                         *where ? "." : "", name);
    if (!(*out = strdup(f->valuestring)))
        return biqa_fail(c->err, "%s: out of memory", c->file);
    return 0;
}

static int int_field(const ctx *c, const cJSON *obj, const char *where, const char *name,
                     int lo, int hi, int *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!f)
        return 0;
    if (!cJSON_IsNumber(f) || f->valuedouble != floor(f->valuedouble) || f->valuedouble < lo ||
        f->valuedouble > hi)
        return biqa_fail(c->err, "%s: %s%s%s: must be a whole number in %d..%d", c->file, where,
                         *where ? "." : "", name, lo, hi);
    *out = (int)f->valuedouble;
    return 0;
}

static int best_field(const ctx *c, const cJSON *obj, const char *where, enum biqa_tspec_best *out)
{
    char *s;
    if (str_field(c, obj, where, "bold", 0, &s) < 0)
        return -1;
    if (!s)
        return 0;
    int rc = 0;
    if (!strcmp(s, "max"))
        *out = BIQA_BEST_MAX;
    else if (!strcmp(s, "min"))
        *out = BIQA_BEST_MIN;
    else if (!strcmp(s, "none"))
        *out = BIQA_BEST_NONE;
    else
        rc = biqa_fail(c->err, "%s: %s%sbold: '%s' is not max, min or none", c->file, where,
                       *where ? "." : "", s);
    free(s);
    return rc;
}

static int where_field(const ctx *c, const cJSON *obj, const char *where, biqa_tspec_where *out)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(obj, "where");
    if (!w)
        return 0;
    if (!cJSON_IsObject(w))
        return biqa_fail(c->err, "%s: %s%swhere: must be an object of KEY: VALUE", c->file, where,
                         *where ? "." : "");
    for (const cJSON *f = w->child; f; f = f->next) {
        if (!biqa_tspec_key_class(f->string))
            return biqa_fail(c->err, "%s: %s%swhere.%s: not a run field (kind, method, "
                             "backbone, seed, git_commit, group), a metrics field (dataset, "
                             "split, metric) or a config path (section.name)", c->file, where,
                             *where ? "." : "", f->string);
        if (!cJSON_IsString(f) && !cJSON_IsNumber(f) && !cJSON_IsBool(f))
            return biqa_fail(c->err, "%s: %s%swhere.%s: must be a string, number or boolean",
                             c->file, where, *where ? "." : "", f->string);
        if (biqa_tspec_where_set(out, f->string, f, c->err) < 0)
            return -1;
    }
    return 0;
}

static int parse_column(const ctx *c, const cJSON *o, int i, biqa_tspec_column *col)
{
    char where[48];
    snprintf(where, sizeof where, "columns[%d]", i);
    static const char *const allowed[] = {"id", "label", "group", "where", "published",
                                          "decimals", "digits", "suffix", "bold", NULL};
    if (!cJSON_IsObject(o))
        return biqa_fail(c->err, "%s: %s: must be an object", c->file, where);
    col->decimals = -1, col->best = (enum biqa_tspec_best)-1;
    if (known_fields(c, o, where, allowed) < 0 || str_field(c, o, where, "id", 1, &col->id) < 0 ||
        str_field(c, o, where, "label", 1, &col->label) < 0 ||
        str_field(c, o, where, "group", 0, &col->group) < 0 ||
        str_field(c, o, where, "suffix", 0, &col->suffix) < 0 ||
        int_field(c, o, where, "decimals", 0, 9, &col->decimals) < 0 ||
        int_field(c, o, where, "digits", 1, 17, &col->digits) < 0 ||
        best_field(c, o, where, &col->best) < 0 || where_field(c, o, where, &col->where) < 0)
        return -1;
    if (!col->suffix && !(col->suffix = strdup("")))
        return biqa_fail(c->err, "%s: out of memory", c->file);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "published");
    if (p) {
        char pw[64];
        snprintf(pw, sizeof pw, "%s.published", where);
        static const char *const pub_allowed[] = {"dataset", "metric", NULL};
        if (!cJSON_IsObject(p))
            return biqa_fail(c->err, "%s: %s: must be {\"dataset\": ..., \"metric\": ...}",
                             c->file, pw);
        if (known_fields(c, p, pw, pub_allowed) < 0 ||
            str_field(c, p, pw, "dataset", 1, &col->pub_dataset) < 0 ||
            str_field(c, p, pw, "metric", 1, &col->pub_metric) < 0)
            return -1;
    }
    return 0;
}

static int parse_row(const ctx *c, const cJSON *o, const char *where, int published,
                     biqa_tspec_row *row)
{
    static const char *const allowed[] = {"id", "label", "where", "published", "fill", NULL};
    if (!cJSON_IsObject(o))
        return biqa_fail(c->err, "%s: %s: must be an object", c->file, where);
    if (known_fields(c, o, where, allowed) < 0 || str_field(c, o, where, "id", 1, &row->id) < 0 ||
        str_field(c, o, where, "label", 1, &row->label) < 0 ||
        str_field(c, o, where, "published", published, &row->pub_method) < 0 ||
        str_field(c, o, where, "fill", 0, &row->fill) < 0 ||
        where_field(c, o, where, &row->where) < 0)
        return -1;
    if (!published && row->pub_method)
        return biqa_fail(c->err, "%s: %s.published: only rows of a published section "
                         "(\"source\": \"published\") show published values", c->file, where);
    if (published && (row->where.n || row->fill))
        return biqa_fail(c->err, "%s: %s: a row of a published section has no \"where\" or "
                         "\"fill\": its values come from the published table", c->file, where);
    return 0;
}

static int add_rows(const ctx *c, const cJSON *rows, const char *where, int section,
                    biqa_tspec *t)
{
    if (!cJSON_IsArray(rows) || !cJSON_GetArraySize(rows))
        return biqa_fail(c->err, "%s: %s: must be a non-empty array of rows", c->file, where);
    int n = cJSON_GetArraySize(rows);
    biqa_tspec_row *grown = realloc(t->rows, (size_t)(t->nrows + n) * sizeof *grown);
    if (!grown)
        return biqa_fail(c->err, "%s: out of memory", c->file);
    t->rows = grown;
    int i = 0;
    for (const cJSON *r = rows->child; r; r = r->next, i++) {
        biqa_tspec_row *row = &t->rows[t->nrows++];
        *row = (biqa_tspec_row){.section = section};
        char rw[64];
        snprintf(rw, sizeof rw, "%s[%d]", where, i);
        if (parse_row(c, r, rw, t->sections[section].published, row) < 0)
            return -1;
    }
    return 0;
}

static int parse_sections(const ctx *c, const cJSON *root, biqa_tspec *t)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(root, "sections");
    if (!!rows == !!secs)
        return biqa_fail(c->err, "%s: needs exactly one of \"rows\" and \"sections\"", c->file);
    if (rows) {
        if (!(t->sections = calloc(1, sizeof *t->sections)))
            return biqa_fail(c->err, "%s: out of memory", c->file);
        t->nsections = 1;
        return add_rows(c, rows, "rows", 0, t);
    }
    if (!cJSON_IsArray(secs) || !cJSON_GetArraySize(secs))
        return biqa_fail(c->err, "%s: sections: must be a non-empty array", c->file);
    int n = cJSON_GetArraySize(secs);
    if (!(t->sections = calloc((size_t)n, sizeof *t->sections)))
        return biqa_fail(c->err, "%s: out of memory", c->file);
    static const char *const allowed[] = {"title", "source", "where", "fill", "rows", NULL};
    int i = 0;
    for (const cJSON *s = secs->child; s; s = s->next, i++) {
        char where[48], rw[64];
        snprintf(where, sizeof where, "sections[%d]", i);
        snprintf(rw, sizeof rw, "%s.rows", where);
        biqa_tspec_section *sec = &t->sections[t->nsections++];
        char *source = NULL;
        if (!cJSON_IsObject(s))
            return biqa_fail(c->err, "%s: %s: must be an object", c->file, where);
        if (known_fields(c, s, where, allowed) < 0 ||
            str_field(c, s, where, "title", 1, &sec->title) < 0 ||
            str_field(c, s, where, "source", 0, &source) < 0 ||
            str_field(c, s, where, "fill", 0, &sec->fill) < 0 ||
            where_field(c, s, where, &sec->where) < 0)
            return -1;
        int bad = source && strcmp(source, "runs") && strcmp(source, "published");
        sec->published = source && !strcmp(source, "published");
        free(source);
        if (bad)
            return biqa_fail(c->err, "%s: %s.source: must be \"runs\" or \"published\"", c->file,
                             where);
        if (sec->published && (sec->where.n || sec->fill))
            return biqa_fail(c->err, "%s: %s: a published section has no \"where\" or "
                             "\"fill\": it selects no runs", c->file, where);
        if (add_rows(c, cJSON_GetObjectItemCaseSensitive(s, "rows"), rw, i, t) < 0)
            return -1;
    }
    return 0;
}

/* Cross-field rules: unique ids, published lookups possible, every runs
 * cell with a kind, a metric and a fill command it can resolve. */
static int validate(const ctx *c, biqa_tspec *t)
{
    for (int i = 0; i < t->ncols; i++) {
        biqa_tspec_column *col = &t->cols[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(t->cols[j].id, col->id))
                return biqa_fail(c->err, "%s: columns[%d].id: '%s' is used twice", c->file, i,
                                 col->id);
    }
    for (int i = 0; i < t->nrows; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(t->rows[j].id, t->rows[i].id))
                return biqa_fail(c->err, "%s: row id '%s' is used twice", c->file, t->rows[i].id);
    int any_published = 0;
    for (int s = 0; s < t->nsections; s++)
        any_published |= t->sections[s].published;
    if (any_published && !t->published_table)
        return biqa_fail(c->err, "%s: published_table: missing, and a section shows published "
                         "values", c->file);
    for (int r = 0; r < t->nrows; r++) {
        if (t->sections[t->rows[r].section].published)
            continue;
        for (int k = 0; k < t->ncols; k++) {
            for (int a = 0; a < t->rows[r].where.n; a++)
                if (biqa_tspec_where_get(&t->cols[k].where, t->rows[r].where.terms[a].key))
                    return biqa_fail(c->err, "%s: row '%s' and column '%s' both select '%s'",
                                     c->file, t->rows[r].id, t->cols[k].id,
                                     t->rows[r].where.terms[a].key);
            biqa_tspec_where w;
            if (biqa_tspec_cell_where(t, r, k, NULL, &w, c->err) < 0)
                return -1;
            const char *missing = !biqa_tspec_where_get(&w, "kind")     ? "kind"
                                  : !biqa_tspec_where_get(&w, "metric") ? "metric"
                                                                        : NULL;
            char *cmd = missing ? NULL : biqa_tspec_fill_command(t, r, &w, "demo", NULL, NULL,
                                                                 c->err);
            biqa_tspec_where_free(&w);
            if (missing)
                return biqa_fail(c->err, "%s: row '%s', column '%s': the cell selects no %s "
                                 "(in where of the table, section, row or column)", c->file,
                                 t->rows[r].id, t->cols[k].id, missing);
            if (!cmd)
                return -1;
            free(cmd);
        }
    }
    return 0;
}

static void default_name(const char *path, char **out)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json"))
        n -= 5;
    *out = strndup(base, n);
}

int biqa_tspec_parse(const char *name, const char *text, biqa_tspec *t, biqa_error *err)
{
    *t = (biqa_tspec){.ci = 1};
    ctx c = {name, err};
    cJSON *root = cJSON_Parse(text);
    int rc = -1;
    if (!(t->path = strdup(name))) {
        biqa_fail(err, "%s: out of memory", name);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = text; at && p < at && *p; p++)
            line += *p == '\n';
        biqa_fail(err, "%s:%d: not a JSON object%s", name, line,
                  root ? "" : " (JSON syntax error)");
        goto out;
    }
    static const char *const allowed[] = {"name", "title", "caption", "stub", "where", "aggregate", "ci",
                                          "decimals", "bold", "fill", "published_table",
                                          "columns", "rows", "sections", NULL};
    char *agg = NULL;
    int decimals = 3;
    enum biqa_tspec_best best = BIQA_BEST_MAX;
    if (known_fields(&c, root, "", allowed) < 0 || str_field(&c, root, "", "name", 0, &t->name) < 0 ||
        str_field(&c, root, "", "title", 1, &t->title) < 0 ||
        str_field(&c, root, "", "caption", 0, &t->caption) < 0 ||
        str_field(&c, root, "", "stub", 0, &t->stub) < 0 ||
        str_field(&c, root, "", "fill", 0, &t->fill) < 0 ||
        str_field(&c, root, "", "published_table", 0, &t->published_table) < 0 ||
        str_field(&c, root, "", "aggregate", 0, &agg) < 0 ||
        int_field(&c, root, "", "decimals", 0, 9, &decimals) < 0 ||
        best_field(&c, root, "", &best) < 0 || where_field(&c, root, "", &t->where) < 0)
        goto out;
    if (!t->name)
        default_name(name, &t->name);
    if (!t->name) {
        biqa_fail(err, "%s: out of memory", name);
        goto out;
    }
    int bad_agg = agg && strcmp(agg, "median") && strcmp(agg, "latest");
    t->aggregate = agg && !strcmp(agg, "latest") ? BIQA_AGG_LATEST : BIQA_AGG_MEDIAN;
    free(agg);
    if (bad_agg) {
        biqa_fail(err, "%s: aggregate: must be \"median\" or \"latest\"", name);
        goto out;
    }
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(root, "ci");
    if (ci && !cJSON_IsBool(ci)) {
        biqa_fail(err, "%s: ci: must be true or false", name);
        goto out;
    }
    t->ci = !ci || cJSON_IsTrue(ci);
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(root, "columns");
    if (!cJSON_IsArray(cols) || !cJSON_GetArraySize(cols)) {
        biqa_fail(err, "%s: columns: must be a non-empty array", name);
        goto out;
    }
    if (!(t->cols = calloc((size_t)cJSON_GetArraySize(cols), sizeof *t->cols))) {
        biqa_fail(err, "%s: out of memory", name);
        goto out;
    }
    for (const cJSON *o = cols->child; o; o = o->next) {
        biqa_tspec_column *col = &t->cols[t->ncols];
        int rc_col = parse_column(&c, o, t->ncols, col);
        t->ncols++;
        if (rc_col < 0)
            goto out;
        if (col->decimals < 0)
            col->decimals = decimals;
        if ((int)col->best < 0)
            col->best = best;
    }
    if (parse_sections(&c, root, t) < 0 || validate(&c, t) < 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc < 0)
        biqa_tspec_free(t);
    return rc;
}

int biqa_tspec_load(const char *path, biqa_tspec *t, biqa_error *err)
{
    char *text;
    size_t len;
    *t = (biqa_tspec){0};
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    int rc = biqa_tspec_parse(path, text, t, err);
    free(text);
    return rc;
}

void biqa_tspec_free(biqa_tspec *t)
{
    for (int i = 0; t->cols && i < t->ncols; i++) {
        biqa_tspec_column *c = &t->cols[i];
        free(c->id), free(c->label), free(c->group), free(c->suffix);
        free(c->pub_dataset), free(c->pub_metric);
        biqa_tspec_where_free(&c->where);
    }
    for (int i = 0; t->rows && i < t->nrows; i++) {
        biqa_tspec_row *r = &t->rows[i];
        free(r->id), free(r->label), free(r->pub_method), free(r->fill);
        biqa_tspec_where_free(&r->where);
    }
    for (int i = 0; t->sections && i < t->nsections; i++) {
        free(t->sections[i].title);
        free(t->sections[i].fill);
        biqa_tspec_where_free(&t->sections[i].where);
    }
    free(t->cols), free(t->rows), free(t->sections);
    free(t->path), free(t->name), free(t->title), free(t->caption), free(t->fill);
    free(t->stub);
    free(t->published_table);
    biqa_tspec_where_free(&t->where);
    *t = (biqa_tspec){0};
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int biqa_tspec_load_dir(const char *dir, biqa_tspec **specs, int *n, biqa_error *err)
{
    *specs = NULL, *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return biqa_fail(err, "%s: cannot open the table specs folder", dir);
    char **names = NULL;
    int count = 0, rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".json") || e->d_name[0] == '.')
            continue;
        char **grown = realloc(names, (size_t)(count + 1) * sizeof *grown);
        if (!grown || !(grown[count] = strdup(e->d_name))) {
            names = grown ? grown : names;
            rc = biqa_fail(err, "%s: out of memory", dir);
            break;
        }
        names = grown, count++;
    }
    closedir(d);
    if (rc == 0 && count == 0)
        rc = biqa_fail(err, "%s: no table specs (*.json)", dir);
    if (rc == 0) {
        qsort(names, (size_t)count, sizeof *names, cmp_names);
        if (!(*specs = calloc((size_t)count, sizeof **specs)))
            rc = biqa_fail(err, "%s: out of memory", dir);
    }
    for (int i = 0; rc == 0 && i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = biqa_tspec_load(path, &(*specs)[i], err);
        if (rc == 0)
            (*n)++;
        for (int j = 0; rc == 0 && j < i; j++)
            if (!strcmp((*specs)[j].name, (*specs)[i].name))
                rc = biqa_fail(err, "%s: name '%s' is also the name of %s", path,
                               (*specs)[i].name, (*specs)[j].path);
    }
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (rc < 0) {
        biqa_tspec_free_all(*specs, *n);
        *specs = NULL, *n = 0;
    }
    return rc;
}

void biqa_tspec_free_all(biqa_tspec *specs, int n)
{
    for (int i = 0; i < n; i++)
        biqa_tspec_free(&specs[i]);
    free(specs);
}

static int index_of(int n, const char *(*get)(const biqa_tspec *, int, int), const biqa_tspec *t,
                    const char *id)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++)
            if (!strcmp(get(t, i, pass), id))
                return i;
    return -1;
}

static const char *row_key(const biqa_tspec *t, int i, int label)
{
    return label ? t->rows[i].label : t->rows[i].id;
}

static const char *col_key(const biqa_tspec *t, int i, int label)
{
    return label ? t->cols[i].label : t->cols[i].id;
}

int biqa_tspec_row_index(const biqa_tspec *t, const char *id)
{
    return index_of(t->nrows, row_key, t, id);
}

int biqa_tspec_col_index(const biqa_tspec *t, const char *id)
{
    return index_of(t->ncols, col_key, t, id);
}
