#ifndef BIQA_RESULTS_SCHEMA_H
#define BIQA_RESULTS_SCHEMA_H

/* Number of migrations (= the newest schema version). */
int biqa_schema_count(void);
/* SQL that takes user_version from version-1 to version; NULL out of range. */
const char *biqa_schema_migration(int version);

#endif
