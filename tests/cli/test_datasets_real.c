/* biqa datasets list | info | fetch | verify | import, end to end, against
 * miniature, format-faithful copies of every dataset (real JPEG/PNG/BMP
 * images; CSV, MAT v5, xlsx and txt labels; tgz/tar/zip archives) that
 * tests/tools/make_mini_datasets.py builds from the real manifests and that
 * a loopback HTTP server (tests/tools/fault_server.py) serves. The expected
 * index rows (MOS normalised in Python from the raw label values) and every
 * SHA-256 (hashlib) are checked by the same script's `check` mode; the real
 * manifests against the facts table of the datasets notes. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "tests/cli/run.h"

typedef struct env {
    char dir[64];    /* out/ (the miniatures, www/ served), root*, db, port, log */
    char out[96];
    char url[96];
    char mini[512];  /* python3 make_mini_datasets.py */
    pid_t pid;
} env;

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void env_start(env *e)
{
    const char *src = getenv("BIQA_SRC"), *py = getenv("BIQA_PYTHON");
    cr_assert(src && py, "BIQA_SRC and BIQA_PYTHON must be set (make test)");
    cli_tmpdir(e->dir);
    snprintf(e->out, sizeof e->out, "%s/out", e->dir);
    char www[128], port[128], log[128], script[512], errf[128];
    snprintf(www, sizeof www, "%s/www", e->out);
    cr_assert_eq(biqa_mkdir_p(www, NULL), 0);
    snprintf(port, sizeof port, "%s/port", e->dir);
    snprintf(log, sizeof log, "%s/log", e->dir);
    snprintf(errf, sizeof errf, "%s/server.err", e->dir);
    snprintf(script, sizeof script, "%s/tests/tools/fault_server.py", src);
    e->pid = fork();
    cr_assert_geq(e->pid, 0);
    if (e->pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen(errf, "w", stderr))
            _exit(127);
        execl(py, py, script, www, port, log, "--lifetime", "120", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !exists(port); i++)
        usleep(50000);
    cr_assert(exists(port), "the fault server did not start (see %s)", errf);
    char *text;
    size_t len;
    cr_assert_eq(biqa_read_file(port, &text, &len, NULL), 0);
    snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", atoi(text));
    free(text);
    snprintf(e->mini, sizeof e->mini, "%s %s/tests/tools/make_mini_datasets.py", py, src);
    cli_result r;
    cli_run(&r, "%s %s %s", e->mini, e->out, e->url);
    cr_assert_eq(r.status, 0, "make_mini_datasets.py: %s%s", r.out, r.err);
    cli_result_free(&r);
}

static void env_stop(env *e)
{
    kill(e->pid, SIGTERM);
    waitpid(e->pid, NULL, 0);
    cli_rmdir(e->dir);
}

