/* A small plotting layer on cairo for biqa's figures: panels with framed
 * axes, "nice" ticks (steps of 1, 2 or 5 x 10^k), tick labels, axis labels
 * and titles; series told apart by marker shape and dash pattern (so that
 * a figure reads in greyscale), on top of a colour-blind-safe palette
 * (Okabe and Ito); box plots; legends. A figure is drawn by a callback,
 * once per output, into NAME.png (2x scale) and NAME.pdf, each written to a
 * temporary file and renamed into place when complete. Sizes are in points. */
#ifndef BIQA_HARNESS_FIGURES_PLOT_H
#define BIQA_HARNESS_FIGURES_PLOT_H

#include <cairo.h>

#include "core/error.h"

#define BIQA_PLOT_STYLES 8 /* distinct marker shapes and dash patterns */

typedef struct biqa_axes {
    cairo_t *cr;
    double x, y, w, h;             /* plot area, points */
    double xmin, xmax, ymin, ymax; /* data range shown */
} biqa_axes;

/* Data limits widened to nice tick values; a zero-width range gets a margin. */
void biqa_plot_nice_range(double lo, double hi, double *nlo, double *nhi, double *step);

/* What a panel shows: the data range (widened to nice ticks), texts, and
 * with ncats > 0 a categorical x axis (category i at x = i, labelled). */
typedef struct biqa_axes_spec {
    double xmin, xmax, ymin, ymax;
    const char *title, *xlabel, *ylabel; /* each may be NULL */
    const char *const *cats;
    int ncats;
    int x_whole; /* x ticks on whole numbers only (epochs) */
} biqa_axes_spec;

/* Draws a panel in the box (bx, by, bw, bh): title above, frame, ticks, tick
 * labels, axis labels; leaves ax set to the plot area and range. */
void biqa_axes_begin(biqa_axes *ax, cairo_t *cr, double bx, double by, double bw, double bh,
                     const biqa_axes_spec *spec);
double biqa_axes_px(const biqa_axes *ax, double x);
double biqa_axes_py(const biqa_axes *ax, double y);

/* A marker of style s (shape and colour) at data point (x, y). */
void biqa_axes_marker(const biqa_axes *ax, double x, double y, int s);
/* A polyline through the points, dash pattern and colour of style s. */
void biqa_axes_line(const biqa_axes *ax, const double *x, const double *y, int n, int s);
/* The line y = x over the visible range, thin and dotted. */
void biqa_axes_diagonal(const biqa_axes *ax);
/* A box plot at x (half-width hw, data units) of v (n values, any order):
 * box from the first to the third quartile, a thick median line, whiskers
 * to the extremes. */
void biqa_axes_box(const biqa_axes *ax, double x, double hw, const double *v, int n);
/* A text line at the top-left corner inside the plot area (line 0, 1, ...). */
void biqa_axes_note(const biqa_axes *ax, int line, const char *text);
/* Small text centred on x, just above the bottom of the plot area. */
void biqa_axes_bottom_label(const biqa_axes *ax, double x, const char *text);

/* A legend: one row per entry with its marker (and line when lines) and label. */
void biqa_plot_legend(cairo_t *cr, double x, double y, const char *const *labels,
                      const int *styles, int n, int lines);
/* A line of small text with its top-left corner at (x, y). */
void biqa_plot_text(cairo_t *cr, double x, double y, const char *text);
/* Figure title across the top. */
void biqa_plot_title(cairo_t *cr, double w, const char *title);

typedef void (*biqa_figure_draw)(cairo_t *cr, double w, double h, void *ctx);

/* Writes dir/name.png and dir/name.pdf of a w x h point figure. */
int biqa_figure_write(const char *dir, const char *name, double w, double h,
                      biqa_figure_draw draw, void *ctx, biqa_error *err);

#endif
