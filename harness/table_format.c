#include "harness/table_format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int biqa_tformat_parse(const char *name, enum biqa_tformat *out)
{
    static const char *const names[] = {"md", "latex", "csv"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *out = (enum biqa_tformat)i;
            return 0;
        }
    return -1;
}

const char *biqa_tformat_ext(enum biqa_tformat f)
{
    return f == BIQA_TFORMAT_MD ? "md" : f == BIQA_TFORMAT_LATEX ? "tex" : "csv";
}

void biqa_table_format_value(const biqa_tspec_column *col, double v, char *out, size_t len)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (!isfinite(v)) {
        snprintf(out, len, "%sinf", v < 0 ? "-" : "");
        return;
    }
    double r = biqa_table_round(col, v);
    int decimals = col->decimals;
    if (col->digits > 0) /* significant digits, never an exponent */
        decimals = r == 0 ? col->digits - 1
                          : col->digits - 1 - (int)floor(log10(fabs(r)));
    if (decimals < 0)
        decimals = 0;
    snprintf(out, len, "%.*f%s", decimals, r == 0 ? 0.0 : r, col->suffix);
}

/* ---- notes ------------------------------------------------------------- */

typedef struct notes {
    char **text;
    int n;
} notes;

/* Number (1-based) of text among the notes, added when new. */
static int note(notes *ns, const char *text)
{
    for (int i = 0; i < ns->n; i++)
        if (!strcmp(ns->text[i], text))
            return i + 1;
    char **g = realloc(ns->text, (size_t)(ns->n + 1) * sizeof *g);
    if (!g)
        return 0;
    ns->text = g;
    if (!(ns->text[ns->n] = strdup(text)))
        return 0;
    return ++ns->n;
}

static void notes_free(notes *ns)
{
    for (int i = 0; i < ns->n; i++)
        free(ns->text[i]);
    free(ns->text);
}

/* Markup-free note texts: the text of a note is a prefix and, for commands,
 * a code part that each format sets in its code style. */
#define CODE_MARK "\x01"

static void cell_note(const biqa_cell *c, const biqa_tspec_column *col, char *out, size_t len)
{
    out[0] = '\0';
    if (c->state == BIQA_CELL_EMPTY) {
        snprintf(out, len, "no run yet; this fills it: " CODE_MARK "%s", c->fill);
    } else if (c->state == BIQA_CELL_UNREPORTED) {
        snprintf(out, len, "not reported by the papers that quote it");
    } else if (c->state == BIQA_CELL_RUNS && c->nconfigs > 1) {
        const char *colon = strchr(c->mixed, ':');
        snprintf(out, len, "mixes runs of %d configurations (%s); narrow with " CODE_MARK
                 "biqa tables --where %.*s=VALUE", c->nconfigs, c->mixed,
                 colon ? (int)(colon - c->mixed) : 0, c->mixed);
    } else if (c->state == BIQA_CELL_RUNS && isnan(c->value)) {
        size_t n = (size_t)snprintf(out, len, "undefined:");
        for (size_t i = 0; i < c->nruns && n < len; i++)
            if (isnan(c->runs[i].value))
                n += (size_t)snprintf(out + n, len - n, " run %lld (%s%s%s)",
                                      (long long)c->runs[i].run_id, c->runs[i].split,
                                      c->runs[i].flags[0] ? ": " : "", c->runs[i].flags);
    } else if (c->state == BIQA_CELL_PUBLISHED && c->pub[0].value != c->pub[c->npub - 1].value) {
        size_t n = (size_t)snprintf(out, len, "quoted differently:");
        for (int i = 0; i < c->npub && n < len; i++) {
            char v[64];
            biqa_table_format_value(col, c->pub[i].value, v, sizeof v);
            n += (size_t)snprintf(out + n, len - n, "%s %s (%s)", i ? ";" : "", v,
                                  c->pub[i].source);
        }
    }
}

/* ---- output helpers ---------------------------------------------------- */

static void latex_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\textbackslash{}", f); break;
        case '{': case '}': case '$': case '&': case '#': case '_': case '%':
            fprintf(f, "\\%c", *s);
            break;
        case '^': fputs("\\textasciicircum{}", f); break;
        case '~': fputs("\\textasciitilde{}", f); break;
        case '<': fputs("\\textless{}", f); break;
        case '>': fputs("\\textgreater{}", f); break;
        case '|': fputs("\\textbar{}", f); break;
        case '-': fputs(s[1] == '-' ? "-{}" : "-", f); break; /* no -- ligature in commands */
        default: fputc(*s, f);
        }
    }
}