/* Runs `biqa --root DIR/<root> --db DIR/db ARGS`. */
#define BIQA(r, dir, root, fmt, ...) \
    cli_run(r, "$BIQA --root %s/" root " --db %s/db " fmt, dir, dir, ##__VA_ARGS__)

/* The state `datasets list --json` gives name ("" when not listed). */
static void listed_state(const char *json, const char *name, char out[32])
{
    cJSON *a = cJSON_Parse(json);
    cr_assert(cJSON_IsArray(a), "list --json: %s", json);
    out[0] = '\0';
    const cJSON *o;
    cJSON_ArrayForEach(o, a)
    {
        if (!strcmp(cJSON_GetObjectItem(o, "name")->valuestring, name))
            snprintf(out, 32, "%s", cJSON_GetObjectItem(o, "state")->valuestring);
    }
    cJSON_Delete(a);
}

/* The check mode of the generator: index rows and every digest. */
static void check_dataset(const env *e, const char *name, const char *source, const char *root)
{
    cli_result r;
    cli_run(&r, "%s check %s %s %s %s/%s/mini-%s", e->mini, e->out, name, source, e->dir, root,
            name);
    cr_assert_eq(r.status, 0, "%s (%s): %s%s", name, source, r.out, r.err);
    cli_result_free(&r);
}

static const char *const fetched[] = {"koniq10k", "spaq",    "livec",   "flive", "kadid10k",
                                      "live",     "csiq",    "tid2013", "pipal", NULL};

/* Every dataset's first source, fetched; three second sources (unknown
 * digests pinned; MAT v5 labels; the official KADID zip) fetched; five
 * manual or RAR sources imported from folders (xlsx and txt labels). */
Test(datasets_real, every_dataset_fetches_parses_verifies_and_registers, .timeout = 240)
{
    env e;
    env_start(&e);
    cli_result r;
    for (const char *const *n = fetched; *n; n++) {
        BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-%s.json", e.out, *n);
        cr_assert_eq(r.status, 0, "fetch %s: %s", *n, r.err);
        cr_assert(strstr(r.out, "fetched from source pyiqa"), "%s", r.out);
        cli_result_free(&r);
        check_dataset(&e, *n, "pyiqa", "root");
    }
    /* Fine-tuning on a fetched dataset's official split: the split's hash is
     * the SHA-256 Python computes of the sorted "name\tpart" lines of the
     * official_split column (train, val, test kept as they are). */
    BIQA(&r, e.dir, "root", "-q finetune --data %s/root/mini-koniq10k --profile test "
                            "--set splits.source=official", e.dir);
    cr_assert_eq(r.status, 0, "finetune on the official split: %s", r.err);
    cli_result_free(&r);
    cli_run(&r, "%s -c \"import csv, hashlib, sqlite3; "
                "rows = list(csv.DictReader(open('%s/root/mini-koniq10k/meta_info/"
                "meta_info_KonIQ10kDataset.csv'))); "
                "text = ''.join(sorted(r['name'] + chr(9) + r['official_split'] + chr(10) "
                "for r in rows)); "
                "got = sqlite3.connect('%s/db').execute(\\\"SELECT split_hash FROM runs WHERE "
                "kind = 'finetune' AND split_id = 'official' AND status = 'finished'\\\")"
                ".fetchall(); "
                "assert got == [(hashlib.sha256(text.encode()).hexdigest(),)], got\"",
            getenv("BIQA_PYTHON"), e.dir, e.dir);
    cr_assert_eq(r.status, 0, "official split hash: %s%s", r.out, r.err);
    cli_result_free(&r);
    /* A dataset without an official split says so in one line. */
    BIQA(&r, e.dir, "root", "-q finetune --data %s/root/mini-spaq --profile test "
                            "--set splits.source=official", e.dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "has no official split"), "%s", r.err);
    cli_result_free(&r);
    static const char *const second[] = {"koniq10k", "livec", "kadid10k", NULL};
    for (const char *const *n = second; *n; n++) {
        BIQA(&r, e.dir, "root2", "datasets fetch --manifest %s/mini-%s.json --source official",
             e.out, *n);
        cr_assert_eq(r.status, 0, "fetch %s --source official: %s", *n, r.err);
        cli_result_free(&r);
        check_dataset(&e, *n, "official", "root2");
    }
    static const char *const imported[] = {"bid", "spaq", "csiq", "tid2013", "pipal", NULL};
    for (const char *const *n = imported; *n; n++) {
        BIQA(&r, e.dir, "root3",
             "datasets import --manifest %s/mini-%s.json --from %s/import/%s-official", e.out,
             *n, e.out, *n);
        cr_assert_eq(r.status, 0, "import %s: %s", *n, r.err);
        cr_assert(strstr(r.out, "hard-linked"), "%s", r.out);
        cli_result_free(&r);
        check_dataset(&e, *n, "official", "root3");
    }
    /* list finds the fetched datasets by the manifests they recorded. */
    BIQA(&r, e.dir, "root", "datasets list --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    for (const char *const *n = fetched; *n; n++) {
        char name[64], state[32];
        snprintf(name, sizeof name, "mini-%s", *n);
        listed_state(r.out, name, state);
        cr_assert_str_eq(state, "verified", "%s in: %s", name, r.out);
    }
    cli_result_free(&r);
    /* Each is a row of the results store's datasets table. */
    BIQA(&r, e.dir, "root", "query \"SELECT count(*) AS n FROM datasets WHERE state = 'verified'"
                            " AND index_sha256 IS NOT NULL\" --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"n\":\t17"), "9 fetched + 3 second sources + 5 imports: %s", r.out);
    cli_result_free(&r);
    env_stop(&e);
}

/* absent -> partial (a fetch killed mid-body; a second fetch meanwhile is
 * refused by the lock) -> verified (resumed with a Range request) ->
 * corrupt (one flipped byte, named by verify) -> verified (fetch again). */
