/* The GPU probe of a CUDA build. cuDNN is looked up with dlopen so that a
 * machine without it still runs every CPU command and records its absence. */
extern "C" {
#include "kernels/gpu_info.h"
}

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void version_text(char *dst, size_t len, int v)
{
    snprintf(dst, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

static void probe_cudnn(char *dst, size_t len)
{
    static const char *names[] = {"libcudnn.so.9", "libcudnn.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *lib = dlopen(names[i], RTLD_LAZY | RTLD_LOCAL);
        if (!lib)
            continue;
        typedef size_t (*get_version_fn)(void);
        get_version_fn get_version = (get_version_fn)dlsym(lib, "cudnnGetVersion");
        if (get_version) {
            /* cuDNN 9 encodes major*10000 + minor*100 + patch. */
            size_t v = get_version();
            snprintf(dst, len, "%zu.%zu.%zu", v / 10000, (v % 10000) / 100, v % 100);
        }
        dlclose(lib);
        return;
    }
}

extern "C" void biqa_gpu_probe(biqa_gpu_info *out)
{
    memset(out, 0, sizeof *out);
    version_text(out->runtime, sizeof out->runtime, CUDART_VERSION);
    int v = 0;
    if (cudaDriverGetVersion(&v) == cudaSuccess && v > 0)
        version_text(out->driver, sizeof out->driver, v);
    cudaError_t rc = cudaGetDeviceCount(&out->count);
    if (rc != cudaSuccess || out->count == 0) {
        out->count = 0;
        snprintf(out->absent, sizeof out->absent, "no CUDA device: %s",
                 rc != cudaSuccess ? cudaGetErrorString(rc) : "none visible");
        return;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        snprintf(out->name, sizeof out->name, "%s", prop.name);
    probe_cudnn(out->cudnn, sizeof out->cudnn);
}
