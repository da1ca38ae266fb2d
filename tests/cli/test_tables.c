/* biqa tables and biqa figures on the store `biqa reproduce --profile test`
 * leaves: every number against direct SQL (tests/ref/tables_vs_sql.py), the
 * LaTeX through pdflatex, the figures as PNG and PDF, configurations that
 * would mix flagged, spec errors naming the file and field. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/file.h"
#include "tests/cli/run.h"

static void ok(const char *what, cli_result *r)
{
    cr_assert_eq(r->status, 0, "%s: exit %d\n%s\n%s", what, r->status, r->out, r->err);
    cli_result_free(r);
}

/* One `biqa reproduce --profile test` store for every test here: the
 * runner makes a folder for it before the tests (the report hooks at the
 * end of this file) and names it in $BIQA_TABLES_BASE; the first test that
 * needs the store builds it there under a lock, and each test works on its
 * own copy (DIR/t.db, DIR/data), so that tests may add runs. */
static void make_db(const char *dir)
{
    const char *base = getenv("BIQA_TABLES_BASE");
    cr_assert_not_null(base, "BIQA_TABLES_BASE is set by this file's PRE_ALL hook");
    char lock[128];
    snprintf(lock, sizeof lock, "%s/lock", base);
    int fd = open(lock, O_CREAT | O_RDWR, 0600);
    cr_assert(fd >= 0 && flock(fd, LOCK_EX) == 0, "locking %s", lock);
    cli_result r;
    cli_run(&r, "test -f %s/store/t.db || { rm -rf %s/build && mkdir %s/build && "
                "$BIQA -q --db %s/build/t.db --root %s/build/data reproduce --profile test && "
                "mv %s/build %s/store; }", base, base, base, base, base, base, base);
    flock(fd, LOCK_UN);
    close(fd);
    ok("reproduce --profile test", &r);
    cli_run(&r, "cp -a %s/store/. %s/", base, dir);
    ok("copying the store", &r);
}

/* Copies of two finished runs, the newest of their splits: a failed one
 * with an outlier SRCC (a failed run never reaches a table) and a finished
 * probe whose SRCC is undefined (NULL: the cell is NaN and says why). */
static const char inject_py[] =
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1])\n"
    "cols = ','.join(r[1] for r in c.execute('PRAGMA table_info(runs)')\n"
    "                if r[1] not in ('id', 'uid'))  # the copy gets its own identity\n"
    "def clone(kind, method, status, value, flags):\n"
    "    src = c.execute('SELECT min(id) FROM runs WHERE kind = ? AND method = ? AND '\n"
    "                    \"status = 'finished'\", (kind, method)).fetchone()[0]\n"
    "    c.execute(f'INSERT INTO runs ({cols}) SELECT {cols} FROM runs WHERE id = ?', (src,))\n"
    "    new = c.execute('SELECT max(id) FROM runs').fetchone()[0]\n"
    "    c.execute('UPDATE runs SET status = ? WHERE id = ?', (status, new))\n"
    "    c.execute('INSERT INTO metrics SELECT ?, dataset, split, metric, step, '\n"
    "              'CASE WHEN metric = \\'srcc\\' THEN ? ELSE value END, '\n"
    "              'CASE WHEN metric = \\'srcc\\' THEN ? ELSE flags END '\n"
    "              'FROM metrics WHERE run_id = ?', (new, value, flags, src))\n"
    "clone('finetune', 'qpt', 'failed', 0.999, None)\n"
    "clone('probe', 'simclr', 'finished', None, 'constant_pred')\n"
    "c.commit()\n";

/* More of what a store holds: the scratch probe re-run over 8 splits (the
 * newest run of a split replaces the older), a QPT ablation (degrade.k =
 * 3), a bench run, and the two runs inject_py makes. */
