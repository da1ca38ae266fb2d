#include "harness/figures_plot.h"

#include <cairo-pdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

#define FONT "DejaVu Sans"
#define TICK_FONT 7.5
#define LABEL_FONT 8.5
#define TITLE_FONT 9.0
#define MARKER_R 2.6

/* Okabe-Ito, without its yellow (too light on white), and a grey. */
static const double palette[BIQA_PLOT_STYLES][3] = {
    {0, 0, 0},          {0.835, 0.369, 0},   {0, 0.447, 0.698},    {0, 0.620, 0.451},
    {0.800, 0.475, 0.655}, {0.902, 0.624, 0}, {0.337, 0.706, 0.914}, {0.4, 0.4, 0.4}};

static void style_colour(cairo_t *cr, int s)
{
    const double *c = palette[((s % BIQA_PLOT_STYLES) + BIQA_PLOT_STYLES) % BIQA_PLOT_STYLES];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Text anchored at (x, y): ax 0 left, 0.5 centre, 1 right; ay 0 top,
 * 0.5 middle, 1 baseline. */
static void text_at(cairo_t *cr, double x, double y, double ax, double ay, const char *s)
{
    cairo_text_extents_t e;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &e);
    cairo_font_extents(cr, &fe);
    double base = ay == 0 ? y + fe.ascent : ay == 1 ? y : y + (fe.ascent - fe.descent) / 2;
    cairo_move_to(cr, x - e.x_advance * ax, base);
    cairo_show_text(cr, s);
}

void biqa_plot_nice_range(double lo, double hi, double *nlo, double *nhi, double *step)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0, hi = 1;
    }
    if (hi - lo < 1e-12) {
        double pad = fmax(fabs(lo) * 0.1, 0.05);
        lo -= pad, hi += pad;
    }
    double raw = (hi - lo) / 4, mag = pow(10, floor(log10(raw))), norm = raw / mag;
    *step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    *nlo = floor(lo / *step + 1e-9) * *step;
    *nhi = ceil(hi / *step - 1e-9) * *step;
}

static void tick_label(double v, double step, char *out, size_t len)
{
    int d = (int)fmax(0, -floor(log10(step) + 1e-9));
    if (fabs(v) < step * 1e-6)
        v = 0; /* no "-0.0" */
    snprintf(out, len, "%.*f", d, v);
}

double biqa_axes_px(const biqa_axes *ax, double x)
{
    return ax->x + (x - ax->xmin) / (ax->xmax - ax->xmin) * ax->w;
}

double biqa_axes_py(const biqa_axes *ax, double y)
{
    return ax->y + ax->h - (y - ax->ymin) / (ax->ymax - ax->ymin) * ax->h;
}

