/* biqa config show: every knob of a profile, its value and where it came from. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/output.h"

/* A value as a table cell (malloc'd): strings bare, lists comma-joined,
 * numbers and booleans as JSON. */
static char *cell_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (!cJSON_IsArray(v)) {
        char *json = cJSON_PrintUnformatted(v), *out = json ? strdup(json) : NULL;
        cJSON_free(json);
        return out;
    }
    size_t len = 1;
    for (const cJSON *it = v->child; it; it = it->next)
        len += strlen(it->valuestring) + 1;
    char *out = calloc(len, 1);
    for (const cJSON *it = v->child; it && out; it = it->next) {
        if (it != v->child)
            strcat(out, ",");
        strcat(out, it->valuestring);
    }
    return out;
}

int biqa_cmd_config_show(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    biqa_error err = {{0}};
    biqa_config c;
    if (biqa_config_from_cli(&c, cli, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    char *canon = biqa_config_canonical(&c, &err);
    if (!canon) {
        biqa_config_free(&c);
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    char hash[BIQA_SHA256_HEX_LEN];
    biqa_sha256_hex(canon, strlen(canon), hash);
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "profile", c.profile);
        cJSON_AddStringToObject(o, "config_sha256", hash);
        cJSON_AddItemToObject(o, "config", cJSON_Parse(canon));
        cJSON *knobs = cJSON_AddArrayToObject(o, "knobs");
        for (int i = 0; i < biqa_knob_count(); i++) {
            const biqa_knob *k = biqa_knob_at(i);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "key", k->key);
            cJSON_AddItemToObject(row, "value", cJSON_Duplicate(biqa_config_get(&c, k->key), 1));
            cJSON_AddStringToObject(row, "type", biqa_knob_type_name(k->type));
            cJSON_AddStringToObject(row, "source", c.source[i]);
            cJSON_AddStringToObject(row, "origin", biqa_knob_origin_name(k->origin));
            cJSON_AddStringToObject(row, "doc", k->doc);
            cJSON_AddItemToArray(knobs, row);
        }
        biqa_print_json(o, stdout);
    } else {
        printf("profile %s, config sha256 %s\n", c.profile, hash);
        biqa_table t;
        biqa_table_init(&t, 5, (const char *const[]){"knob", "value", "source", "origin", "meaning"});
        for (int i = 0; i < biqa_knob_count(); i++) {
            const biqa_knob *k = biqa_knob_at(i);
            char *value = cell_text(biqa_config_get(&c, k->key));
            biqa_table_add(&t, (const char *const[]){k->key, value, c.source[i],
                                                     biqa_knob_origin_name(k->origin), k->doc});
            free(value);
        }
        biqa_table_print(&t, stdout);
        biqa_table_free(&t);
        printf("origin: paper = stated by QPT; assumed = a default QPT.md marks as assumed, not "
               "the paper's value; harness = biqa's choice\n");
    }
    free(canon);
    biqa_config_free(&c);
    return BIQA_EXIT_OK;
}
