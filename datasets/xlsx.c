/* One sheet of an .xlsx workbook (datasets/xlsx.h): libarchive for the zip,
 * libxml2 for the parts. */
#include "datasets/xlsx.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define MAX_PARTS_BYTES ((size_t)512 << 20) /* all XML parts read, decompressed */

/* ---- the zip's XML parts -------------------------------------------------- */

typedef struct part {
    char *name;
    char *data;
    size_t len;
} part;

typedef struct parts {
    part *p;
    size_t n;
} parts;

static void parts_free(parts *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->p[i].name), free(ps->p[i].data);
    free(ps->p);
}

static const part *part_get(const parts *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name))
            return &ps->p[i];
    return NULL;
}

static int wanted(const char *name)
{
    size_t l = strlen(name);
    return !strncmp(name, "xl/", 3) &&
           ((l > 4 && !strcmp(name + l - 4, ".xml")) || (l > 5 && !strcmp(name + l - 5, ".rels")));
}

/* Reads every xl/ *.xml and *.rels part of the zip into memory. */
static int read_parts(const char *path, parts *ps, biqa_error *err)
{
    memset(ps, 0, sizeof *ps);
    struct archive *a = archive_read_new();
    if (!a)
        return biqa_fail(err, "%s: out of memory", path);
    archive_read_support_format_zip(a);
    int rc = 0;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
        rc = biqa_fail(err, "%s: %s", path, archive_error_string(a));
    size_t total = 0;
    struct archive_entry *e;
    while (rc == 0) {
        int h = archive_read_next_header(a, &e);
        if (h == ARCHIVE_EOF)
            break;
        if (h != ARCHIVE_OK) {
            rc = biqa_fail(err, "%s: not a readable xlsx file (a zip archive): %s", path,
                           archive_error_string(a));
            break;
        }
        const char *name = archive_entry_pathname(e);
        if (!name || !wanted(name[0] == '/' ? name + 1 : name))
            continue;
        part *np = realloc(ps->p, (ps->n + 1) * sizeof *np);
        if (!np) {
            rc = biqa_fail(err, "%s: out of memory", path);
            break;
        }
        ps->p = np;
        part *pt = &ps->p[ps->n];
        memset(pt, 0, sizeof *pt);
        if (!(pt->name = strdup(name[0] == '/' ? name + 1 : name))) {
            rc = biqa_fail(err, "%s: out of memory", path);
            break;
        }
        ps->n++;
        size_t cap = 0;
        for (;;) {
            if (pt->len + 1 >= cap) {
                cap = cap ? 2 * cap : 1 << 16;
                char *d = total + cap > MAX_PARTS_BYTES ? NULL : realloc(pt->data, cap);
                if (!d) {
                    rc = biqa_fail(err, "%s: part %s: %s", path, pt->name,
                                   total + cap > MAX_PARTS_BYTES ? "larger than 512 MiB"
                                                                 : "out of memory");
                    break;
                }
                pt->data = d;
            }
            la_ssize_t got = archive_read_data(a, pt->data + pt->len, cap - pt->len - 1);
            if (got < 0) {
                rc = biqa_fail(err, "%s: part %s: %s", path, pt->name, archive_error_string(a));
                break;
            }
            if (got == 0)
                break;
            pt->len += (size_t)got;
        }
        if (rc == 0)
            pt->data[pt->len] = '\0', total += pt->len;
    }
    archive_read_free(a);
    if (rc < 0)
        parts_free(ps);
    return rc;
}

/* ---- XML helpers ----------------------------------------------------------- */

