/* biqa figures: the figures of the paper from the results store, as PNG and
 * PDF (harness/figures_plot.h), from the runs harness/figures_data.h selects:
 *   scatter-DATASET-KIND   predicted against MOS on the test images, a panel
 *                          per method, a marker shape per split
 *   loss-pretrain          the loss per epoch of every pretraining run
 *   loss-finetune-DATASET  fine-tuning loss per epoch, a panel per method, a
 *                          line (dash and marker) per split
 *   srcc-splits-DATASET    every split's SRCC per method, fine-tune and
 *                          probe side by side over their box plots */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/log.h"
#include "harness/commands.h"
#include "harness/figures_data.h"
#include "harness/figures_plot.h"
#include "results/aggregate.h"

#define PANEL_W 210.0
#define PANEL_H 190.0
#define HEADER 24.0

typedef struct panel {
    const char *title;
    biqa_fig_series *series;
    int n;
    char note[128];
    double xmin, xmax, ymin, ymax;
} panel;

typedef struct grid {
    const char *title, *xlabel, *ylabel;
    panel *panels;
    int n, cols;
    int diagonal, lines;   /* y = x guide; series as lines over epochs */
    int own_range;         /* each panel its own y range (else one for all) */
    const char *const *legend;
    int nlegend;
} grid;

/* Data ranges per panel, then shared by all panels (y: unless own_range). */
static void grid_range(grid *g)
{
    double all[4] = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int p = 0; p < g->n; p++) {
        panel *pn = &g->panels[p];
        pn->xmin = pn->ymin = INFINITY, pn->xmax = pn->ymax = -INFINITY;
        for (int s = 0; s < pn->n; s++)
            for (int i = 0; i < pn->series[s].n; i++) {
                double x = pn->series[s].x[i], y = pn->series[s].y[i];
                if (isfinite(x))
                    pn->xmin = fmin(pn->xmin, x), pn->xmax = fmax(pn->xmax, x);
                if (isfinite(y))
                    pn->ymin = fmin(pn->ymin, y), pn->ymax = fmax(pn->ymax, y);
            }
        all[0] = fmin(all[0], pn->xmin), all[1] = fmax(all[1], pn->xmax);
        all[2] = fmin(all[2], pn->ymin), all[3] = fmax(all[3], pn->ymax);
    }
    for (int p = 0; p < g->n; p++) {
        panel *pn = &g->panels[p];
        pn->xmin = all[0], pn->xmax = all[1];
        if (!g->own_range)
            pn->ymin = all[2], pn->ymax = all[3];
    }
}

static void draw_grid(cairo_t *cr, double w, double h, void *ctx)
{
    (void)h;
    grid *g = ctx;
    biqa_plot_title(cr, w, g->title);
    for (int p = 0; p < g->n; p++) {
        const panel *pn = &g->panels[p];
        biqa_axes ax;
        biqa_axes_spec spec = {pn->xmin, pn->xmax, pn->ymin, pn->ymax, pn->title, g->xlabel,
                               g->ylabel, NULL, 0, g->lines};
        biqa_axes_begin(&ax, cr, (p % g->cols) * PANEL_W, HEADER + (p / g->cols) * PANEL_H,
                        PANEL_W, PANEL_H, &spec);
        if (g->diagonal)
            biqa_axes_diagonal(&ax);
        for (int s = 0; s < pn->n; s++) {
            if (g->lines)
                biqa_axes_line(&ax, pn->series[s].x, pn->series[s].y, pn->series[s].n, s);
            for (int i = 0; i < pn->series[s].n; i++)
                biqa_axes_marker(&ax, pn->series[s].x[i], pn->series[s].y[i], s);
        }
        if (pn->note[0])
            biqa_axes_note(&ax, 0, pn->note);
    }
    if (g->nlegend) {
        int styles[BIQA_PLOT_STYLES];
        for (int i = 0; i < g->nlegend && i < BIQA_PLOT_STYLES; i++)
            styles[i] = i;
        biqa_plot_legend(cr, g->cols * PANEL_W + 6, HEADER + 18, g->legend,
                         styles, g->nlegend < BIQA_PLOT_STYLES ? g->nlegend : BIQA_PLOT_STYLES,
                         g->lines);
        if (g->diagonal)
            biqa_plot_text(cr, g->cols * PANEL_W + 6, HEADER + 26 + 11 * g->nlegend,
                           "dotted: predicted = MOS");
    }
}