static void add_runs(const char *dir, const char *python)
{
    cli_result r;
    cli_run(&r, "$BIQA -q --db %s/t.db --root %s/data probe --data %s/data/synthetic-test "
                "--profile test --method scratch --splits 8", dir, dir, dir);
    ok("probe re-run", &r);
    cli_run(&r, "$BIQA -q --db %s/t.db --root %s/data reproduce --profile test "
                "--set pretrain.methods=qpt --set degrade.k=3", dir, dir);
    ok("reproduce: the degrade.k = 3 ablation", &r);
    cli_run(&r, "$BIQA -q --db %s/t.db bench degrade --size 256x256 --chains 4 --repeat 1", dir);
    ok("bench degrade", &r);
    char script[128];
    snprintf(script, sizeof script, "%s/inject.py", dir);
    cli_write(script, inject_py);
    cli_run(&r, "%s %s %s/t.db", python, script, dir);
    ok("inject.py", &r);
}

Test(tables, every_number_matches_direct_sql, .timeout = 300)
{
    const char *src = getenv("BIQA_SRC"), *python = getenv("BIQA_PYTHON");
    cr_assert_not_null(src, "BIQA_SRC must name the source tree (make test sets it)");
    cr_assert_not_null(python, "BIQA_PYTHON must name Debian's python3 (make test sets it)");
    char dir[64];
    cli_tmpdir(dir);
    make_db(dir);
    add_runs(dir, python);
    cli_result r;
    cli_run(&r, "%s %s/tests/ref/tables_vs_sql.py $BIQA %s/t.db %s", python, src, dir, src);
    cr_log_info("tables_vs_sql.py:\n%s", r.out);
    cr_assert_eq(r.status, 0, "tables_vs_sql.py failed:\n%s\n%s", r.out, r.err);
    cr_assert(strstr(r.out, "all checks passed"), "%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(tables, latex_compiles_with_pdflatex, .timeout = 120)
{
    if (system("command -v pdflatex >/dev/null 2>&1") != 0)
        cr_skip_test("pdflatex is not installed (Debian texlive-latex-base and "
                     "texlive-latex-recommended): the LaTeX is then checked only by "
                     "tables_vs_sql.py's parser");
    char dir[64], doc[128];
    cli_tmpdir(dir);
    make_db(dir);
    cli_result r;
    cli_run(&r, "$BIQA --db %s/t.db tables --format latex --out %s/tex", dir, dir);
    ok("tables --format latex", &r);
    snprintf(doc, sizeof doc, "%s/tex/paper.tex", dir);
    cli_write(doc, "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
                   "\\begin{document}\n"
                   "\\input{sota}\n\\input{pretraining}\n\\input{ablation}\n"
                   "\\input{synthetic}\n\\input{performance}\n\\end{document}\n");
    cli_run(&r, "cd %s/tex && pdflatex -interaction=nonstopmode -halt-on-error paper.tex", dir);
    cr_assert_eq(r.status, 0, "pdflatex failed:\n%s", r.out);
    cr_assert(strstr(r.out, "Output written on paper.pdf"), "%s", r.out);
    cr_assert_null(strstr(r.out, "\n! "), "a LaTeX error:\n%s", r.out);
    cr_assert_null(strstr(r.out, "Undefined control sequence"), "%s", r.out);
    cr_assert_null(strstr(r.out, "Overfull \\hbox"), "wider than the page:\n%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

/* A file starts with magic; a PNG's IHDR gives a plausible size. */
static void check_file(const char *path, const char *magic, size_t n)
{
    char *data;
    size_t len;
    cr_assert_eq(biqa_read_file(path, &data, &len, NULL), 0, "%s is missing", path);
    cr_assert(len > 1000 && memcmp(data, magic, n) == 0, "%s: not what it should be", path);
    if (magic[1] == 'P' && magic[2] == 'N') {
        const unsigned char *p = (const unsigned char *)data + 16;
        unsigned w = (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        unsigned h = (unsigned)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
        cr_assert(w >= 400 && w <= 4000 && h >= 300 && h <= 4000, "%s: %u x %u", path, w, h);
    } else {
        cr_assert(memmem(data + len - 32, 32, "%%EOF", 5), "%s: no %%%%EOF at its end", path);
    }
    free(data);
}

Test(tables, figures_as_png_and_pdf, .timeout = 120)
{
    char dir[64];
    cli_tmpdir(dir);
    make_db(dir);
    cli_result r;
    cli_run(&r, "$BIQA --db %s/t.db figures --out %s/fig", dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const names[] = {"scatter-synthetic-finetune", "scatter-synthetic-probe",
                                        "loss-finetune-synthetic", "srcc-splits-synthetic",
                                        "loss-pretrain"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char png[256], pdf[256];
        snprintf(png, sizeof png, "%s/fig/%s.png", dir, names[i]);
        snprintf(pdf, sizeof pdf, "%s/fig/%s.pdf", dir, names[i]);
        cr_assert(strstr(r.out, png) && strstr(r.out, pdf), "%s not listed:\n%s", names[i], r.out);
        check_file(png, "\x89PNG\r\n\x1a\n", 8);
        check_file(pdf, "%PDF-", 5);
    }
    cr_assert_eq(cli_count_lines(r.out), 10, "%s", r.out);
    cli_result_free(&r);
    /* a selection that matches nothing is an error, not empty figures */
    cli_run(&r, "$BIQA --db %s/t.db figures --out %s/none --where method=nosuch", dir, dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no finished finetune or probe runs matching --where"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(tables, mixed_configurations_are_flagged_and_where_narrows, .timeout = 120)
{
    char dir[64];
    cli_tmpdir(dir);
    make_db(dir);
    cli_result r;
    /* other splits (seed 2) with another fine-tuning length: one cell, two configs */
    cli_run(&r, "$BIQA -q --db %s/t.db --root %s/data --seed 2 reproduce --profile test "
                "--set finetune.epochs=2 --set pretrain.methods=qpt", dir, dir);
    ok("reproduce --seed 2", &r);
    cli_run(&r, "$BIQA --db %s/t.db tables --table synthetic", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mixes runs of 2 configurations (finetune.epochs: 1, 2); narrow with "
                            "`biqa tables --where finetune.epochs=VALUE`"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --table synthetic --where finetune.epochs=2", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.out, "mixes runs"), "%s", r.out);
    cli_result_free(&r);
    /* the qpt cell of the narrowed table: the two seed-2 runs alone */
    cli_run(&r, "$BIQA --db %s/t.db tables --where finetune.epochs=2 --explain synthetic qpt "
                "ft-srcc", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "median over 2 splits"), "%s", r.out);
    cr_assert_null(strstr(r.out, "warning"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --explain synthetic qpt ft-srcc", dir);
    cr_assert(strstr(r.out, "median over 4 splits") && strstr(r.out, "warning: the runs have 2 "
                                                              "configurations"), "%s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

/* One bad spec in a folder of its own: exit 1, one error line naming the
 * file and the field. */
static void bad_spec(const char *dir, const char *json, const char *expect)
{
    char path[128];
    snprintf(path, sizeof path, "%s/specs/bad.json", dir);
    cli_write(path, json);
    cli_result r;
    cli_run(&r, "$BIQA --db %s/none.db tables --specs %s/specs", dir, dir);
    cr_assert_eq(r.status, 1, "%s: exit %d", json, r.status);
    cr_assert_eq(cli_count_lines(r.err), 1, "%s", r.err);
    cr_assert(strstr(r.err, path) && strstr(r.err, expect), "expected '%s' in: %s", expect,
              r.err);
    cli_result_free(&r);
}

#define COLS "\"columns\": [{\"id\": \"c\", \"label\": \"C\", \"where\": {\"metric\": \"srcc\"}}]"
#define ROWS "\"rows\": [{\"id\": \"r\", \"label\": \"R\", \"where\": {\"method\": \"qpt\"}}]"
#define HEAD "{\"title\": \"t\", \"fill\": \"biqa reproduce\", \"where\": {\"kind\": \"probe\"}, "

Test(tables, spec_errors_name_the_file_and_the_field)
{
    char dir[64], sub[96];
    cli_tmpdir(dir);
    snprintf(sub, sizeof sub, "%s/specs", dir);
    cr_assert_eq(biqa_mkdir_p(sub, NULL), 0);
    bad_spec(dir, "{\"title\": \"t\",\n \"columns\": [\n", ":3: not a JSON object (JSON syntax error)");
    bad_spec(dir, HEAD COLS ", " ROWS ", \"colour\": 1}", "colour: unknown field");
    bad_spec(dir, HEAD "\"columns\": [{\"id\": \"c\", \"label\": \"C\", \"wher\": {}}], " ROWS "}",
             "columns[0].wher: unknown field");
    bad_spec(dir, HEAD "\"columns\": [{\"id\": \"c\", \"label\": \"C\"}], " ROWS "}",
             "row 'r', column 'c': the cell selects no metric");
    bad_spec(dir, HEAD COLS ", \"rows\": [{\"id\": \"r\", \"label\": \"R\", \"where\": "
                  "{\"degrade.kk\": 3, \"method\": \"qpt\"}}]}",
             "where key 'degrade.kk' is not a knob");
    bad_spec(dir, HEAD COLS ", \"rows\": [{\"id\": \"r\", \"label\": \"R\", \"where\": "
                  "{\"Method\": \"qpt\"}}]}",
             "rows[0].where.Method: not a run field");
    bad_spec(dir, "{\"title\": \"t\", \"fill\": \"biqa {foo}\", \"where\": {\"kind\": \"probe\"}, "
                  COLS ", " ROWS "}",
             "unknown placeholder {foo}");
    bad_spec(dir, "{\"title\": \"t\", \"fill\": \"biqa --data {dataset}\", \"where\": {\"kind\": "
                  "\"probe\"}, " COLS ", " ROWS "}",
             "uses {dataset} but the cell selects no dataset");
    bad_spec(dir, HEAD "\"published_table\": \"sota\", " COLS ", \"sections\": [{\"title\": \"P\", "
                  "\"source\": \"published\", \"rows\": [{\"id\": \"r\", \"label\": \"R\"}]}]}",
             "sections[0].rows[0].published: missing");
    bad_spec(dir, HEAD "\"aggregate\": \"mean\", " COLS ", " ROWS "}",
             "aggregate: must be \"median\" or \"latest\"");
    cli_rmdir(dir);
}

Test(tables, usage_and_lookup_errors, .timeout = 60)
{
    char dir[64];
    cli_tmpdir(dir);
    make_db(dir);
    cli_result r;
    cli_run(&r, "$BIQA --db %s/t.db tables --format xml", dir);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --explain synthetic qpt", dir);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --table nosuch", dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no table 'nosuch' (tables: sota, pretraining, ablation, synthetic, "
                            "performance)"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --explain synthetic nosuch ft-srcc", dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no row 'nosuch' (rows: scratch, supervised, moco, simclr, qpt)"),
              "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --where degrade.kk=3", dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "--where: where key 'degrade.kk' is not a knob"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/t.db tables --profile nosuch", dir);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}

/* ---- the shared store's folder (runs in the runner process) ---- */

static char shared_base[64];

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    strcpy(shared_base, "/tmp/biqa-tables-XXXXXX");
    if (mkdtemp(shared_base))
        setenv("BIQA_TABLES_BASE", shared_base, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (shared_base[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", shared_base);
        if (system(cmd) != 0)
            fprintf(stderr, "test_tables: could not remove %s\n", shared_base);
    }
}
