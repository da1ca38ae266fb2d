/* datasets/xlsx.h on workbooks whose SpreadsheetML parts are written here by
 * hand and zipped with libarchive's writer, and the xlsx label parsers
 * (CSIQ, BID) on them. openpyxl-written workbooks are tested in
 * tests/ref/labels_vs_python.py. */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/labels.h"
#include "datasets/xlsx.h"

#define NS "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" " \
           "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\""

/* Zips name/content pairs (NULL-terminated) into path. */
static void zip_parts(const char *path, const char *const *parts)
{
    struct archive *a = archive_write_new();
    cr_assert_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK, "%s", archive_error_string(a));
    for (; parts[0]; parts += 2) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, parts[0]);
        archive_entry_set_size(e, (la_int64_t)strlen(parts[1]));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        cr_assert_eq(archive_write_data(a, parts[1], strlen(parts[1])), (la_ssize_t)strlen(parts[1]));
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* A workbook: sheets "Other" (sheet1.xml) and the one named name (sheet2.xml). */
static void workbook(const char *path, const char *name, const char *sheet_data,
                     const char *shared)
{
    char wb[1024], s2[16384], sst[4096];
    snprintf(wb, sizeof wb,
             "<?xml version=\"1.0\"?><workbook " NS "><sheets>"
             "<sheet name=\"Other\" sheetId=\"1\" r:id=\"rId1\"/>"
             "<sheet name=\"%s\" sheetId=\"2\" r:id=\"rId2\"/></sheets></workbook>", name);
    snprintf(s2, sizeof s2, "<?xml version=\"1.0\"?>\n<worksheet " NS ">\n<sheetData>\n%s\n"
             "</sheetData></worksheet>", sheet_data);
    snprintf(sst, sizeof sst, "<?xml version=\"1.0\"?><sst " NS ">%s</sst>", shared);
    const char *parts[] = {
        "[Content_Types].xml", "<?xml version=\"1.0\"?><Types/>",
        "xl/workbook.xml", wb,
        "xl/_rels/workbook.xml.rels",
        "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/"
        "package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"x\" "
        "Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" Type=\"x\" "
        "Target=\"worksheets/sheet2.xml\"/></Relationships>",
        "xl/sharedStrings.xml", sst,
        "xl/worksheets/sheet1.xml",
        "<?xml version=\"1.0\"?><worksheet " NS "><sheetData><row r=\"1\"><c r=\"A1\">"
        "<v>42</v></c></row></sheetData></worksheet>",
        "xl/worksheets/sheet2.xml", s2,
        NULL};
    zip_parts(path, parts);
}

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-xlsx-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void fails(const char *path, const char *sheet, const char *needle)
{
    biqa_xlsx_sheet s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_xlsx_read(path, sheet, &s, &e), -1, "expected '%s'", needle);
    cr_assert(strstr(e.msg, path) && strstr(e.msg, needle), "'%s' lacks '%s'", e.msg, needle);
}