void biqa_axes_begin(biqa_axes *ax, cairo_t *cr, double bx, double by, double bw, double bh,
                     const biqa_axes_spec *spec)
{
    const char *title = spec->title, *xlabel = spec->xlabel, *ylabel = spec->ylabel;
    const char *const *cats = spec->cats;
    int ncats = spec->ncats;
    double xmin = spec->xmin, xmax = spec->xmax, ymin = spec->ymin, ymax = spec->ymax;
    const double left = 44, right = 8, top = title ? 16 : 6, bottom = ncats ? 42 : 30;
    /* 4% of air around the data, so that no marker sits on the frame */
    double xpad = 0.04 * (xmax - xmin), ypad = 0.04 * (ymax - ymin);
    if (isfinite(ypad))
        ymin -= ypad, ymax += ypad;
    double xstep = 1, ystep, xlo, xhi; /* ticks from xlo to xhi */
    if (ncats) {
        xlo = 0, xhi = ncats - 1;
        xmin = -0.5, xmax = ncats - 0.5;
    } else if (spec->x_whole) { /* whole numbers (epochs): every one up to ten of them */
        xlo = floor(xmin), xhi = fmax(ceil(xmax), xlo + 1);
        if (xhi - xlo > 10)
            biqa_plot_nice_range(xlo, xhi, &xlo, &xhi, &xstep);
        xmin = xlo - 0.25 * xstep, xmax = xhi + 0.25 * xstep;
    } else {
        if (isfinite(xpad))
            xmin -= xpad, xmax += xpad;
        biqa_plot_nice_range(xmin, xmax, &xmin, &xmax, &xstep);
        xlo = xmin, xhi = xmax;
    }
    biqa_plot_nice_range(ymin, ymax, &ymin, &ymax, &ystep);
    *ax = (biqa_axes){cr, bx + left, by + top, bw - left - right, bh - top - bottom,
                      xmin, xmax, ymin, ymax};
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (title) {
        font(cr, TITLE_FONT, 1);
        text_at(cr, ax->x + ax->w / 2, by + 2, 0.5, 0, title);
    }
    /* light grid, then the frame */
    cairo_set_line_width(cr, 0.4);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    for (double v = ymin; v <= ymax + ystep * 1e-6; v += ystep) {
        cairo_move_to(cr, ax->x, biqa_axes_py(ax, v));
        cairo_line_to(cr, ax->x + ax->w, biqa_axes_py(ax, v));
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, ax->x, ax->y, ax->w, ax->h);
    cairo_stroke(cr);
    font(cr, TICK_FONT, 0);
    char label[64];
    for (double v = ymin; v <= ymax + ystep * 1e-6; v += ystep) {
        double py = biqa_axes_py(ax, v);
        cairo_move_to(cr, ax->x - 3, py);
        cairo_line_to(cr, ax->x, py);
        cairo_stroke(cr);
        tick_label(v, ystep, label, sizeof label);
        text_at(cr, ax->x - 5, py, 1, 0.5, label);
    }
    for (int i = 0; xlo + i * xstep <= xhi + xstep * 1e-6; i++) {
        double v = xlo + i * xstep, px = biqa_axes_px(ax, v);
        cairo_move_to(cr, px, ax->y + ax->h);
        cairo_line_to(cr, px, ax->y + ax->h + 3);
        cairo_stroke(cr);
        if (ncats) {
            text_at(cr, px, ax->y + ax->h + 5, 0.5, 0, cats[i]);
        } else {
            tick_label(v, xstep, label, sizeof label);
            text_at(cr, px, ax->y + ax->h + 5, 0.5, 0, label);
        }
    }
    font(cr, LABEL_FONT, 0);
    if (xlabel)
        text_at(cr, ax->x + ax->w / 2, by + bh - 3, 0.5, 1, xlabel);
    if (ylabel) {
        cairo_save(cr);
        cairo_translate(cr, bx + 9, ax->y + ax->h / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, 0.5, 0.5, ylabel);
        cairo_restore(cr);
    }
    cairo_restore(cr);
}

static void marker_path(cairo_t *cr, double x, double y, int shape, int *filled)
{
    const double r = MARKER_R;
    *filled = 0;
    switch (shape) {
    case 0: cairo_new_sub_path(cr); cairo_arc(cr, x, y, r, 0, 2 * M_PI); break;
    case 1: cairo_rectangle(cr, x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r); *filled = 1; break;
    case 2:
        cairo_move_to(cr, x, y - r * 1.15);
        cairo_line_to(cr, x + r, y + r * 0.75);
        cairo_line_to(cr, x - r, y + r * 0.75);
        cairo_close_path(cr);
        break;
    case 3:
        cairo_move_to(cr, x - r, y - r); cairo_line_to(cr, x + r, y + r);
        cairo_move_to(cr, x - r, y + r); cairo_line_to(cr, x + r, y - r);
        break;
    case 4:
        cairo_move_to(cr, x, y - r * 1.2); cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + r * 1.2); cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
        *filled = 1;
        break;
    case 5:
        cairo_move_to(cr, x - r * 1.2, y); cairo_line_to(cr, x + r * 1.2, y);
        cairo_move_to(cr, x, y - r * 1.2); cairo_line_to(cr, x, y + r * 1.2);
        break;
    case 6: cairo_rectangle(cr, x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r); break;
    default:
        cairo_move_to(cr, x, y + r * 1.15);
        cairo_line_to(cr, x + r, y - r * 0.75);
        cairo_line_to(cr, x - r, y - r * 0.75);
        cairo_close_path(cr);
        *filled = 1;
    }
}

static void draw_marker(cairo_t *cr, double x, double y, int s)
{
    int filled;
    cairo_save(cr);
    style_colour(cr, s);
    cairo_set_line_width(cr, 0.9);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_new_path(cr);
    marker_path(cr, x, y, ((s % BIQA_PLOT_STYLES) + BIQA_PLOT_STYLES) % BIQA_PLOT_STYLES, &filled);
    if (filled)
        cairo_fill(cr);
    else
        cairo_stroke(cr);
    cairo_restore(cr);
}

