#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"

/* Parses text as if it were a file called "t.csv". */
static int parse(const char *text, biqa_csv *csv, biqa_error *err)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    memcpy(buf, text, len + 1);
    return biqa_csv_parse("t.csv", buf, len, csv, err);
}

Test(csv, quoting_crlf_bom)
{
    biqa_csv c;
    biqa_error e = {{0}};
    cr_assert_eq(parse("\xEF\xBB\xBFname,\"mos, x\"\r\n\"a \"\"b\"\"\",1.5\r\n\"multi\nline\",2\r\n\r\n",
                       &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.ncols, 2);
    cr_assert_eq(c.nrows, 2);
    cr_assert_str_eq(biqa_csv_header(&c, 1), "mos, x");
    cr_assert_str_eq(biqa_csv_cell(&c, 0, 0), "a \"b\"");
    cr_assert_str_eq(biqa_csv_cell(&c, 1, 0), "multi\nline");
    cr_assert_eq(c.lines[2], 3); /* the third record starts on line 3 */
    size_t col;
    cr_assert_eq(biqa_csv_find_column(&c, "mos, x", &col, &e), 0);
    double v[2];
    cr_assert_eq(biqa_csv_column_doubles(&c, col, v, &e), 0, "%s", e.msg);
    cr_assert_float_eq(v[0], 1.5, 0);
    cr_assert_float_eq(v[1], 2.0, 0);
    biqa_csv_free(&c);
}

Test(csv, empty_cells_and_no_final_newline)
{
    biqa_csv c;
    biqa_error e = {{0}};
    cr_assert_eq(parse("a,b,c\n,,\n1,2,3", &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.nrows, 2);
    cr_assert_str_eq(biqa_csv_cell(&c, 0, 1), "");
    cr_assert_str_eq(biqa_csv_cell(&c, 1, 2), "3");
    double v[2];
    cr_assert_eq(biqa_csv_column_doubles(&c, 0, v, &e), -1);
    cr_assert_str_eq(e.msg, "t.csv:2: column 'a': empty cell");
    biqa_csv_free(&c);
}

struct bad_case {
    const char *text, *msg;
};

Test(csv, bad_input_names_file_and_line)
{
    static const struct bad_case cases[] = {
        {"", "t.csv: empty file (a header line and data rows are needed)"},
        {"\n\n", "t.csv: empty file (a header line and data rows are needed)"},
        {"mos,pred\n", "t.csv: no data rows after the header"},
        {"mos,pred\n1,2\n3\n", "t.csv:3: expected 2 fields, found 1"},
        {"mos,pred\n1,2,3\n", "t.csv:2: expected 2 fields, found 3"},
        {"mos,pred\n\"1,2\n", "t.csv:2: unterminated quoted field"},
        {"mos,pred\n\"1\"x,2\n", "t.csv:2: text after a closing quote"},
        {"mos,pred\n1\"x,2\n", "t.csv:2: quote inside an unquoted field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        biqa_csv c;
        biqa_error e = {{0}};
        cr_assert_eq(parse(cases[i].text, &c, &e), -1, "case %zu parsed", i);
        cr_assert_str_eq(e.msg, cases[i].msg);
    }
}

Test(csv, non_numeric_and_missing_column)
{
    biqa_csv c;
    biqa_error e = {{0}};
    cr_assert_eq(parse("mos,pred\n1,2\n2,abc\n3,nan\n", &c, &e), 0);
    double v[3];
    cr_assert_eq(biqa_csv_column_doubles(&c, 1, v, &e), -1);
    cr_assert_str_eq(e.msg, "t.csv:3: column 'pred': 'abc' is not a number");
    size_t col;
    cr_assert_eq(biqa_csv_find_column(&c, "score", &col, &e), -1);
    cr_assert_str_eq(e.msg, "t.csv: no column 'score' (columns: 'mos', 'pred')");
    biqa_csv_free(&c);
}

Test(csv, missing_file)
{
    biqa_csv c;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_csv_read("/nonexistent/x.csv", &c, &e), -1);
    cr_assert_str_eq(e.msg, "/nonexistent/x.csv: No such file or directory");
}