Test(xlsx, cell_references_both_ways)
{
    uint32_t r, c;
    cr_assert_eq(biqa_xlsx_parse_ref("A1", &r, &c), 0);
    cr_assert(r == 1 && c == 1);
    cr_assert_eq(biqa_xlsx_parse_ref("AA10", &r, &c), 0);
    cr_assert(r == 10 && c == 27);
    cr_assert_eq(biqa_xlsx_parse_ref("$C$12", &r, &c), 0);
    cr_assert(r == 12 && c == 3);
    cr_assert_eq(biqa_xlsx_parse_ref("XFD1048576", &r, &c), 0);
    cr_assert(r == 1048576 && c == 16384);
    const char *bad[] = {"", "1A", "A", "A0", "A01", "XFE1", "A1048577", "AAAA1", "A1x", "A-1",
                         "é1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(biqa_xlsx_parse_ref(bad[i], &r, &c), -1, "'%s' is not a cell", bad[i]);
    char ref[16];
    biqa_xlsx_ref(12, 3, ref);
    cr_assert_str_eq(ref, "C12");
    biqa_xlsx_ref(5, 703, ref);
    cr_assert_str_eq(ref, "AAA5");
    biqa_xlsx_ref(1048576, 16384, ref);
    cr_assert_str_eq(ref, "XFD1048576");
    for (uint32_t col = 1; col <= 16384; col += 37) {
        char s[16];
        biqa_xlsx_ref(7, col, s);
        cr_assert_eq(biqa_xlsx_parse_ref(s, &r, &c), 0);
        cr_assert(r == 7 && c == col, "%s", s);
    }
}

Test(xlsx, shared_inline_number_bool_cells, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof path, "%s/w.xlsx", dir);
    workbook(path, "Data",
             "<row r=\"2\"><c r=\"B2\" t=\"s\"><v>1</v></c><c r=\"C2\"><v>-1.5E2</v></c></row>"
             "<row r=\"3\"><c r=\"A3\" t=\"inlineStr\"><is><t>in</t><r><t>line</t></r></is></c>"
             "<c r=\"B3\" t=\"b\"><v>1</v></c><c r=\"D3\" s=\"1\"/><c t=\"s\"><v>0</v></c></row>",
             "<si><t>zero</t></si><si><r><t>o</t></r><r><t>ne &amp; </t></r>"
             "<rPh><t>X</t></rPh></si>");
    biqa_xlsx_sheet s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_xlsx_read(path, "data", &s, &e), 0, "%s", e.msg); /* case-insensitive */
    cr_assert_str_eq(s.name, "Data");
    cr_assert_eq(s.n, 5);
    cr_assert(s.rows == 3 && s.cols == 5);
    cr_assert_str_eq(biqa_xlsx_text(&s, 2, 2), "one & ");
    cr_assert_eq(biqa_xlsx_get(&s, 2, 2)->type, BIQA_XLSX_STRING);
    cr_assert_str_eq(biqa_xlsx_text(&s, 3, 1), "inline");
    cr_assert_eq(biqa_xlsx_get(&s, 3, 2)->type, BIQA_XLSX_BOOL);
    cr_assert_null(biqa_xlsx_get(&s, 3, 4), "a styled empty cell is empty");
    cr_assert_str_eq(biqa_xlsx_text(&s, 3, 5), "zero", "a cell without r follows the last");
    cr_assert_str_eq(biqa_xlsx_text(&s, 1, 1), "");
    double v;
    cr_assert_eq(biqa_xlsx_number(&s, 2, 3, &v, &e), 0, "%s", e.msg);
    cr_assert_eq(v, -150);
    cr_assert_eq(biqa_xlsx_number(&s, 3, 4, &v, &e), -1);
    cr_assert(strstr(e.msg, "w.xlsx: sheet Data: cell D3 is empty"), "%s", e.msg);
    cr_assert_eq(biqa_xlsx_number(&s, 2, 2, &v, &e), -1);
    cr_assert(strstr(e.msg, "cell B2: 'one & ' is not a number"), "%s", e.msg);
    cr_assert_eq(biqa_xlsx_number(&s, 3, 2, &v, &e), -1, "a boolean is not a number");
    biqa_xlsx_free(&s);
    cr_assert_eq(biqa_xlsx_read(path, NULL, &s, &e), 0, "%s", e.msg);
    cr_assert_str_eq(s.name, "Other", "no name: the first sheet");
    cr_assert_eq(biqa_xlsx_number(&s, 1, 1, &v, &e), 0);
    cr_assert_eq(v, 42);
    biqa_xlsx_free(&s);
}