Test(datasets_real, states_through_a_killed_fetch_a_lock_and_a_flipped_byte, .timeout = 120)
{
    env e;
    env_start(&e);
    char slow[160];
    snprintf(slow, sizeof slow, "%s/slow.json", e.dir);
    cli_result r;
    /* The same manifest with the first archive trickled at 2 kB/s. */
    cli_run(&r, "sed 's|live--live.tgz\"|live--live.tgz?trickle=2000\"|' %s/mini-live.json > %s",
            e.out, slow);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets list --manifest %s/mini-live.json", e.out);
    cr_assert(strstr(r.out, "mini-live") && strstr(strstr(r.out, "mini-live"), "absent"), "%s",
              r.out);
    cli_result_free(&r);
    cli_run(&r,
            "$BIQA --root %s/root --db %s/db datasets fetch --manifest %s > %s/slow.out 2>&1 & "
            "pid=$!; for i in $(seq 100); do ls %s/root/.biqa/mini-live/downloads/*.part "
            ">/dev/null 2>&1 && break; sleep 0.05; done; "
            "$BIQA --root %s/root --db %s/db datasets fetch --manifest %s/mini-live.json; "
            "echo second=$?; kill -9 $pid; wait $pid; "
            "$BIQA --root %s/root datasets list --manifest %s/mini-live.json",
            e.dir, e.dir, slow, e.dir, e.dir, e.dir, e.dir, e.out, e.dir, e.out);
    cr_assert(strstr(r.out, "second=1"), "a fetch while another holds the lock: %s%s", r.out,
              r.err);
    cr_assert(strstr(r.err, "mini-live: another biqa is fetching") && strstr(r.err, "pid"),
              "%s", r.err);
    const char *row = strstr(r.out, "mini-live ");
    cr_assert(row && strstr(row, "partial") && strstr(row, ".part"), "%s", r.out);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-live.json", e.out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "grep -c '\"path\": \"/live--live.tgz\", \"query\": \"\", "
                "\"range\": \"bytes=' %s/log", e.dir);
    cr_assert_eq(r.status, 0, "the resumed fetch sent no Range request");
    cli_result_free(&r);
    check_dataset(&e, "live", "pyiqa", "root");
    /* A fetched dataset is found by name, without --manifest. */
    BIQA(&r, e.dir, "root", "datasets verify mini-live");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets info mini-live");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "licence:    Released by LIVE"), "%s", r.out);
    cr_assert(strstr(r.out, "1. pyiqa") && strstr(r.out, "live.tgz") &&
                  strstr(r.out, "labels: pyiqa-csv"), "%s", r.out);
    cr_assert(strstr(r.out, "state:      verified"), "%s", r.out);
    cli_result_free(&r);
    /* One flipped bit in one extracted image. */
    char img[256];
    snprintf(img, sizeof img, "%s/root/mini-live/LIVEIQA_release2/jpeg/img3.bmp", e.dir);
    char *data;
    size_t len;
    cr_assert_eq(biqa_read_file(img, &data, &len, NULL), 0);
    data[len / 2] ^= 0x01;
    cr_assert_eq(biqa_write_file_atomic(img, data, len, NULL), 0);
    free(data);
    BIQA(&r, e.dir, "root", "datasets verify mini-live");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.err, "mini-live: corrupt") && strstr(r.err, "jpeg/img3.bmp") &&
                  strstr(r.err, "1 changed"), "%s", r.err);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets list");
    row = strstr(r.out, "mini-live ");
    cr_assert(row && strstr(row, "corrupt") && strstr(row, "jpeg/img3.bmp"), "%s", r.out);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root",
         "query \"SELECT state FROM datasets WHERE name = 'mini-live'\" --json");
    cr_assert(strstr(r.out, "\"corrupt\""), "%s", r.out);
    cli_result_free(&r);
    /* fetch repairs it from the verified downloads, offline. */
    BIQA(&r, e.dir, "root", "datasets fetch mini-live --offline");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets verify mini-live");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    env_stop(&e);
}

/* A wrong digest, a labelled image missing from the archive, --offline with
 * nothing downloaded: one clear error each, and nothing registered. */