static void md_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (strchr("|*_[]<>\\", *s))
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A number in LaTeX: a true minus sign. */
static void latex_number(FILE *f, const char *v)
{
    if (v[0] == '-') {
        fputs("$-$", f);
        v++;
    }
    latex_escape(f, v);
}

/* The value text of a cell (no markup): "0.812", "0.575/0.578", "NaN". */
static void value_text(const biqa_cell *c, const biqa_tspec_column *col, char *out, size_t len)
{
    out[0] = '\0';
    if (c->state == BIQA_CELL_PUBLISHED) {
        size_t n = 0;
        for (int i = 0; i < c->npub && n < len; i++) {
            if (i && c->pub[i].value == c->pub[i - 1].value)
                continue;
            char v[64];
            biqa_table_format_value(col, c->pub[i].value, v, sizeof v);
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "/" : "", v);
        }
    } else if (c->state == BIQA_CELL_RUNS) {
        biqa_table_format_value(col, c->value, out, len);
    }
}

static int show_ci(const biqa_tspec *t, const biqa_cell *c)
{
    return t->ci && t->aggregate == BIQA_AGG_MEDIAN && c->state == BIQA_CELL_RUNS &&
           isfinite(c->agg.ci_lo);
}

/* ---- Markdown ---------------------------------------------------------- */

static void md_note(FILE *f, const char *name, int i, const char *text)
{
    const char *code = strstr(text, CODE_MARK);
    fprintf(f, "[^%s-%d]: ", name, i);
    char *prefix = strndup(text, code ? (size_t)(code - text) : strlen(text));
    md_escape(f, prefix ? prefix : "");
    free(prefix);
    if (code)
        fprintf(f, "`%s`", code + 1);
    fputc('\n', f);
}

static void render_md(FILE *f, const biqa_table_data *d, const char *db, notes *ns)
{
    const biqa_tspec *t = d->spec;
    fprintf(f, "<!-- biqa tables: table '%s' from %s (generated; do not edit) -->\n", t->name, db);
    fprintf(f, "### ");
    md_escape(f, t->title);
    fputs("\n\n", f);
    if (t->caption) {
        md_escape(f, t->caption);
        fputs("\n\n", f);
    }
    fputs("| ", f);
    md_escape(f, t->stub ? t->stub : "");
    for (int k = 0; k < t->ncols; k++) {
        fputs(" | ", f);
        if (t->cols[k].group) {
            md_escape(f, t->cols[k].group);
            fputc(' ', f);
        }
        md_escape(f, t->cols[k].label);
    }
    fputs(" |\n|:---", f);
    for (int k = 0; k < t->ncols; k++)
        fputs("|---:", f);
    fputs("|\n", f);
    for (int r = 0; r < t->nrows; r++) {
        const biqa_tspec_row *row = &t->rows[r];
        const biqa_tspec_section *sec = &t->sections[row->section];
        if (sec->title && (r == 0 || t->rows[r - 1].section != row->section)) {
            fputs("| ***", f);
            md_escape(f, sec->title);
            fputs("***", f);
            for (int k = 0; k < t->ncols; k++)
                fputs(" |", f);
            fputs(" |\n", f);
        }
        fputs("| ", f);
        md_escape(f, row->label);
        for (int k = 0; k < t->ncols; k++) {
            const biqa_cell *c = biqa_table_cell(d, r, k);
            char v[256], text[4096];
            value_text(c, &t->cols[k], v, sizeof v);
            cell_note(c, &t->cols[k], text, sizeof text);
            fputs(" | ", f);
            if (c->state == BIQA_CELL_EMPTY || c->state == BIQA_CELL_UNREPORTED)
                fputs("-", f);
            else
                fprintf(f, "%s%s%s", c->best ? "**" : "", v, c->best ? "**" : "");
            if (show_ci(t, c)) {
                char lo[64], hi[64];
                biqa_table_format_value(&t->cols[k], c->agg.ci_lo, lo, sizeof lo);
                biqa_table_format_value(&t->cols[k], c->agg.ci_hi, hi, sizeof hi);
                fprintf(f, " \\[%s, %s\\]", lo, hi);
            }
            if (text[0])
                fprintf(f, "[^%s-%d]", t->name, note(ns, text));
        }
        fputs(" |\n", f);
    }
    fputc('\n', f);
    for (int i = 0; i < ns->n; i++)
        md_note(f, t->name, i + 1, ns->text[i]);
}

/* ---- LaTeX ------------------------------------------------------------- */

