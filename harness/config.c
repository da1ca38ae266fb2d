#include "harness/config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/log.h"

const char *const biqa_profiles[] = {"test", "demo", "gpu-small", "paper", NULL};

const char *biqa_knob_type_name(enum biqa_knob_type t)
{
    static const char *const names[] = {"integer", "number", "string", "boolean", "list"};
    return names[t];
}

const char *biqa_knob_origin_name(enum biqa_knob_origin o)
{
    static const char *const names[] = {"paper", "assumed", "harness"};
    return names[o];
}

static int knob_index(const char *key)
{
    for (int i = 0; i < biqa_knob_count(); i++)
        if (strcmp(biqa_knob_at(i)->key, key) == 0)
            return i;
    return -1;
}

static int in_choices(const char *choices, const char *v)
{
    if (!choices)
        return 1;
    size_t n = strlen(v);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* Converts text to a JSON value of the knob's type; where names the source
 * of the text for messages. */
static cJSON *parse_text(const biqa_knob *k, const char *text, const char *where, biqa_error *err)
{
    char *end;
    errno = 0;
    switch (k->type) {
    case BIQA_KNOB_INT: {
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            break;
        return cJSON_CreateNumber((double)v);
    }
    case BIQA_KNOB_REAL: {
        double v = strtod(text, &end);
        if (end == text || *end || !isfinite(v))
            break;
        return cJSON_CreateNumber(v);
    }
    case BIQA_KNOB_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1"))
            return cJSON_CreateTrue();
        if (!strcmp(text, "false") || !strcmp(text, "0"))
            return cJSON_CreateFalse();
        break;
    case BIQA_KNOB_STRING:
        if (!in_choices(k->choices, text)) {
            biqa_fail(err, "%s: %s must be one of %s, not '%s'", where, k->key, k->choices, text);
            return NULL;
        }
        return cJSON_CreateString(text);
    case BIQA_KNOB_LIST: {
        cJSON *list = cJSON_CreateArray();
        char *copy = strdup(text), *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            if (!in_choices(k->choices, item)) {
                biqa_fail(err, "%s: %s: '%s' is not one of %s", where, k->key, item, k->choices);
                free(copy);
                cJSON_Delete(list);
                return NULL;
            }
            cJSON_AddItemToArray(list, cJSON_CreateString(item));
        }
        free(copy);
        return list;
    }
    }
    biqa_fail(err, "%s: %s wants %s %s, not '%s'", where, k->key,
              k->type == BIQA_KNOB_INT ? "an" : "a", biqa_knob_type_name(k->type), text);
    return NULL;
}

/* Checks a JSON value from a config file against the knob's type. */
static int check_json(const biqa_knob *k, const cJSON *v, const char *where, biqa_error *err)
{
    int ok = 0;
    switch (k->type) {
    case BIQA_KNOB_INT:
        ok = cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
        break;
    case BIQA_KNOB_REAL:
        ok = cJSON_IsNumber(v);
        break;
    case BIQA_KNOB_BOOL:
        ok = cJSON_IsBool(v);
        break;
    case BIQA_KNOB_STRING:
        if (cJSON_IsString(v) && !in_choices(k->choices, v->valuestring))
            return biqa_fail(err, "%s: %s must be one of %s, not '%s'", where, k->key,
                             k->choices, v->valuestring);
        ok = cJSON_IsString(v);
        break;
    case BIQA_KNOB_LIST:
        ok = cJSON_IsArray(v);
        for (const cJSON *it = v ? v->child : NULL; ok && it; it = it->next) {
            if (!cJSON_IsString(it))
                ok = 0;
            else if (!in_choices(k->choices, it->valuestring))
                return biqa_fail(err, "%s: %s: '%s' is not one of %s", where, k->key,
                                 it->valuestring, k->choices);
        }
        break;
    }
    return ok ? 0 : biqa_fail(err, "%s: %s wants %s", where, k->key, biqa_knob_type_name(k->type));
}