Test(datasets_real, failures_register_nothing, .timeout = 120)
{
    env e;
    env_start(&e);
    cli_result r;
    /* One dataset fetched first, so the results store exists. */
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-spaq.json", e.out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    /* The manifest's digest of live.tgz with its first hex digit changed. */
    cli_run(&r, "%s -c \"import json; m = json.load(open('%s/mini-live.json')); "
                "f = m['sources'][0]['files'][0]; "
                "f['sha256'] = ('0' if f['sha256'][0] != '0' else '1') + f['sha256'][1:]; "
                "json.dump(m, open('%s/bad.json', 'w'))\"",
            getenv("BIQA_PYTHON"), e.out, e.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/bad.json", e.dir);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.err, "live.tgz") && strstr(r.err, "SHA-256") && strstr(r.err, "expected"),
              "%s", r.err);
    cli_result_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/root/mini-live", e.dir);
    cr_assert(!exists(path), "a dataset with a wrong digest was registered");
    snprintf(path, sizeof path, "%s/root/.biqa/mini-live/downloads/live.tgz", e.dir);
    cr_assert(!exists(path), "a file with a wrong digest was kept");

    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-koniq10k-missing.json",
         e.out);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.err, "1 labelled image(s)") && strstr(r.err, "100117038.jpg"), "%s",
              r.err);
    cli_result_free(&r);
    snprintf(path, sizeof path, "%s/root/mini-koniq10k-missing", e.dir);
    cr_assert(!exists(path));

    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-flive.json --offline",
         e.out);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert_eq(cli_count_lines(r.err), 1, "one error line, not: %s", r.err);
    cr_assert(strstr(r.err, "--offline") && strstr(r.err, "flive.tgz"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "grep -c flive %s/log", e.dir);
    cr_assert(strncmp(r.out, "0", 1) == 0, "--offline reached the server: %s", r.out);
    cli_result_free(&r);

    /* A folder of the user's own under the dataset's name is never replaced. */
    snprintf(path, sizeof path, "%s/root/mini-pipal", e.dir);
    cr_assert_eq(biqa_mkdir_p(path, NULL), 0);
    snprintf(path, sizeof path, "%s/root/mini-pipal/mine.txt", e.dir);
    cr_assert_eq(biqa_write_file_atomic(path, "mine\n", 5, NULL), 0);
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-pipal.json", e.out);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.err, "mini-pipal exists and was not made by biqa"), "%s", r.err);
    cli_result_free(&r);
    cr_assert(exists(path), "the user's folder was touched");

    BIQA(&r, e.dir, "root",
         "datasets list --json --manifest %s/mini-live.json --manifest "
         "%s/mini-koniq10k-missing.json --manifest %s/mini-flive.json",
         e.out, e.out, e.out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const failed[] = {"mini-live", "mini-koniq10k-missing", "mini-flive"};
    for (int i = 0; i < 3; i++) {
        char state[32];
        listed_state(r.out, failed[i], state);
        cr_assert(!strcmp(state, "absent") || !strcmp(state, "partial"), "%s: %s", failed[i],
                  state);
    }
    cli_result_free(&r);
    BIQA(&r, e.dir, "root",
         "query \"SELECT count(*) AS n FROM datasets WHERE name != 'mini-spaq'\" --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"n\":\t0"), "%s", r.out);
    cli_result_free(&r);
    env_stop(&e);
}

/* A digest the manifest does not know is pinned at the first download;
 * a later download that differs is refused. */
Test(datasets_real, unknown_digest_is_pinned_then_enforced, .timeout = 120)
{
    env e;
    env_start(&e);
    cli_result r;
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-koniq10k.json --source official",
         e.out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "pinned") && strstr(r.out, "koniq10k_distributions_sets.csv sha256"),
              "%s", r.out);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets info mini-koniq10k");
    cr_assert(strstr(r.out, "(pinned at its first download)"), "%s", r.out);
    cli_result_free(&r);
    /* The server's copy changes (same size); the dataset and its downloads are gone. */
    cli_run(&r, "sed -i 's/training/trainint/' "
                "%s/www/koniq10k--koniq10k_distributions_sets.csv && "
                "rm -rf %s/root/mini-koniq10k %s/root/.biqa/mini-koniq10k/downloads",
            e.out, e.dir, e.dir);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-koniq10k.json --source official",
         e.out);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.err, "koniq10k_distributions_sets.csv") && strstr(r.err, "SHA-256"), "%s",
              r.err);
    cli_result_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/root/mini-koniq10k", e.dir);
    cr_assert(!exists(path));
    env_stop(&e);
}