static xmlDocPtr parse_xml(const char *path, const part *pt, biqa_error *err)
{
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    if (!ctx) {
        biqa_fail(err, "%s: out of memory", path);
        return NULL;
    }
    /* no network, no entity expansion; errors come back here, not on stderr */
    xmlDocPtr doc = xmlCtxtReadMemory(ctx, pt->data, (int)pt->len, pt->name, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctx);
        char msg[256] = "malformed XML";
        if (e && e->message) {
            snprintf(msg, sizeof msg, "%s", e->message);
            msg[strcspn(msg, "\n")] = '\0';
        }
        biqa_fail(err, "%s: %s:%d: %s", path, pt->name, e ? e->line : 0, msg);
    }
    xmlFreeParserCtxt(ctx);
    return doc;
}

static int is_el(const xmlNode *n, const char *local)
{
    return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local);
}

static const xmlNode *child(const xmlNode *n, const char *local)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is_el(c, local))
            return c;
    return NULL;
}

/* An attribute by local name, whatever its namespace (r:id). Malloc'd by libxml2. */
static char *attr(const xmlNode *n, const char *local)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (!strcmp((const char *)a->name, local))
            return (char *)xmlNodeGetContent((const xmlNode *)a);
    return NULL;
}

/* Appends the text of every <t> under n, leaving out phonetic runs <rPh>. */
static int collect_text(const xmlNode *n, char **buf, size_t *len)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (is_el(c, "rPh"))
            continue;
        if (is_el(c, "t")) {
            xmlChar *t = xmlNodeGetContent(c);
            size_t tl = t ? strlen((const char *)t) : 0;
            char *nb = realloc(*buf, *len + tl + 1);
            if (!nb) {
                xmlFree(t);
                return -1;
            }
            memcpy(nb + *len, t ? (const char *)t : "", tl);
            *len += tl, nb[*len] = '\0', *buf = nb;
            xmlFree(t);
        } else if (c->type == XML_ELEMENT_NODE && collect_text(c, buf, len) < 0) {
            return -1;
        }
    }
    return 0;
}

