/* An image folder in the ImageNet train layout: one sub-folder per class,
 * images directly inside it (torchvision's ImageFolder, minus its recursion
 * into deeper sub-folders, which this index does not do).
 *   class ids: the class folders' names sorted by strcmp, numbered from 0;
 *   items:     per class in id order, its files sorted by strcmp of the
 *              name, kept when the name ends in .jpg, .jpeg, .png or .bmp
 *              (any case); names starting with '.' are skipped, as are
 *              other files (torchvision ignores non-image extensions too).
 * A class folder without any image is an error, as in torchvision 0.14
 * ("Found no valid file for the classes ..."); so is a root without class
 * folders. Errors name the folder. */
#ifndef BIQA_DATASETS_FOLDER_H
#define BIQA_DATASETS_FOLDER_H

#include "core/error.h"

typedef struct biqa_folder_item {
    char *path; /* "<root>/<class>/<file>" */
    int cls;
} biqa_folder_item;

typedef struct biqa_folder {
    int nitems, nclasses;
    biqa_folder_item *items;
    char **classes; /* folder names, by class id */
} biqa_folder;

int biqa_folder_index(const char *root, biqa_folder *out, biqa_error *err);
/* Frees everything and empties f; safe on an empty (zeroed) folder. */
void biqa_folder_free(biqa_folder *f);

#endif
