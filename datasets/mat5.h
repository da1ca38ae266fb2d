/* A small reader of MATLAB level-5 MAT-files ("MAT-File Format", MathWorks,
 * chapter 1): the 128-byte header (text, subsystem offset, version 0x0100,
 * endian indicator), then tagged data elements, each a miMATRIX or a
 * miCOMPRESSED (a zlib stream holding one or more elements). Read: numeric
 * arrays of every integer and floating class (real part, as doubles), char
 * arrays (miUTF8/16/32 and the integer encodings, as code points) and cell
 * arrays of those; anything else (struct, object, sparse, complex, function
 * handle) is kept as BIQA_MAT_OTHER with its name, and is an error only when
 * a caller asks for its data. Arrays are column-major, as MATLAB stores
 * them; dimensions past the second are folded into cols.
 *
 * Not read, each rejected with a message saying so: MATLAB 7.3 files (HDF5
 * containers), level-4 files, and big-endian files (endian indicator "MI";
 * every MATLAB since R2007 writes little-endian). */
#ifndef BIQA_DATASETS_MAT5_H
#define BIQA_DATASETS_MAT5_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum biqa_mat_kind { BIQA_MAT_NUMERIC, BIQA_MAT_CHAR, BIQA_MAT_CELL, BIQA_MAT_OTHER };

typedef struct biqa_mat_var {
    char *name;               /* "" inside a cell */
    enum biqa_mat_kind kind;
    int mx_class;             /* MATLAB's array class (mxDOUBLE_CLASS = 6, mxCELL_CLASS = 1, ...) */
    size_t rows, cols;
    double *num;              /* NUMERIC: rows * cols values */
    uint32_t *chars;          /* CHAR: rows * cols code points */
    struct biqa_mat_var *cells; /* CELL: rows * cols arrays */
} biqa_mat_var;

typedef struct biqa_mat {
    char *path;
    biqa_mat_var *vars; /* the file's variables, in file order */
    size_t n;
} biqa_mat;

/* Reads the file at path; errors name the file and the element (1-based
 * index among the top-level elements, with the variable's name once known). */
int biqa_mat_read(const char *path, biqa_mat *out, biqa_error *err);
/* The same from memory; name is used in messages. */
int biqa_mat_parse(const char *name, const unsigned char *data, size_t len, biqa_mat *out,
                   biqa_error *err);
void biqa_mat_free(biqa_mat *m);

/* The variable called name, or NULL. */
const biqa_mat_var *biqa_mat_find(const biqa_mat *m, const char *name);

/* Row `row` of a char array as a UTF-8 string (malloc'd); a matrix of
 * several rows loses the trailing blanks MATLAB pads its rows with. NULL
 * when v is not a char array or row is out of range. */
char *biqa_mat_string(const biqa_mat_var *v, size_t row);

#endif