/* ImageNet is never downloaded: the folder is linked, counted, hashed. */
Test(datasets_real, local_imagenet_is_linked_counted_and_verified, .timeout = 120)
{
    env e;
    env_start(&e);
    cli_result r;
    BIQA(&r, e.dir, "root", "datasets fetch --manifest %s/mini-imagenet.json", e.out);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "never downloads it") && strstr(r.err, "import"), "%s", r.err);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root", "datasets import --manifest %s/mini-imagenet.json --from "
                            "%s/import/imagenet-train", e.out, e.out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "6 images, 7 files"), "%s", r.out);
    cli_result_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/root/mini-imagenet/train/n01443537/n01443537_11.JPEG", e.dir);
    cr_assert(exists(path));
    BIQA(&r, e.dir, "root", "datasets verify mini-imagenet");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    /* A class folder too many. */
    cli_run(&r, "mkdir %s/import/imagenet-train/n99999999 && cp %s %s/import/imagenet-train/"
                "n99999999/x.JPEG",
            e.out, path, e.out);
    cli_result_free(&r);
    BIQA(&r, e.dir, "root2", "datasets import --manifest %s/mini-imagenet.json --from "
                             "%s/import/imagenet-train", e.out, e.out);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "4 class folders") && strstr(r.err, "expects 3"), "%s", r.err);
    cli_result_free(&r);
    env_stop(&e);
}

/* ---- the real manifests ------------------------------------------------------ */

/* The facts table of the datasets notes (the IQA-PyTorch mirror's files:
 * size and the SHA-256 of their Git LFS oids), copied, never computed. */
static const struct fact {
    const char *dataset, *file;
    double bytes;
    const char *sha256;
} facts[] = {
    {"koniq10k", "koniq10k.tgz", 6348641188.0,
     "18f4b664fed41ffdf37dd5cae6921901d86afddd952fdfa3d77eda25cc48370b"},
    {"spaq", "spaq.tgz", 34841101349.0,
     "54e0cb49dc8359f9293e746d452d8b12ec653056c9b12a4f97798a984c7418f7"},
    {"livec", "live_challenge.tgz", 325992044.0,
     "cdd7a6227de40df10cfd5daf8d19894e95200fa0ca5655bbe50fd433d3b31f25"},
    {"kadid10k", "kadid10k.tgz", 3069431805.0,
     "841396f9237e68c8e6614d5dc907a8fd83d4f403cce89ee2c14524406405b14a"},
    {"flive", "flive.tgz", 5414976833.0,
     "85d257ebb00b99ff998e6aa4276be5cbd4762699874f57bcbf3261e441961696"},
    {"live", "live.tgz", 721190291.0,
     "0c23e0ba0d503dd7bfc3d5588fc3e94672e381759881e497c41ca814aa4d9d8f"},
    {"csiq", "csiq.tgz", 379062485.0,
     "e34c372c98e751c5490dadeb536e37666296b6c4f651df30cc04c0547ffee5b0"},
    {"tid2013", "tid2013.tgz", 1227227546.0,
     "ac92094b1469ec0dff181a553b8c84302606ba99f81e38652532cadac886d735"},
    {"pipal", "pipal.tar", 5843353600.0,
     "6bcb713ba0f9ad9ff6c11fc4c680ec88e633a674d16dc9d0700786d24b40f6b4"},
    {"*", "meta_info.tgz", 17058316.0,
     "401e82f9dbe67d181c649912a1307284dfd859687081b3fa717afe347081e992"},
    /* The official KADID-10k archive ([unchecked] in the notes). */
    {"kadid10k", "kadid10k.zip", 3067408471.0,
     "fe59ace86a2525d5785ff011a2119fa88839e0329f5029f7b23994727efd185c"},
};

static const struct fact *fact_of(const char *dataset, const char *file)
{
    for (size_t i = 0; i < sizeof facts / sizeof *facts; i++)
        if ((!strcmp(facts[i].dataset, dataset) || !strcmp(facts[i].dataset, "*")) &&
            !strcmp(facts[i].file, file))
            return &facts[i];
    return NULL;
}