static int write_grid(const char *out, const char *name, grid *g, biqa_error *err)
{
    grid_range(g);
    int rows = (g->n + g->cols - 1) / g->cols;
    double w = g->cols * PANEL_W + (g->nlegend ? 110 : 0);
    int rc = biqa_figure_write(out, name, w, HEADER + rows * PANEL_H, draw_grid, g, err);
    if (rc == 0)
        printf("%s/%s.png\n%s/%s.pdf\n", out, name, out, name);
    return rc;
}

/* File-name-safe text: letters, digits, '-' and '_'. */
static void safe_name(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; *s && i + 1 < len; s++)
        out[i++] = isalnum((unsigned char)*s) || *s == '-' || *s == '_' ? *s : '_';
    out[i] = '\0';
}

static const char *const split_legend[BIQA_PLOT_STYLES] = {
    "split 1", "split 2", "split 3", "split 4", "split 5", "split 6", "split 7", "split 8+"};

static int max_splits(const biqa_fig_dataset *d, int kind)
{
    int m = 0;
    for (int i = 0; i < d->n; i++)
        m = (int)d->methods[i].n[kind] > m ? (int)d->methods[i].n[kind] : m;
    return m > BIQA_PLOT_STYLES ? BIQA_PLOT_STYLES : m;
}

/* ---- predicted against MOS ---------------------------------------------- */

static int scatter(const char *out, const char *db, const biqa_fig_dataset *d, int kind,
                   biqa_error *err)
{
    panel *pn = calloc((size_t)d->n, sizeof *pn);
    char (*titles)[128] = calloc((size_t)d->n, sizeof *titles);
    int np = 0, rc = pn && titles ? 0 : biqa_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < d->n; i++) {
        const biqa_fig_method *m = &d->methods[i];
        if (!m->n[kind])
            continue;
        panel *p = &pn[np++];
        if (!(p->series = calloc(m->n[kind], sizeof *p->series))) {
            rc = biqa_fail(err, "out of memory");
            break;
        }
        int missing = 0;
        for (size_t j = 0; rc == 0 && j < m->n[kind]; j++, p->n++) {
            rc = biqa_fig_predictions(db, m->runs[kind][j].id, &p->series[j], err);
            if (rc == 0 && !p->series[j].n) {
                biqa_warn("figures: run %lld has no predictions.csv in its artifact folder; "
                          "its points are left out", (long long)m->runs[kind][j].id);
                missing++;
            }
        }
        double *v = malloc(m->n[kind] * sizeof *v);
        biqa_aggregate agg = {.median = NAN};
        for (size_t j = 0; v && j < m->n[kind]; j++)
            v[j] = m->runs[kind][j].srcc;
        if (v)
            biqa_aggregate_compute(v, m->n[kind], 0, 0, 0, &agg);
        free(v);
        snprintf(titles[i], sizeof titles[i], "%s: SRCC %.3f", m->name, agg.median);
        p->title = titles[i];
        if (m->mixed[kind][0])
            snprintf(p->note, sizeof p->note, "configurations mixed: %.100s", m->mixed[kind]);
        else if (missing)
            snprintf(p->note, sizeof p->note, "%d run%s without predictions", missing,
                     missing == 1 ? "" : "s");
    }
    if (rc == 0 && np) {
        char title[256], name[256], ds[128];
        safe_name(d->name, ds, sizeof ds);
        snprintf(title, sizeof title, "%s, %s: predicted score against MOS on the test images "
                 "(SRCC: median over the splits)", d->name,
                 kind == BIQA_FIG_FINETUNE ? "fine-tuned" : "linear probe");
        snprintf(name, sizeof name, "scatter-%s-%s", ds, biqa_fig_kinds[kind]);
        grid g = {title, "MOS (0..1)", "predicted", pn, np, np < 3 ? np : 3, 1, 0, 0,
                  split_legend, max_splits(d, kind)};
        rc = write_grid(out, name, &g, err);
    }
    for (int i = 0; pn && i < np; i++) {
        biqa_fig_series_free(pn[i].series, pn[i].n);
        free(pn[i].series);
    }
    free(pn);
    free(titles);
    return rc;
}

/* ---- training curves ---------------------------------------------------- */