static void set_dash(cairo_t *cr, int s)
{
    static const double d[BIQA_PLOT_STYLES][6] = {
        {0}, {5, 3}, {1, 2}, {6, 2, 1, 2}, {9, 3}, {3, 3}, {6, 2, 1, 2, 1, 2}, {2, 4}};
    static const int n[BIQA_PLOT_STYLES] = {0, 2, 2, 4, 2, 2, 6, 2};
    int i = ((s % BIQA_PLOT_STYLES) + BIQA_PLOT_STYLES) % BIQA_PLOT_STYLES;
    cairo_set_dash(cr, d[i], n[i], 0);
}

void biqa_axes_marker(const biqa_axes *ax, double x, double y, int s)
{
    if (!isfinite(x) || !isfinite(y))
        return;
    cairo_save(ax->cr);
    cairo_rectangle(ax->cr, ax->x - 4, ax->y - 4, ax->w + 8, ax->h + 8);
    cairo_clip(ax->cr);
    draw_marker(ax->cr, biqa_axes_px(ax, x), biqa_axes_py(ax, y), s);
    cairo_restore(ax->cr);
}

void biqa_axes_line(const biqa_axes *ax, const double *x, const double *y, int n, int s)
{
    cairo_t *cr = ax->cr;
    cairo_save(cr);
    cairo_rectangle(cr, ax->x, ax->y, ax->w, ax->h);
    cairo_clip(cr);
    style_colour(cr, s);
    set_dash(cr, s);
    cairo_set_line_width(cr, 1.1);
    cairo_new_path(cr);
    int pen = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            pen = 0; /* a gap where a value is undefined */
            continue;
        }
        if (pen)
            cairo_line_to(cr, biqa_axes_px(ax, x[i]), biqa_axes_py(ax, y[i]));
        else
            cairo_move_to(cr, biqa_axes_px(ax, x[i]), biqa_axes_py(ax, y[i]));
        pen = 1;
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void biqa_axes_diagonal(const biqa_axes *ax)
{
    double lo = fmax(ax->xmin, ax->ymin), hi = fmin(ax->xmax, ax->ymax);
    if (lo >= hi)
        return;
    cairo_t *cr = ax->cr;
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    cairo_set_line_width(cr, 0.6);
    static const double dots[] = {1.5, 2};
    cairo_set_dash(cr, dots, 2, 0);
    cairo_move_to(cr, biqa_axes_px(ax, lo), biqa_axes_py(ax, lo));
    cairo_line_to(cr, biqa_axes_px(ax, hi), biqa_axes_py(ax, hi));
    cairo_stroke(cr);
    cairo_restore(cr);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's default (linear) quantile of sorted values */
static double quantile(const double *s, int n, double q)
{
    double h = (n - 1) * q;
    int i = (int)floor(h);
    return i + 1 < n ? s[i] + (h - i) * (s[i + 1] - s[i]) : s[n - 1];
}

void biqa_axes_box(const biqa_axes *ax, double x, double hw, const double *v, int n)
{
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    int m = 0;
    for (int i = 0; s && i < n; i++)
        if (isfinite(v[i]))
            s[m++] = v[i];
    if (m == 0) {
        free(s);
        return;
    }
    qsort(s, (size_t)m, sizeof *s, cmp_double);
    double q1 = quantile(s, m, 0.25), med = quantile(s, m, 0.5), q3 = quantile(s, m, 0.75);
    cairo_t *cr = ax->cr;
    double l = biqa_axes_px(ax, x - hw), r = biqa_axes_px(ax, x + hw), c = biqa_axes_px(ax, x);
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 0.7);
    cairo_move_to(cr, c, biqa_axes_py(ax, s[0]));
    cairo_line_to(cr, c, biqa_axes_py(ax, q1));
    cairo_move_to(cr, c, biqa_axes_py(ax, q3));
    cairo_line_to(cr, c, biqa_axes_py(ax, s[m - 1]));
    cairo_move_to(cr, (l + c) / 2, biqa_axes_py(ax, s[0]));
    cairo_line_to(cr, (r + c) / 2, biqa_axes_py(ax, s[0]));
    cairo_move_to(cr, (l + c) / 2, biqa_axes_py(ax, s[m - 1]));
    cairo_line_to(cr, (r + c) / 2, biqa_axes_py(ax, s[m - 1]));
    cairo_stroke(cr);
    cairo_rectangle(cr, l, biqa_axes_py(ax, q3), r - l, biqa_axes_py(ax, q1) - biqa_axes_py(ax, q3));
    cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.8);
    cairo_move_to(cr, l, biqa_axes_py(ax, med));
    cairo_line_to(cr, r, biqa_axes_py(ax, med));
    cairo_stroke(cr);
    cairo_restore(cr);
    free(s);
}

