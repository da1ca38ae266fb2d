#include "core/digest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void biqa_sha256_hex(const void *data, size_t len, char out[BIQA_SHA256_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Streamed in 1 MiB blocks, so a checkpoint or an image archive of any
 * size needs no more memory than that. */
int biqa_sha256_file(const char *path, char hex[BIQA_SHA256_HEX_LEN], int64_t *bytes,
                     biqa_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return biqa_fail(err, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    int rc = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
                 ? 0
                 : biqa_fail(err, "%s: out of memory", path);
    int64_t total = 0;
    while (rc == 0) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = biqa_fail(err, "%s: read: %s", path, strerror(errno));
        if (n <= 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        total += n;
    }
    if (rc == 0) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        for (unsigned i = 0; i < dl; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (bytes)
            *bytes = total;
    }
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    return rc;
}

static int key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* Re-links every object's children in key order. */
static int sort_keys(cJSON *node)
{
    if (cJSON_IsObject(node)) {
        int n = cJSON_GetArraySize(node);
        if (n > 1) {
            cJSON **kids = malloc((size_t)n * sizeof *kids);
            if (!kids)
                return -1;
            int i = 0;
            for (cJSON *c = node->child; c; c = c->next)
                kids[i++] = c;
            qsort(kids, (size_t)n, sizeof *kids, key_cmp);
            for (i = 0; i < n; i++) {
                kids[i]->prev = i ? kids[i - 1] : kids[n - 1]; /* cJSON: head->prev is the tail */
                kids[i]->next = i + 1 < n ? kids[i + 1] : NULL;
            }
            node->child = kids[0];
            free(kids);
        }
    }
    for (cJSON *c = node->child; c; c = c->next)
        if (sort_keys(c) < 0)
            return -1;
    return 0;
}

char *biqa_json_canonical(const char *json, biqa_error *err)
{
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        biqa_fail(err, "invalid JSON near '%.20s'", at ? at : "");
        return NULL;
    }
    char *out = NULL;
    if (sort_keys(root) == 0)
        out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!out)
        biqa_fail(err, "out of memory printing JSON");
    return out;
}