static char *string_item(const xmlNode *n)
{
    char *buf = strdup("");
    size_t len = 0;
    if (buf && collect_text(n, &buf, &len) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- workbook: which part is the sheet ------------------------------------ */

/* The part name of the sheet (malloc'd), or of the first sheet when name is NULL. */
static int sheet_part(const char *path, const parts *ps, const char *name, char **sheet_name,
                      char **target, biqa_error *err)
{
    *sheet_name = *target = NULL;
    const part *wb = part_get(ps, "xl/workbook.xml");
    const part *rels = part_get(ps, "xl/_rels/workbook.xml.rels");
    if (!wb || !rels)
        return biqa_fail(err, "%s: not an xlsx workbook (no %s)", path,
                         wb ? "xl/_rels/workbook.xml.rels" : "xl/workbook.xml");
    xmlDocPtr doc = parse_xml(path, wb, err);
    if (!doc)
        return -1;
    char *rid = NULL, have[512] = "";
    size_t hl = 0;
    const xmlNode *sheets = child(xmlDocGetRootElement(doc), "sheets");
    for (const xmlNode *s = sheets ? sheets->children : NULL; s && !rid; s = s->next) {
        if (!is_el(s, "sheet"))
            continue;
        char *sn = attr(s, "name");
        if (sn && (!name || !strcasecmp(sn, name))) {
            rid = attr(s, "id");
            *sheet_name = strdup(sn);
        } else if (sn && hl < sizeof have) {
            hl += (size_t)snprintf(have + hl, sizeof have - hl, "%s'%s'", hl ? ", " : "", sn);
        }
        xmlFree(sn);
    }
    xmlFreeDoc(doc);
    if (!rid) {
        free(*sheet_name);
        *sheet_name = NULL;
        return name ? biqa_fail(err, "%s: no sheet '%s' (sheets: %s)", path, name,
                                hl ? have : "none")
                    : biqa_fail(err, "%s: the workbook has no sheets", path);
    }
    if (!(doc = parse_xml(path, rels, err))) {
        xmlFree(rid);
        return -1;
    }
    for (const xmlNode *n = xmlDocGetRootElement(doc)->children; n && !*target; n = n->next) {
        char *id = is_el(n, "Relationship") ? attr(n, "Id") : NULL;
        char *t = id && !strcmp(id, rid) ? attr(n, "Target") : NULL;
        /* a target is relative to xl/, or absolute from the package root */
        if (t && asprintf(target, "%s%s", t[0] == '/' ? "" : "xl/", t[0] == '/' ? t + 1 : t) < 0)
            *target = NULL;
        xmlFree(id), xmlFree(t);
    }
    xmlFreeDoc(doc);
    int rc = *target && *sheet_name ? 0
                                    : biqa_fail(err, "%s: sheet '%s': relationship %s has no "
                                                     "target in xl/_rels/workbook.xml.rels",
                                                path, *sheet_name ? *sheet_name : "?", rid);
    xmlFree(rid);
    return rc;
}

/* ---- shared strings -------------------------------------------------------- */

typedef struct sst {
    char **s;
    size_t n;
} sst;

static void sst_free(sst *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    t->s = NULL, t->n = 0;
}

static int read_sst(const char *path, const parts *ps, sst *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    const part *pt = part_get(ps, "xl/sharedStrings.xml");
    if (!pt)
        return 0; /* a workbook without strings has none */
    xmlDocPtr doc = parse_xml(path, pt, err);
    if (!doc)
        return -1;
    int rc = 0;
    size_t cap = 0;
    for (const xmlNode *n = xmlDocGetRootElement(doc)->children; n && rc == 0; n = n->next) {
        if (!is_el(n, "si"))
            continue;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **s = realloc(out->s, cap * sizeof *s);
            if (!s) {
                rc = biqa_fail(err, "%s: out of memory", path);
                break;
            }
            out->s = s;
        }
        if (!(out->s[out->n] = string_item(n)))
            rc = biqa_fail(err, "%s: out of memory", path);
        else
            out->n++;
    }
    xmlFreeDoc(doc);
    if (rc < 0)
        sst_free(out);
    return rc;
}

/* ---- cell references ------------------------------------------------------- */

void biqa_xlsx_ref(uint32_t row, uint32_t col, char out[16])
{
    char letters[8];
    int n = 0;
    for (uint32_t c = col; c > 0 && n < 7; c = (c - 1) / 26)
        letters[n++] = (char)('A' + (c - 1) % 26);
    int k = 0;
    while (n > 0)
        out[k++] = letters[--n];
    snprintf(out + k, (size_t)(16 - k), "%u", row);
}

int biqa_xlsx_parse_ref(const char *ref, uint32_t *row, uint32_t *col)
{
    const char *p = ref;
    uint32_t c = 0, r = 0;
    p += *p == '$';
    int letters = 0;
    for (; isupper((unsigned char)*p) || islower((unsigned char)*p); p++, letters++)
        if (letters == 3 || (c = c * 26 + (uint32_t)(toupper((unsigned char)*p) - 'A' + 1)) > 16384)
            return -1;
    p += *p == '$';
    if (!letters || *p < '1' || *p > '9')
        return -1;
    for (int digits = 0; isdigit((unsigned char)*p); p++, digits++)
        if (digits == 7 || (r = r * 10 + (uint32_t)(*p - '0')) > 1048576)
            return -1;
    if (*p)
        return -1;
    *row = r, *col = c;
    return 0;
}

/* ---- the sheet ------------------------------------------------------------- */

static int cmp_cell(const void *a, const void *b)
{
    const biqa_xlsx_cell *x = a, *y = b;
    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

typedef struct sheet_ctx {
    const char *path, *sheet, *part;
    const sst *strings;
    biqa_xlsx_sheet *out;
    size_t cap;
    biqa_error *err;
} sheet_ctx;

static int add_cell(sheet_ctx *s, const xmlNode *c, uint32_t row, uint32_t col)
{
    char ref[16];
    biqa_xlsx_ref(row, col, ref);
    char *t = attr(c, "t");
    const xmlNode *v = child(c, "v");
    char *value = v ? (char *)xmlNodeGetContent(v) : NULL;
    char *text = NULL;
    enum biqa_xlsx_type type = BIQA_XLSX_NUMBER;
    int rc = 0;
    if (t && !strcmp(t, "s")) {
        char *end;
        unsigned long k = value ? strtoul(value, &end, 10) : 0;
        if (!value || !*value || *end || k >= s->strings->n)
            rc = biqa_fail(s->err, "%s: sheet %s: cell %s: shared string index '%s' is not one "
                                   "of the %zu strings", s->path, s->sheet, ref,
                           value ? value : "", s->strings->n);
        else
            text = strdup(s->strings->s[k]), type = BIQA_XLSX_STRING;
    } else if (t && !strcmp(t, "inlineStr")) {
        const xmlNode *is = child(c, "is");
        text = is ? string_item(is) : strdup(""), type = BIQA_XLSX_STRING;
    } else if (t && strcmp(t, "n") && strcmp(t, "str") && strcmp(t, "b") && strcmp(t, "e")) {
        rc = biqa_fail(s->err, "%s: sheet %s: cell %s: unknown cell type '%s'", s->path,
                       s->sheet, ref, t);
    } else {
        type = !t || !strcmp(t, "n") ? BIQA_XLSX_NUMBER
               : !strcmp(t, "str")   ? BIQA_XLSX_STRING
               : !strcmp(t, "b")     ? BIQA_XLSX_BOOL
                                     : BIQA_XLSX_ERROR;
        if (!value || !*value) { /* a styled but empty cell */
            xmlFree(t), xmlFree(value);
            return 0;
        }
        text = strdup(value);
    }
    xmlFree(t), xmlFree(value);
    if (rc < 0)
        return -1;
    if (!text)
        return biqa_fail(s->err, "%s: out of memory", s->path);
    biqa_xlsx_sheet *o = s->out;
    if (o->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        biqa_xlsx_cell *cells = realloc(o->cells, s->cap * sizeof *cells);
        if (!cells) {
            free(text);
            return biqa_fail(s->err, "%s: out of memory", s->path);
        }
        o->cells = cells;
    }
    o->cells[o->n++] = (biqa_xlsx_cell){row, col, type, text};
    o->rows = row > o->rows ? row : o->rows;
    o->cols = col > o->cols ? col : o->cols;
    return 0;
}

static int read_rows(sheet_ctx *s, const xmlNode *data)
{
    uint32_t row = 0;
    for (const xmlNode *r = data->children; r; r = r->next) {
        if (!is_el(r, "row"))
            continue;
        char *rv = attr(r, "r");
        char *end = NULL;
        unsigned long rn = rv ? strtoul(rv, &end, 10) : row + 1;
        if (rv && (!*rv || *end || rn < 1 || rn > 1048576)) {
            int rc = biqa_fail(s->err, "%s: sheet %s: %s:%ld: row number '%s' is not 1..1048576",
                               s->path, s->sheet, s->part, xmlGetLineNo(r), rv);
            xmlFree(rv);
            return rc;
        }
        xmlFree(rv);
        row = (uint32_t)rn;
        uint32_t col = 0;
        for (const xmlNode *c = r->children; c; c = c->next) {
            if (!is_el(c, "c"))
                continue;
            char *ref = attr(c, "r");
            uint32_t cr = row, cc = col + 1;
            if (ref && biqa_xlsx_parse_ref(ref, &cr, &cc) < 0) {
                int rc = biqa_fail(s->err, "%s: sheet %s: %s:%ld: cell reference '%s' is not a "
                                           "cell (letters A..XFD, then a row 1..1048576)",
                                   s->path, s->sheet, s->part, xmlGetLineNo(c), ref);
                xmlFree(ref);
                return rc;
            }
            if (ref && cr != row) {
                int rc = biqa_fail(s->err, "%s: sheet %s: %s:%ld: cell %s inside row %u",
                                   s->path, s->sheet, s->part, xmlGetLineNo(c), ref, row);
                xmlFree(ref);
                return rc;
            }
            xmlFree(ref);
            if (cc > 16384)
                return biqa_fail(s->err, "%s: sheet %s: %s:%ld: more than 16384 columns",
                                 s->path, s->sheet, s->part, xmlGetLineNo(c));
            col = cc;
            if (add_cell(s, c, row, col) < 0)
                return -1;
        }
    }
    return 0;
}

int biqa_xlsx_read(const char *path, const char *sheet, biqa_xlsx_sheet *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    xmlInitParser();
    parts ps;
    if (read_parts(path, &ps, err) < 0)
        return -1;
    char *target = NULL;
    sst strings = {0};
    int rc = sheet_part(path, &ps, sheet, &out->name, &target, err);
    if (rc == 0)
        rc = read_sst(path, &ps, &strings, err);
    const part *pt = rc == 0 ? part_get(&ps, target) : NULL;
    if (rc == 0 && !pt)
        rc = biqa_fail(err, "%s: sheet %s: its part %s is not in the file", path, out->name,
                       target);
    xmlDocPtr doc = pt ? parse_xml(path, pt, err) : NULL;
    if (pt && !doc)
        rc = -1;
    if (rc == 0 && !(out->path = strdup(path)))
        rc = biqa_fail(err, "%s: out of memory", path);
    if (rc == 0) {
        sheet_ctx s = {path, out->name, pt->name, &strings, out, 0, err};
        const xmlNode *data = child(xmlDocGetRootElement(doc), "sheetData");
        rc = data ? read_rows(&s, data)
                  : biqa_fail(err, "%s: sheet %s: %s has no sheetData", path, out->name, pt->name);
    }
    if (rc == 0 && out->n)
        qsort(out->cells, out->n, sizeof *out->cells, cmp_cell);
    for (size_t i = 1; rc == 0 && i < out->n; i++)
        if (!cmp_cell(&out->cells[i - 1], &out->cells[i])) {
            char ref[16];
            biqa_xlsx_ref(out->cells[i].row, out->cells[i].col, ref);
            rc = biqa_fail(err, "%s: sheet %s: cell %s is given twice", path, out->name, ref);
        }
    xmlFreeDoc(doc);
    sst_free(&strings);
    free(target);
    parts_free(&ps);
    if (rc < 0)
        biqa_xlsx_free(out);
    return rc;
}

void biqa_xlsx_free(biqa_xlsx_sheet *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->cells[i].text);
    free(s->cells);
    free(s->path), free(s->name);
    memset(s, 0, sizeof *s);
}

const biqa_xlsx_cell *biqa_xlsx_get(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col)
{
    biqa_xlsx_cell key = {row, col, BIQA_XLSX_NUMBER, NULL};
    return s->n ? bsearch(&key, s->cells, s->n, sizeof *s->cells, cmp_cell) : NULL;
}

const char *biqa_xlsx_text(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col)
{
    const biqa_xlsx_cell *c = biqa_xlsx_get(s, row, col);
    return c ? c->text : "";
}

int biqa_xlsx_number(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col, double *out,
                     biqa_error *err)
{
    char ref[16];
    biqa_xlsx_ref(row, col, ref);
    const biqa_xlsx_cell *c = biqa_xlsx_get(s, row, col);
    if (!c)
        return biqa_fail(err, "%s: sheet %s: cell %s is empty", s->path, s->name, ref);
    char *end;
    double v = strtod(c->text, &end);
    while (isspace((unsigned char)*end))
        end++;
    if ((c->type != BIQA_XLSX_NUMBER && c->type != BIQA_XLSX_STRING) || end == c->text || *end ||
        !isfinite(v))
        return biqa_fail(err, "%s: sheet %s: cell %s: '%s' is not a number", s->path, s->name,
                         ref, c->text);
    *out = v;
    return 0;
}