Test(datasets_real, real_manifests_are_valid_and_hold_the_published_facts, .timeout = 60)
{
    static const char *const names[] = {"bid",  "csiq",  "flive", "imagenet", "kadid10k",
                                        "koniq10k", "live", "livec", "pipal", "spaq",
                                        "synthetic", "tid2013", NULL};
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    int checked = 0, unknown = 0;
    for (const char *const *n = names; *n; n++) {
        cli_run(&r, "$BIQA --root %s datasets info %s --json", dir, *n);
        cr_assert_eq(r.status, 0, "%s: %s", *n, r.err);
        cJSON *o = cJSON_Parse(r.out);
        cr_assert_not_null(o, "%s", r.out);
        const cJSON *m = cJSON_GetObjectItem(o, "manifest");
        cr_assert_str_eq(cJSON_GetObjectItem(m, "name")->valuestring, *n);
        cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "builtin")));
        cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "local"), "state")->valuestring,
                         "absent");
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(m, "sources"))
        {
            const cJSON *f;
            cJSON_ArrayForEach(f, cJSON_GetObjectItem(s, "files"))
            {
                const char *file = cJSON_GetObjectItem(f, "file")->valuestring;
                const cJSON *sha = cJSON_GetObjectItem(f, "sha256"),
                            *bytes = cJSON_GetObjectItem(f, "bytes");
                const struct fact *k = fact_of(*n, file);
                if (k) {
                    cr_assert_str_eq(sha->valuestring, k->sha256, "%s %s", *n, file);
                    cr_assert(cJSON_IsNumber(bytes) && bytes->valuedouble == k->bytes, "%s %s",
                              *n, file);
                    checked++;
                } else {
                    cr_assert_str_eq(sha->valuestring, "unknown", "%s %s: no published digest",
                                     *n, file);
                    unknown++;
                }
            }
        }
        if (!strcmp(*n, "tid2013"))
            cr_assert(strstr(r.out, "2c42bec2407adc49cf4d7858daf8f99b"), "TID2013's MD5");
        cJSON_Delete(o);
        cli_result_free(&r);
    }
    /* 9 archives + 9 meta_info.tgz + KADID's zip; KonIQ's 3, LIVEC's zip, TID's rar unknown. */
    cr_assert_eq(checked, 19);
    cr_assert_eq(unknown, 5);
    cli_run(&r, "$BIQA --root %s datasets list --json", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    for (const char *const *n = names; *n; n++) {
        char want[64];
        snprintf(want, sizeof want, "\"name\":\t\"%s\"", *n);
        cr_assert(strstr(r.out, want), "list lacks %s", *n);
    }
    cli_result_free(&r);
    /* The binary carries exactly the manifests in the tree. */
    for (const char *const *n = names; *n; n++) {
        cli_run(&r, "$BIQA datasets info %s --json | grep -o '\"manifest_sha256\":[^,]*' | "
                    "grep -c $(sha256sum %s/datasets/manifests/%s.json | cut -c1-64)",
                *n, getenv("BIQA_SRC"), *n);
        cr_assert_eq(r.status, 0, "the built-in %s.json differs from the file", *n);
        cli_result_free(&r);
    }
    cli_rmdir(dir);
}

/* A manifest error names the file and the field. */
Test(datasets_real, a_bad_manifest_names_file_and_field)
{
    static const struct {
        const char *from, *to, *message;
    } cases[] = {
        {"\"sha256\": \"cdd7", "\"sha256\": \"cdd", "sources[0].files[0].sha256: not 64"},
        {"\"licence\"", "\"licnce\"", ": licnce: unknown field"},
        {"\"format\": \"tgz\"", "\"format\": \"tbz\"", "sources[0].files[0].format: 'tbz'"},
        {"\"parser\": \"pyiqa-csv\"", "\"parser\": \"nope\"",
         "sources[0].labels.parser: unknown parser"},
        {"\"image_dir\": \"LIVEC\"", "\"image_dir\": \"../LIVEC\"",
         "sources[0].labels.image_dir: '../LIVEC'"},
        {"\"bytes\": 325992044", "\"bytes\": -1",
         "sources[0].files[0].bytes: -1 is not an integer"},
        {"\"images\": 1162", "\"images\": 1162.5", "images: 1162.5 is not an integer"},
    };
    char dir[64], path[128];
    cli_tmpdir(dir);
    snprintf(path, sizeof path, "%s/bad.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cli_result r;
        cli_run(&r, "sed 's|%s|%s|' %s/datasets/manifests/livec.json > %s && "
                    "$BIQA datasets info --manifest %s",
                cases[i].from, cases[i].to, getenv("BIQA_SRC"), path, path);
        cr_assert_eq(r.status, 1, "case %zu: %s", i, r.out);
        cr_assert(strstr(r.err, "bad.json: ") && strstr(r.err, cases[i].message),
                  "case %zu: want '%s' in: %s", i, cases[i].message, r.err);
        cr_assert_eq(cli_count_lines(r.err), 1, "%s", r.err);
        cli_result_free(&r);
    }
    cli_rmdir(dir);
}