/* Puts value at section.name, replacing what was there. */
static void set_value(biqa_config *c, const biqa_knob *k, cJSON *value)
{
    const char *dot = strchr(k->key, '.');
    char section[64];
    snprintf(section, sizeof section, "%.*s", (int)(dot - k->key), k->key);
    cJSON *sec = cJSON_GetObjectItemCaseSensitive(c->root, section);
    if (!sec)
        sec = cJSON_AddObjectToObject(c->root, section);
    if (cJSON_GetObjectItemCaseSensitive(sec, dot + 1))
        cJSON_ReplaceItemInObjectCaseSensitive(sec, dot + 1, value);
    else
        cJSON_AddItemToObject(sec, dot + 1, value);
}

static const char *own(biqa_config *c, const char *fmt, const char *arg)
{
    size_t n = strlen(fmt) + strlen(arg) + 1;
    char *s = malloc(n);
    snprintf(s, n, fmt, arg);
    char **grown = realloc(c->owned, (size_t)(c->nowned + 1) * sizeof *grown);
    if (!grown) {
        free(s);
        return "?";
    }
    c->owned = grown;
    c->owned[c->nowned++] = s;
    return s;
}

static int apply_text(biqa_config *c, const char *key, const char *text, const char *source,
                      biqa_error *err)
{
    int i = knob_index(key);
    if (i < 0)
        return biqa_fail(err, "%s: unknown knob '%s' (biqa config show lists them)", source, key);
    cJSON *v = parse_text(biqa_knob_at(i), text, source, err);
    if (!v)
        return -1;
    set_value(c, biqa_knob_at(i), v);
    c->source[i] = source;
    return 0;
}

static int apply_file(biqa_config *c, const char *path, biqa_error *err)
{
    char *text;
    size_t len;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return biqa_fail(err, "%s: not a JSON object of config sections", path);
    }
    const char *source = own(c, "file %s", path);
    int rc = 0;
    for (cJSON *sec = root->child; sec && rc == 0; sec = sec->next) {
        if (!cJSON_IsObject(sec)) {
            rc = biqa_fail(err, "%s: '%s' should be an object of knobs", path, sec->string);
            break;
        }
        for (cJSON *v = sec->child; v && rc == 0; v = v->next) {
            char key[160];
            snprintf(key, sizeof key, "%s.%s", sec->string, v->string);
            int i = knob_index(key);
            if (i < 0) {
                rc = biqa_fail(err, "%s: unknown knob '%s'", path, key);
            } else if (check_json(biqa_knob_at(i), v, path, err) == 0) {
                set_value(c, biqa_knob_at(i), cJSON_Duplicate(v, 1));
                c->source[i] = source;
            } else {
                rc = -1;
            }
        }
    }
    cJSON_Delete(root);
    return rc;
}

static const char *profile_value(const biqa_knob *k, const char *profile)
{
    if (!strcmp(profile, "test"))
        return k->test;
    if (!strcmp(profile, "demo"))
        return k->demo;
    if (!strcmp(profile, "gpu-small"))
        return k->gpu_small;
    return k->paper;
}