static int loss_pretrain(const char *out, sqlite3 *db, const biqa_tspec_where *where,
                         biqa_error *err)
{
    biqa_fig_series *s;
    int n;
    if (biqa_fig_pretrain_curves(db, where, &s, &n, err) < 0)
        return -1;
    panel *pn = calloc((size_t)(n ? n : 1), sizeof *pn);
    int rc = pn ? 0 : biqa_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        pn[i] = (panel){.title = s[i].label, .series = &s[i], .n = 1};
    if (rc == 0 && n) {
        /* the methods' losses differ in kind and scale: each panel its own y range */
        grid g = {"Pretraining loss per epoch, every pretraining run that records one", "epoch",
                  "loss", pn, n,
                  n < 3 ? n : 3, 0, 1, 1, NULL, 0};
        rc = write_grid(out, "loss-pretrain", &g, err);
    }
    free(pn);
    biqa_fig_series_free(s, n);
    free(s);
    return rc;
}

static int loss_finetune(const char *out, sqlite3 *db, const biqa_fig_dataset *d,
                         biqa_error *err)
{
    panel *pn = calloc((size_t)d->n, sizeof *pn);
    int np = 0, rc = pn ? 0 : biqa_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < d->n; i++) {
        const biqa_fig_method *m = &d->methods[i];
        if (!m->n[BIQA_FIG_FINETUNE])
            continue;
        panel *p = &pn[np++];
        p->title = m->name;
        if (m->mixed[BIQA_FIG_FINETUNE][0])
            snprintf(p->note, sizeof p->note, "configurations mixed: %.100s",
                     m->mixed[BIQA_FIG_FINETUNE]);
        if (!(p->series = calloc(m->n[BIQA_FIG_FINETUNE], sizeof *p->series)))
            rc = biqa_fail(err, "out of memory");
        for (size_t j = 0; rc == 0 && j < m->n[BIQA_FIG_FINETUNE]; j++, p->n++)
            rc = biqa_fig_curve(db, m->runs[BIQA_FIG_FINETUNE][j].id, "train_loss",
                                &p->series[j], err);
    }
    if (rc == 0 && np) {
        char title[256], name[256], ds[128];
        safe_name(d->name, ds, sizeof ds);
        snprintf(title, sizeof title, "%s: fine-tuning loss per epoch, one line per split",
                 d->name);
        snprintf(name, sizeof name, "loss-finetune-%s", ds);
        grid g = {title, "epoch", "training loss", pn, np, np < 3 ? np : 3, 0, 1, 0,
                  split_legend, max_splits(d, BIQA_FIG_FINETUNE)};
        rc = write_grid(out, name, &g, err);
    }
    for (int i = 0; pn && i < np; i++) {
        biqa_fig_series_free(pn[i].series, pn[i].n);
        free(pn[i].series);
    }
    free(pn);
    return rc;
}

/* ---- per-split SRCC ------------------------------------------------------ */

#define NOTE_H 11.0

/* Lines of notes under the per-split figure: one per mixed method and kind. */
static int mixed_lines(const biqa_fig_dataset *d)
{
    int n = 0;
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < BIQA_FIG_KINDS; k++)
            n += d->methods[i].mixed[k][0] != 0;
    return n;
}

