/* The paper's published numbers (paper/published.csv, compiled into biqa)
 * as the `published` table. Reloaded whenever the compiled-in CSV differs
 * from what the database holds (compared by SHA-256, kept in `meta`). */
#ifndef BIQA_RESULTS_PUBLISHED_H
#define BIQA_RESULTS_PUBLISHED_H

#include "results/store.h"

int biqa_published_sync(biqa_store *s, biqa_error *err);

#endif
