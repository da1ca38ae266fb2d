/* xlsx label formats (datasets/labels.h): CSIQ, SPAQ and BID, through the
 * sheet reader in datasets/xlsx.h. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datasets/labels_parse.h"
#include "datasets/xlsx.h"

/* Text of a cell without surrounding blanks, into buf. */
static const char *trimmed(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col, char *buf,
                           size_t cap)
{
    const char *t = biqa_xlsx_text(s, row, col);
    while (isspace((unsigned char)*t))
        t++;
    size_t n = strlen(t);
    while (n && isspace((unsigned char)t[n - 1]))
        n--;
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), t);
    return buf;
}

static int row_empty(const biqa_xlsx_sheet *s, uint32_t row)
{
    char buf[8];
    for (uint32_t c = 1; c <= s->cols; c++)
        if (*trimmed(s, row, c, buf, sizeof buf))
            return 0;
    return 1;
}

/* The column whose header cell in row equals name ignoring case, or 0. */
static uint32_t header_col(const biqa_xlsx_sheet *s, uint32_t row, const char *name)
{
    char buf[256];
    for (uint32_t c = 1; c <= s->cols; c++)
        if (!strcasecmp(trimmed(s, row, c, buf, sizeof buf), name))
            return c;
    return 0;
}

static int open_sheet(label_rows *r, const char *default_sheet, biqa_xlsx_sheet *s,
                      biqa_error *err)
{
    return biqa_xlsx_read(r->file, r->spec->sheet ? r->spec->sheet : default_sheet, s, err);
}

static void row_where(const biqa_xlsx_sheet *s, uint32_t row, char *where, size_t cap)
{
    snprintf(where, cap, "%s: sheet %s: row %u", s->path, s->name, row);
}

/* ---- CSIQ ------------------------------------------------------------------ */

/* dst_type in csiq.DMOS.xlsx -> folder under dst_imgs/ and the tag in file names. */
static const struct {
    const char *type, *dir, *tag;
} csiq_types[] = {{"noise", "awgn", "AWGN"},          {"jpeg", "jpeg", "JPEG"},
                  {"jpeg 2000", "jpeg2000", "jpeg2000"}, {"fnoise", "fnoise", "fnoise"},
                  {"blur", "blur", "BLUR"},           {"contrast", "contrast", "contrast"}};

int labels_csiq_xlsx(label_rows *r, biqa_error *err)
{
    biqa_xlsx_sheet s;
    if (open_sheet(r, "all_by_image", &s, err) < 0)
        return -1;
    /* the table starts below a title: its header row is the one naming image and dmos */
    uint32_t hr = 0, ci = 0, ct = 0, cl = 0, cs = 0, cm = 0;
    for (uint32_t row = 1; row <= s.rows && !hr; row++)
        if ((ci = header_col(&s, row, "image")) && (cm = header_col(&s, row, "dmos")))
            hr = row;
    int rc = 0;
    if (!hr)
        rc = biqa_fail(err, "%s: sheet %s: no header row with the columns image and dmos",
                       s.path, s.name);
    if (rc == 0) {
        ct = header_col(&s, hr, "dst_type"), cl = header_col(&s, hr, "dst_lev");
        cs = header_col(&s, hr, "dmos_std");
        if (!ct || !cl)
            rc = biqa_fail(err, "%s: sheet %s: row %u: no column %s", s.path, s.name, hr,
                           ct ? "dst_lev" : "dst_type");
    }
    for (uint32_t row = hr + 1; rc == 0 && row <= s.rows; row++) {
        if (row_empty(&s, row))
            continue;
        char where[4200], image[256], type[64], ref[16];
        row_where(&s, row, where, sizeof where);
        trimmed(&s, row, ci, image, sizeof image);
        trimmed(&s, row, ct, type, sizeof type);
        size_t t = 0, nt = sizeof csiq_types / sizeof *csiq_types;
        while (t < nt && strcasecmp(type, csiq_types[t].type))
            t++;
        double lev, dmos, sd = NAN;
        if (!*image) {
            biqa_xlsx_ref(row, ci, ref);
            rc = biqa_fail(err, "%s: sheet %s: cell %s: the image is empty", s.path, s.name, ref);
        } else if (t == nt) {
            biqa_xlsx_ref(row, ct, ref);
            rc = biqa_fail(err, "%s: sheet %s: cell %s: unknown distortion type '%s'", s.path,
                           s.name, ref, type);
        } else if (biqa_xlsx_number(&s, row, cl, &lev, err) < 0 ||
                   biqa_xlsx_number(&s, row, cm, &dmos, err) < 0 ||
                   (cs && biqa_xlsx_number(&s, row, cs, &sd, err) < 0)) {
            rc = -1;
        } else if (lev != floor(lev) || lev < 1 || lev > 99) {
            biqa_xlsx_ref(row, cl, ref);
            rc = biqa_fail(err, "%s: sheet %s: cell %s: level %g is not a whole number 1..99",
                           s.path, s.name, ref, lev);
        } else {
            char name[512], dist[64];
            snprintf(name, sizeof name, "%s/%s.%s.%d.png", csiq_types[t].dir, image,
                     csiq_types[t].tag, (int)lev);
            snprintf(dist, sizeof dist, "%s:%d", csiq_types[t].dir, (int)lev);
            rc = label_row(r, where, name, dmos, sd, image, dist, err);
        }
    }
    biqa_xlsx_free(&s);
    return rc;
}