static void draw_splits(cairo_t *cr, double w, double h, void *ctx)
{
    const biqa_fig_dataset *d = ctx;
    char title[256];
    snprintf(title, sizeof title, "%s: test SRCC of every split, per pretraining method "
             "(box: quartiles and median)", d->name);
    biqa_plot_title(cr, w, title);
    const char **cats = calloc((size_t)d->n, sizeof *cats);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < d->n; i++) {
        if (cats)
            cats[i] = d->methods[i].name;
        for (int k = 0; k < BIQA_FIG_KINDS; k++)
            for (size_t j = 0; j < d->methods[i].n[k]; j++)
                if (isfinite(d->methods[i].runs[k][j].srcc))
                    lo = fmin(lo, d->methods[i].runs[k][j].srcc),
                    hi = fmax(hi, d->methods[i].runs[k][j].srcc);
    }
    if (!cats)
        return;
    biqa_axes ax;
    biqa_axes_spec spec = {0, 0, lo, hi, NULL, "method", "test SRCC", cats, d->n, 0};
    int lines = mixed_lines(d);
    biqa_axes_begin(&ax, cr, 0, HEADER, w - 90, h - HEADER - NOTE_H * lines - (lines ? 6 : 0),
                    &spec);
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < BIQA_FIG_KINDS; k++) {
            const biqa_fig_method *m = &d->methods[i];
            double x = i + (k ? 0.2 : -0.2), *v = malloc((m->n[k] ? m->n[k] : 1) * sizeof *v);
            for (size_t j = 0; v && j < m->n[k]; j++)
                v[j] = m->runs[k][j].srcc;
            if (v)
                biqa_axes_box(&ax, x, 0.14, v, (int)m->n[k]);
            free(v);
            /* a small fixed offset per split, so that equal values stay visible */
            int undefined = 0;
            for (size_t j = 0; j < m->n[k]; j++) {
                biqa_axes_marker(&ax, x + ((double)(j % 5) - 2) * 0.03, m->runs[k][j].srcc, k);
                undefined += isnan(m->runs[k][j].srcc);
            }
            if (undefined) { /* a split without a value is said, not dropped */
                char label[32];
                snprintf(label, sizeof label, "%d NaN", undefined);
                biqa_axes_bottom_label(&ax, x, label);
            }
        }
    for (int i = 0, line = 0; i < d->n; i++) /* under the figure: what mixes */
        for (int k = 0; k < BIQA_FIG_KINDS; k++)
            if (d->methods[i].mixed[k][0]) {
                char note[400];
                snprintf(note, sizeof note, "%s %s: runs of several configurations (%.200s); "
                         "--where narrows them", d->methods[i].name, biqa_fig_kinds[k],
                         d->methods[i].mixed[k]);
                biqa_plot_text(cr, 8, h - NOTE_H * (lines - line++) - 4, note);
            }
    static const char *const legend[] = {"fine-tune", "linear probe"};
    biqa_plot_legend(cr, w - 84, HEADER + 18, legend, (const int[]){0, 1}, 2, 0);
    free(cats);
}

static int srcc_splits(const char *out, const biqa_fig_dataset *d, biqa_error *err)
{
    char name[256], ds[128];
    safe_name(d->name, ds, sizeof ds);
    snprintf(name, sizeof name, "srcc-splits-%s", ds);
    double w = 90 + 60 + 90 * (d->n > 3 ? d->n : 3);
    int lines = mixed_lines(d);
    int rc = biqa_figure_write(out, name, w, 300 + NOTE_H * lines + (lines ? 6 : 0),
                               draw_splits, (void *)d, err);
    if (rc == 0)
        printf("%s/%s.png\n%s/%s.pdf\n", out, name, out, name);
    return rc;
}

int biqa_cmd_figures(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    const char *out = biqa_arg(a, "out");
    if (!out)
        return biqa_usage_error(a, "missing --out DIR");
    biqa_error err = {{0}};
    biqa_tspec_where where = {0};
    biqa_store store;
    int has_store = 0, n = 0;
    biqa_fig_dataset *data = NULL;
    const char *const *wheres;
    int nw = biqa_arg_all(a, "where", &wheres), rc = 0;
    for (int i = 0; rc == 0 && i < nw; i++)
        rc = biqa_tspec_where_set_text(&where, wheres[i], &err);
    if (rc == 0 && (rc = biqa_store_open(&store, cli->db, BIQA_STORE_READONLY, &err)) == 0)
        has_store = 1;
    if (rc == 0)
        rc = biqa_fig_load(store.db, &where, &data, &n, &err);
    if (rc == 0 && n == 0)
        rc = biqa_fail(&err, "%s: no finished finetune or probe runs%s: nothing to plot "
                       "('biqa reproduce' makes some)", cli->db, nw ? " matching --where" : "");
    if (rc == 0)
        rc = biqa_mkdir_p(out, &err);
    for (int i = 0; rc == 0 && i < n; i++) {
        for (int k = 0; rc == 0 && k < BIQA_FIG_KINDS; k++)
            rc = scatter(out, cli->db, &data[i], k, &err);
        if (rc == 0)
            rc = loss_finetune(out, store.db, &data[i], &err);
        if (rc == 0)
            rc = srcc_splits(out, &data[i], &err);
    }
    if (rc == 0)
        rc = loss_pretrain(out, store.db, &where, &err);
    if (rc < 0)
        biqa_error_line("%s", err.msg);
    biqa_fig_free(data, n);
    biqa_tspec_where_free(&where);
    if (has_store)
        biqa_store_close(&store);
    cairo_debug_reset_static_data(); /* cairo's font caches, so that LeakSanitizer sees none */
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