void biqa_axes_note(const biqa_axes *ax, int line, const char *text)
{
    cairo_save(ax->cr);
    cairo_set_source_rgb(ax->cr, 0, 0, 0);
    font(ax->cr, TICK_FONT, 0);
    text_at(ax->cr, ax->x + 4, ax->y + 3 + 10 * line, 0, 0, text);
    cairo_restore(ax->cr);
}

void biqa_axes_bottom_label(const biqa_axes *ax, double x, const char *text)
{
    cairo_save(ax->cr);
    cairo_set_source_rgb(ax->cr, 0, 0, 0);
    font(ax->cr, TICK_FONT, 0);
    text_at(ax->cr, biqa_axes_px(ax, x), ax->y + ax->h - 3, 0.5, 1, text);
    cairo_restore(ax->cr);
}

void biqa_plot_legend(cairo_t *cr, double x, double y, const char *const *labels,
                      const int *styles, int n, int lines)
{
    cairo_save(cr);
    font(cr, TICK_FONT, 0);
    for (int i = 0; i < n; i++) {
        double ly = y + i * 11 + 5;
        if (lines) {
            style_colour(cr, styles[i]);
            set_dash(cr, styles[i]);
            cairo_set_line_width(cr, 1.1);
            cairo_move_to(cr, x, ly);
            cairo_line_to(cr, x + 22, ly);
            cairo_stroke(cr);
        }
        draw_marker(cr, x + 11, ly, styles[i]);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, x + 27, ly, 0, 0.5, labels[i]);
    }
    cairo_restore(cr);
}

void biqa_plot_text(cairo_t *cr, double x, double y, const char *text)
{
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    font(cr, TICK_FONT, 0);
    text_at(cr, x, y, 0, 0, text);
    cairo_restore(cr);
}

void biqa_plot_title(cairo_t *cr, double w, const char *title)
{
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    font(cr, 10.5, 1);
    text_at(cr, w / 2, 6, 0.5, 0, title);
    cairo_restore(cr);
}

/* ---- output ------------------------------------------------------------- */

typedef struct sink {
    biqa_atomic_file f;
    biqa_error *err;
    int failed;
} sink;

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int len)
{
    sink *s = closure;
    if (s->failed || biqa_atomic_write(&s->f, data, len, s->err) < 0) {
        s->failed = 1;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

static void paint(cairo_surface_t *surface, double scale, double w, double h,
                  biqa_figure_draw draw, void *ctx)
{
    cairo_t *cr = cairo_create(surface);
    cairo_scale(cr, scale, scale);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    draw(cr, w, h, ctx);
    cairo_destroy(cr);
}

static int write_one(const char *path, int pdf, double w, double h, biqa_figure_draw draw,
                     void *ctx, biqa_error *err)
{
    sink s = {.err = err};
    if (biqa_atomic_open(&s.f, path, err) < 0)
        return -1;
    cairo_surface_t *surface =
        pdf ? cairo_pdf_surface_create_for_stream(sink_write, &s, w, h)
            : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)ceil(w * 2), (int)ceil(h * 2));
    paint(surface, pdf ? 1 : 2, w, h, draw, ctx);
    cairo_status_t st = pdf ? (cairo_surface_finish(surface), cairo_surface_status(surface))
                            : cairo_surface_write_to_png_stream(surface, sink_write, &s);
    cairo_surface_destroy(surface);
    if (st != CAIRO_STATUS_SUCCESS || s.failed) {
        if (!s.failed)
            biqa_fail(err, "%s: cairo: %s", path, cairo_status_to_string(st));
        biqa_atomic_abort(&s.f);
        return -1;
    }
    return biqa_atomic_commit(&s.f, err);
}

int biqa_figure_write(const char *dir, const char *name, double w, double h,
                      biqa_figure_draw draw, void *ctx, biqa_error *err)
{
    char path[4096];
    for (int pdf = 0; pdf < 2; pdf++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, pdf ? "pdf" : "png");
        if (write_one(path, pdf, w, h, draw, ctx, err) < 0)
            return -1;
    }
    return 0;
}