Test(xlsx, malformed_workbooks_name_file_and_place, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof path, "%s/w.xlsx", dir);
    workbook(path, "Data", "<row r=\"1\"><c r=\"A1\"><v>1</v></c></row>", "");
    fails(path, "all_by_image", "no sheet 'all_by_image' (sheets: 'Other', 'Data')");
    workbook(path, "Data", "<row r=\"1\"><c r=\"1A\"><v>1</v></c></row>", "");
    fails(path, "Data", "sheet Data: xl/worksheets/sheet2.xml:4: cell reference '1A' is not a cell");
    workbook(path, "Data", "<row r=\"1\"><c r=\"B2\"><v>1</v></c></row>", "");
    fails(path, "Data", "cell B2 inside row 1");
    workbook(path, "Data", "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>3</v></c></row>", "<si><t>a</t></si>");
    fails(path, "Data", "cell A1: shared string index '3' is not one of the 1 strings");
    workbook(path, "Data", "<row r=\"1\"><c r=\"A1\"><v>1</v></c><c r=\"A1\"><v>2</v></c></row>", "");
    fails(path, "Data", "cell A1 is given twice");
    workbook(path, "Data", "<row r=\"1\"><c r=\"A1\" t=\"zz\"><v>1</v></c></row>", "");
    fails(path, "Data", "cell A1: unknown cell type 'zz'");
    workbook(path, "Data", "<row r=\"x\"/>", "");
    fails(path, "Data", "row number 'x'");
    workbook(path, "Data", "<row r=\"1\"><c r=\"A1\"><v>1</v></row>", "");
    biqa_xlsx_sheet s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_xlsx_read(path, "Data", &s, &e), -1);
    const char *at = strstr(e.msg, "w.xlsx: xl/worksheets/sheet2.xml:");
    cr_assert(at && at[strlen("w.xlsx: xl/worksheets/sheet2.xml:")] >= '1' &&
              at[strlen("w.xlsx: xl/worksheets/sheet2.xml:")] <= '9',
              "malformed XML: '%s' names no part and line", e.msg);

    const char *no_workbook[] = {"xl/worksheets/sheet1.xml", "<worksheet/>", NULL};
    zip_parts(path, no_workbook);
    fails(path, NULL, "not an xlsx workbook (no xl/workbook.xml)");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("image,mos\na.png,1\n", f); /* a CSV saved as .xlsx */
    fclose(f);
    fails(path, NULL, "w.xlsx");
    snprintf(path, sizeof path, "%s/absent.xlsx", dir);
    fails(path, NULL, "absent.xlsx");
}