/* ---- SPAQ ------------------------------------------------------------------ */

int labels_spaq_xlsx(label_rows *r, biqa_error *err)
{
    biqa_xlsx_sheet s;
    if (open_sheet(r, NULL, &s, err) < 0)
        return -1;
    uint32_t ci = header_col(&s, 1, "Image name"), cm = header_col(&s, 1, "MOS");
    int rc = ci && cm ? 0
                      : biqa_fail(err, "%s: sheet %s: row 1 has no column '%s'", s.path, s.name,
                                  ci ? "MOS" : "Image name");
    for (uint32_t row = 2; rc == 0 && row <= s.rows; row++) {
        if (row_empty(&s, row))
            continue;
        char where[4200], image[256];
        double mos;
        row_where(&s, row, where, sizeof where);
        rc = biqa_xlsx_number(&s, row, cm, &mos, err) < 0
                 ? -1
                 : label_row(r, where, trimmed(&s, row, ci, image, sizeof image), mos, NAN, NULL,
                             NULL, err);
    }
    biqa_xlsx_free(&s);
    return rc;
}

/* ---- BID ------------------------------------------------------------------- */

int labels_bid_xlsx(label_rows *r, biqa_error *err)
{
    biqa_xlsx_sheet s;
    if (open_sheet(r, NULL, &s, err) < 0)
        return -1;
    int rc = 0;
    for (uint32_t row = 2; rc == 0 && row <= s.rows; row++) {
        if (row_empty(&s, row))
            continue;
        char where[4200], name[64], ref[16];
        double num, mos;
        row_where(&s, row, where, sizeof where);
        if (biqa_xlsx_number(&s, row, 1, &num, err) < 0 ||
            biqa_xlsx_number(&s, row, 2, &mos, err) < 0) {
            rc = -1;
        } else if (num != floor(num) || num < 1 || num > 9999) {
            biqa_xlsx_ref(row, 1, ref);
            rc = biqa_fail(err, "%s: sheet %s: cell %s: image number %g is not a whole number "
                                "1..9999", s.path, s.name, ref, num);
        } else {
            snprintf(name, sizeof name, "DatabaseImage%04d.JPG", (int)num);
            rc = label_row(r, where, name, mos, NAN, NULL, NULL, err);
        }
    }
    biqa_xlsx_free(&s);
    return rc;
}
