#include "results/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"

static void read_line(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(out, (int)len, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

void biqa_boot_id(char out[64]) { read_line("/proc/sys/kernel/random/boot_id", out, 64); }

void biqa_hostname(char out[256])
{
    if (gethostname(out, 255) < 0)
        strcpy(out, "unknown");
    out[255] = '\0';
}

int64_t biqa_process_start(int64_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* proc(5): the command name in field 2 is parenthesised and may contain
     * spaces, so count fields from the last ')'; starttime is field 22. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    return strtoll(p + 1, NULL, 10);
}

static void cpu_model(char out[256])
{
    char line[512];
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *v = strchr(line, ':');
                if (v) {
                    v += 1 + (v[1] == ' ');
                    v[strcspn(v, "\n")] = '\0';
                    snprintf(out, 200, "%s", v);
                }
                break;
            }
        }
        fclose(f);
    }
    if (!out[0])
        strcpy(out, "unknown CPU");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, " x%ld", n);
}

void biqa_provenance_collect(biqa_provenance *p)
{
    memset(p, 0, sizeof *p);
    p->git_commit = BIQA_GIT_COMMIT;
    p->git_dirty = BIQA_GIT_DIRTY;
    biqa_hostname(p->host);
    cpu_model(p->cpu);
    biqa_gpu_probe(&p->gpu);
    p->pid = (int64_t)getpid();
    biqa_boot_id(p->boot_id);
    p->proc_start = biqa_process_start(p->pid);
}