static void touch(const char *rel)
{
    char path[256], cmd[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%.250s')\" && : > '%.250s'", path, path);
    cr_assert_eq(system(cmd), 0);
}

Test(xlsx, csiq_and_bid_labels, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof path, "%s/csiq.DMOS.xlsx", dir);
    /* header below a title, from column B; image as a number and as a string */
    workbook(path, "all_by_image",
             "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>CSIQ</t></is></c></row>"
             "<row r=\"3\"><c r=\"B3\" t=\"s\"><v>0</v></c><c r=\"C3\" t=\"s\"><v>1</v></c>"
             "<c r=\"D3\" t=\"s\"><v>2</v></c><c r=\"E3\" t=\"s\"><v>3</v></c>"
             "<c r=\"F3\" t=\"s\"><v>4</v></c></row>"
             "<row r=\"4\"><c r=\"B4\"><v>1600</v></c><c r=\"C4\" t=\"s\"><v>5</v></c>"
             "<c r=\"D4\"><v>2</v></c><c r=\"E4\"><v>0.05</v></c><c r=\"F4\"><v>0.25</v></c></row>"
             "<row r=\"6\"><c r=\"B6\" t=\"s\"><v>6</v></c><c r=\"C6\" t=\"s\"><v>7</v></c>"
             "<c r=\"D6\"><v>5</v></c><c r=\"E6\"><v>0.1</v></c><c r=\"F6\"><v>0.75</v></c></row>",
             "<si><t>image</t></si><si><t>dst_type</t></si><si><t>dst_lev</t></si>"
             "<si><t>dmos_std</t></si><si><t>dmos</t></si><si><t>jpeg 2000</t></si>"
             "<si><t>bridge</t></si><si><t>noise</t></si>");
    touch("dst_imgs/jpeg2000/1600.jpeg2000.2.png");
    touch("dst_imgs/awgn/bridge.AWGN.5.png");
    biqa_label_spec spec = {.parser = "csiq-xlsx", .file = "csiq.DMOS.xlsx",
                            .image_dir = "dst_imgs", .mos_lo = 0, .mos_hi = 1};
    biqa_index idx;
    biqa_index_init(&idx, "csiq", NULL);
    biqa_error e = {{0}};
    size_t n_missing;
    cr_assert_eq(biqa_labels_read(dir, &spec, &idx, &n_missing, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(idx.n, 2);
    cr_assert_eq(n_missing, 0);
    cr_assert_str_eq(idx.items[0].name, "jpeg2000/1600.jpeg2000.2.png");
    cr_assert_str_eq(idx.items[0].ref, "1600");
    cr_assert_str_eq(idx.items[0].distortion, "jpeg2000:2");
    cr_assert_float_eq(idx.items[0].mos, 0.75, 1e-15, "DMOS 0.25 on 0..1, lower better");
    cr_assert_float_eq(idx.items[0].std, 0.05, 1e-15);
    cr_assert_str_eq(idx.items[1].name, "awgn/bridge.AWGN.5.png");
    biqa_index_free(&idx);

    workbook(path, "all_by_image",
             "<row r=\"3\"><c r=\"B3\" t=\"s\"><v>0</v></c><c r=\"C3\" t=\"s\"><v>1</v></c>"
             "<c r=\"D3\" t=\"s\"><v>2</v></c><c r=\"F3\" t=\"s\"><v>4</v></c></row>"
             "<row r=\"4\"><c r=\"B4\"><v>1600</v></c><c r=\"C4\" t=\"s\"><v>5</v></c>"
             "<c r=\"D4\"><v>2</v></c></row>",
             "<si><t>image</t></si><si><t>dst_type</t></si><si><t>dst_lev</t></si>"
             "<si><t>dmos_std</t></si><si><t>dmos</t></si><si><t>sharpen</t></si>");
    biqa_index_init(&idx, "csiq", NULL);
    cr_assert_eq(biqa_labels_read(dir, &spec, &idx, &n_missing, NULL, &e), -1);
    cr_assert(strstr(e.msg, "csiq.DMOS.xlsx: sheet all_by_image: cell C4: unknown distortion "
                            "type 'sharpen'"), "%s", e.msg);
    cr_assert_eq(idx.n, 0);
    biqa_index_free(&idx);

    snprintf(path, sizeof path, "%s/DatabaseGrades.xlsx", dir);
    /* a workbook of one sheet, its part named by an absolute target */
    const char *parts[] = {
        "xl/workbook.xml", "<workbook " NS "><sheets><sheet name=\"S\" r:id=\"a\"/></sheets></workbook>",
        "xl/_rels/workbook.xml.rels",
        "<Relationships><Relationship Id=\"a\" Target=\"/xl/worksheets/g.xml\"/></Relationships>",
        "xl/worksheets/g.xml",
        "<worksheet " NS "><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>Image "
        "Number</t></is></c></row><row r=\"2\"><c r=\"A2\"><v>1</v></c><c r=\"B2\"><v>3.5</v></c>"
        "</row><row r=\"3\"><c r=\"A3\"><v>2</v></c><c r=\"B3\"><v>6</v></c></row>"
        "<row r=\"4\"><c r=\"A4\"><v>2.5</v></c><c r=\"B4\"><v>1</v></c></row>"
        "</sheetData></worksheet>",
        NULL};
    zip_parts(path, parts);
    touch("DatabaseImage0001.jpg");
    spec = (biqa_label_spec){.parser = "bid-xlsx", .file = "DatabaseGrades.xlsx", .mos_lo = 0,
                             .mos_hi = 5, .higher_better = 1};
    biqa_index_init(&idx, "bid", NULL);
    cr_assert_eq(biqa_labels_read(dir, &spec, &idx, &n_missing, NULL, &e), -1);
    cr_assert(strstr(e.msg, "DatabaseGrades.xlsx: sheet S: row 3: image 'DatabaseImage0002.JPG': "
                            "MOS 6 outside the declared range [0, 5]"), "%s", e.msg);
    spec.mos_hi = 10;
    cr_assert_eq(biqa_labels_read(dir, &spec, &idx, &n_missing, NULL, &e), -1);
    cr_assert(strstr(e.msg, "cell A4: image number 2.5 is not a whole number"), "%s", e.msg);
    biqa_index_free(&idx);
}