static void latex_note_text(FILE *f, const char *text)
{
    const char *code = strstr(text, CODE_MARK);
    if (!code) {
        latex_escape(f, text);
        return;
    }
    char *prefix = strndup(text, (size_t)(code - text));
    latex_escape(f, prefix ? prefix : "");
    free(prefix);
    fputs("\\texttt{", f);
    for (const char *c = code + 1; *c; c++) { /* long lists may break after a comma */
        char one[2] = {*c, 0};
        if (c[0] == '-' && c[1] == '-')
            fputs("-{}", f); /* "--" stays two hyphens */
        else
            latex_escape(f, one);
        if (*c == ',')
            fputs("\\allowbreak{}", f);
    }
    fputs("}", f);
}

static void render_latex(FILE *f, const biqa_table_data *d, const char *db, notes *ns)
{
    const biqa_tspec *t = d->spec;
    fprintf(f, "%% biqa tables: table '%s' from %s (generated; do not edit).\n", t->name, db);
    fputs("% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.\n"
          "\\begin{table}[htbp]\n\\centering\n\\caption{", f);
    latex_escape(f, t->title);
    if (t->caption) {
        fputs(". ", f);
        latex_escape(f, t->caption);
    }
    /* shrunk to the line width when wider, never enlarged */
    fprintf(f, "}\n\\label{tab:%s}\n\\footnotesize\n"
               "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%%\n"
               "\\begin{tabular}{@{}l", t->name);
    for (int k = 0; k < t->ncols; k++)
        fputs("r", f);
    fputs("@{}}\n\\toprule\n", f);
    int groups = 0;
    for (int k = 0; k < t->ncols; k++)
        groups |= t->cols[k].group != NULL;
    if (groups) {
        /* one \multicolumn per run of adjacent columns of the same group */
        char rules[1024] = "";
        for (int k = 0; k < t->ncols;) {
            int e = k + 1;
            while (e < t->ncols && t->cols[k].group && t->cols[e].group &&
                   !strcmp(t->cols[k].group, t->cols[e].group))
                e++;
            fprintf(f, " & \\multicolumn{%d}{c}{", e - k);
            latex_escape(f, t->cols[k].group ? t->cols[k].group : "");
            fputs("}", f);
            if (t->cols[k].group)
                snprintf(rules + strlen(rules), sizeof rules - strlen(rules),
                         "\\cmidrule(lr){%d-%d}", k + 2, e + 1);
            k = e;
        }
        fprintf(f, " \\\\\n%s\n", rules);
    }
    latex_escape(f, t->stub ? t->stub : "");
    for (int k = 0; k < t->ncols; k++) {
        fputs(" & ", f);
        latex_escape(f, t->cols[k].label);
    }
    fputs(" \\\\\n\\midrule\n", f);
    for (int r = 0; r < t->nrows; r++) {
        const biqa_tspec_row *row = &t->rows[r];
        const biqa_tspec_section *sec = &t->sections[row->section];
        if (sec->title && (r == 0 || t->rows[r - 1].section != row->section)) {
            if (r > 0)
                fputs("\\midrule\n", f);
            fprintf(f, "\\multicolumn{%d}{@{}l}{\\emph{", t->ncols + 1);
            latex_escape(f, sec->title);
            fputs("}} \\\\\n", f);
        }
        latex_escape(f, row->label);
        for (int k = 0; k < t->ncols; k++) {
            const biqa_cell *c = biqa_table_cell(d, r, k);
            char v[256], text[4096];
            value_text(c, &t->cols[k], v, sizeof v);
            cell_note(c, &t->cols[k], text, sizeof text);
            fputs(" & ", f);
            if (c->state == BIQA_CELL_EMPTY || c->state == BIQA_CELL_UNREPORTED) {
                fputs("--", f);
            } else {
                fputs(c->best ? "\\textbf{" : "", f);
                for (char *part = v, *slash; part; part = slash ? slash + 1 : NULL) {
                    slash = strchr(part, '/');
                    if (slash)
                        *slash = '\0';
                    latex_number(f, part);
                    if (slash)
                        fputs("/", f);
                }
                fputs(c->best ? "}" : "", f);
            }
            if (show_ci(t, c)) {
                char lo[64], hi[64];
                biqa_table_format_value(&t->cols[k], c->agg.ci_lo, lo, sizeof lo);
                biqa_table_format_value(&t->cols[k], c->agg.ci_hi, hi, sizeof hi);
                fputs(" {\\scriptsize[", f);
                latex_number(f, lo);
                fputs(", ", f);
                latex_number(f, hi);
                fputs("]}", f);
            }
            if (text[0])
                fprintf(f, "$^{%d}$", note(ns, text));
        }
        fputs(" \\\\\n", f);
    }
    fputs("\\bottomrule\n\\end{tabular}}\n\\end{table}\n", f);
    /* the notes follow the float as a paragraph: a float with many long
     * commands in it would not fit a page */
    if (ns->n) {
        fprintf(f, "\n\\noindent{\\scriptsize\\raggedright\\textbf{Notes to Table~\\ref{tab:%s}.}\\\\\n",
                t->name);
        for (int i = 0; i < ns->n; i++) {
            fprintf(f, "$^{%d}$\\,", i + 1);
            latex_note_text(f, ns->text[i]);
            fputs(i + 1 < ns->n ? "\\\\\n" : "\n", f);
        }
        fputs("\\par}\n", f);
    }
}