int biqa_config_load(biqa_config *c, const char *profile, const char *file,
                     const char *const *sets, int nsets, const biqa_cli *cli, biqa_error *err)
{
    memset(c, 0, sizeof *c);
    int known = 0;
    for (const char *const *p = biqa_profiles; *p; p++)
        known |= strcmp(*p, profile) == 0;
    if (!known)
        return biqa_fail(err, "unknown profile '%s' (test, demo, gpu-small or paper)", profile);
    snprintf(c->profile, sizeof c->profile, "%s", profile);
    c->root = cJSON_CreateObject();
    c->source = calloc((size_t)biqa_knob_count(), sizeof *c->source);
    if (!c->root || !c->source)
        goto fail_oom;
    const char *from_profile = own(c, "profile %s", profile);
    for (int i = 0; i < biqa_knob_count(); i++) {
        const biqa_knob *k = biqa_knob_at(i);
        const char *pv = profile_value(k, profile);
        /* Table values are ours: failing to parse one is a biqa bug. */
        if (apply_text(c, k->key, pv ? pv : k->def, pv ? from_profile : "default", err) < 0)
            goto fail;
    }
    if (file && apply_file(c, file, err) < 0)
        goto fail;
    for (int s = 0; s < nsets; s++) {
        const char *eq = strchr(sets[s], '=');
        if (!eq) {
            biqa_fail(err, "--set %s: expected KEY=VALUE", sets[s]);
            goto fail;
        }
        char key[160];
        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[s]), sets[s]);
        if (apply_text(c, key, eq + 1, "--set", err) < 0)
            goto fail;
    }
    if (cli) {
        char buf[32];
        if (cli->has_seed) {
            snprintf(buf, sizeof buf, "%lld", (long long)cli->seed);
            if (apply_text(c, "run.seed", buf, "--seed", err) < 0)
                goto fail;
        }
        if (cli->backend && apply_text(c, "compute.backend", cli->backend, "--backend", err) < 0)
            goto fail;
        const char *precision = biqa_arg(cli->args, "precision");
        if (precision && apply_text(c, "compute.precision", precision, "--precision", err) < 0)
            goto fail;
        if (cli->threads) {
            snprintf(buf, sizeof buf, "%d", cli->threads);
            if (apply_text(c, "compute.threads", buf, "--threads", err) < 0)
                goto fail;
        }
    }
    return 0;
fail_oom:
    biqa_fail(err, "out of memory building the config");
fail:
    biqa_config_free(c);
    return -1;
}

int biqa_config_from_cli(biqa_config *c, const biqa_cli *cli, biqa_error *err)
{
    const biqa_args *a = cli->args;
    const char *profile = biqa_arg(a, "profile") ? biqa_arg(a, "profile") : "demo";
    const char *const *sets = NULL;
    int nsets = biqa_arg_all(a, "set", &sets);
    return biqa_config_load(c, profile, biqa_arg(a, "config"), sets, nsets, cli, err);
}

void biqa_config_free(biqa_config *c)
{
    cJSON_Delete(c->root);
    free(c->source);
    for (int i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    free(c->owned);
    memset(c, 0, sizeof *c);
}

const cJSON *biqa_config_get(const biqa_config *c, const char *key)
{
    const char *dot = strchr(key, '.');
    if (!dot)
        return NULL;
    char section[64];
    snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(c->root, section), dot + 1);
}

char *biqa_config_canonical(const biqa_config *c, biqa_error *err)
{
    char *text = cJSON_PrintUnformatted(c->root);
    if (!text) {
        biqa_fail(err, "out of memory printing the config");
        return NULL;
    }
    char *canon = biqa_json_canonical(text, err);
    cJSON_free(text);
    return canon;
}

biqa_backend *biqa_backend_from_config(const biqa_config *c, biqa_error *err)
{
    const char *name = biqa_config_get(c, "compute.backend")->valuestring;
    const char *text = biqa_config_get(c, "compute.precision")->valuestring;
    enum biqa_precision precision;
    if (biqa_precision_parse(text, &precision, err) < 0)
        return NULL;
    /* tf32 and bf16 are GPU arithmetic: a profile that asks for them (gpu-small,
     * paper) still runs on the CPU backends, in fp32, and says so. */
    if (precision != BIQA_PREC_FP32 && strcmp(name, "cuda") != 0) {
        biqa_warn("compute.precision %s is for the cuda backend: %s runs in fp32", text, name);
        precision = BIQA_PREC_FP32;
    }
    return biqa_backend_create_with(name, (int)biqa_config_get(c, "compute.threads")->valuedouble,
                                    precision, err);
}
