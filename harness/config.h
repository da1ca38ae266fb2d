/* Run configuration: every knob of the pipeline, its type, default, the value
 * each profile (test, demo, gpu-small, paper) gives it, and where the value
 * comes from (QPT.md: values the paper does not state are marked assumed and
 * are always overridable). A config resolves in layers:
 *   knob default < profile < --config FILE (JSON) < --set KEY=VALUE < global options
 * and is stored with every run as canonical JSON plus its SHA-256. */
#ifndef BIQA_HARNESS_CONFIG_H
#define BIQA_HARNESS_CONFIG_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/error.h"
#include "harness/cli.h"
#include "kernels/backend.h"

enum biqa_knob_type { BIQA_KNOB_INT, BIQA_KNOB_REAL, BIQA_KNOB_STRING, BIQA_KNOB_BOOL, BIQA_KNOB_LIST };

enum biqa_knob_origin {
    BIQA_ORIGIN_PAPER,   /* stated by the QPT paper or its abstract */
    BIQA_ORIGIN_ASSUMED, /* QPT.md [assumed]: a default, not the paper's value */
    BIQA_ORIGIN_HARNESS, /* an engineering choice of biqa */
};

typedef struct biqa_knob {
    const char *key;     /* "section.name" */
    enum biqa_knob_type type;
    enum biqa_knob_origin origin;
    const char *choices; /* "a|b|c" for strings and list items, NULL: free */
    /* Values as text, parsed by type; NULL in a profile: the default. */
    const char *def, *test, *demo, *gpu_small, *paper;
    const char *doc;
} biqa_knob;

typedef struct biqa_config {
    cJSON *root;       /* { "section": { "name": value } } */
    char profile[16];
    const char **source; /* per knob: "default", "profile demo", "file X", "--set", "--seed" */
    char **owned;        /* source texts that were allocated */
    int nowned;
} biqa_config;

int biqa_knob_count(void);
const biqa_knob *biqa_knob_at(int i);
const char *biqa_knob_type_name(enum biqa_knob_type t);
const char *biqa_knob_origin_name(enum biqa_knob_origin o);

/* The profiles, in order of scale. */
extern const char *const biqa_profiles[];

/* Resolves a config. file and sets may be NULL/0; cli may be NULL. */
int biqa_config_load(biqa_config *c, const char *profile, const char *file,
                     const char *const *sets, int nsets, const biqa_cli *cli, biqa_error *err);
/* The config a command's --profile (default demo), --config and repeated
 * --set options ask for, with the global options over them; the profile's
 * name is in c->profile. */
int biqa_config_from_cli(biqa_config *c, const biqa_cli *cli, biqa_error *err);
void biqa_config_free(biqa_config *c);

/* The config's value of a knob (never NULL for a known key). */
const cJSON *biqa_config_get(const biqa_config *c, const char *key);
/* Canonical JSON (malloc'd) and its SHA-256. */
char *biqa_config_canonical(const biqa_config *c, biqa_error *err);

/* The backend of compute.backend, compute.threads and compute.precision
 * (tf32/bf16 on a CPU backend: fp32, with a warning). */
biqa_backend *biqa_backend_from_config(const biqa_config *c, biqa_error *err);

#endif