/* ---- CSV --------------------------------------------------------------- */

static void csv_number(FILE *f, double v)
{
    if (isfinite(v)) {
        char s[32];
        for (int prec = 6; prec <= 17; prec++) { /* shortest text that reads back as v */
            snprintf(s, sizeof s, "%.*g", prec, v);
            if (strtod(s, NULL) == v)
                break;
        }
        fputs(s, f);
    } else if (isnan(v)) {
        fputs("NaN", f);
    }
}

static void csv_line(FILE *f, const biqa_tspec *t, int r, int k, const char *source, double v,
                     const biqa_cell *c, const char *note_text)
{
    const biqa_tspec_section *sec = &t->sections[t->rows[r].section];
    const char *fields[] = {t->name, sec->title ? sec->title : "", t->rows[r].id,
                            t->rows[r].label, t->cols[k].id, t->cols[k].label, source};
    for (int i = 0; i < 7; i++) {
        csv_field(f, fields[i]);
        fputc(',', f);
    }
    if (c->state != BIQA_CELL_EMPTY && c->state != BIQA_CELL_UNREPORTED)
        csv_number(f, v);
    fputc(',', f);
    if (c->state == BIQA_CELL_RUNS && t->aggregate == BIQA_AGG_MEDIAN) {
        csv_number(f, c->agg.ci_lo);
        fputc(',', f);
        csv_number(f, c->agg.ci_hi);
    } else {
        fputc(',', f);
    }
    fprintf(f, ",%zu,", c->state == BIQA_CELL_RUNS ? c->nruns : 0);
    for (size_t i = 0; c->state == BIQA_CELL_RUNS && i < c->nruns; i++) {
        int dup = 0; /* one run may give several rows of a cell */
        for (size_t j = 0; j < i && !dup; j++)
            dup = c->runs[j].run_id == c->runs[i].run_id;
        if (!dup)
            fprintf(f, "%s%lld", i ? " " : "", (long long)c->runs[i].run_id);
    }
    fputc(',', f);
    const char *code = strstr(note_text, CODE_MARK);
    csv_field(f, code ? code + 1 : note_text);
    fputc('\n', f);
}

static void render_csv(FILE *f, const biqa_table_data *d)
{
    const biqa_tspec *t = d->spec;
    fputs("table,section,row,row_label,column,column_label,source,value,ci_lo,ci_hi,n,runs,"
          "note\n", f);
    for (int r = 0; r < t->nrows; r++)
        for (int k = 0; k < t->ncols; k++) {
            const biqa_cell *c = biqa_table_cell(d, r, k);
            char text[4096];
            cell_note(c, &t->cols[k], text, sizeof text);
            if (c->state == BIQA_CELL_PUBLISHED)
                for (int i = 0; i < c->npub; i++)
                    csv_line(f, t, r, k, "published", c->pub[i].value, c, c->pub[i].source);
            else
                csv_line(f, t, r, k, t->sections[t->rows[r].section].published ? "published"
                                                                                 : "biqa",
                         c->value, c, text);
        }
}

char *biqa_table_render(const biqa_table_data *d, enum biqa_tformat fmt, const char *db,
                        biqa_error *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        biqa_fail(err, "table %s: out of memory", d->spec->name);
        return NULL;
    }
    notes ns = {0};
    if (fmt == BIQA_TFORMAT_MD)
        render_md(f, d, db, &ns);
    else if (fmt == BIQA_TFORMAT_LATEX)
        render_latex(f, d, db, &ns);
    else
        render_csv(f, d);
    notes_free(&ns);
    if (fclose(f) != 0 || !text) {
        free(text);
        biqa_fail(err, "table %s: out of memory", d->spec->name);
        return NULL;
    }
    return text;
}
