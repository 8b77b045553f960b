/*
 * bench_vm_engine: the engine's own cost of creating and starting VMs, in
 * one process with one open engine (as the dashboard runs them), so that no
 * figure holds a hearth process's start. For each of COUNT VMs:
 * engine_vm_create, then engine_vm_start with the given Firecracker binary
 * (the fake: its configuration ends with InstanceStart, which start waits
 * for). The monitor is still its own process (`HEARTH_EXE __monitor`), as
 * in production. Prints one line per VM: "create_ms start_ms".
 *
 *   bench_vm_engine ROOT IMAGE KERNEL CMDLINE FIRECRACKER HEARTH_EXE COUNT
 *
 * The root must hold a pool, the image and the kernel (bench/vm.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A VM document as `hearth create` makes it from its flags. */
static struct api_object *vm_doc(const char *name, const char *image, const char *kernel,
                                 const char *cmdline) {
    struct api_object *o = api_object_new(API_KIND_VM);
    if (!o)
        return NULL;
    struct api_vm *vm = &o->u.vm;
    vm->image_claim = xcalloc(1, sizeof(*vm->image_claim));
    vm->kernel_claim = xcalloc(1, sizeof(*vm->kernel_claim));
    o->meta.name = xstrdup(name);
    vm->cmdline = xstrdup(cmdline);
    if (!vm->image_claim || !vm->kernel_claim || !o->meta.name || !vm->cmdline) {
        api_object_free(o);
        return NULL;
    }
    vm->image_claim->type = xstrdup("Docker");
    vm->image_claim->ref = xstrdup(image);
    vm->kernel_claim->type = xstrdup("Docker");
    vm->kernel_claim->ref = xstrdup(kernel);
    vm->memory = 128ull << 20;
    vm->disk_size = 1ull << 30;
    if (!vm->image_claim->type || !vm->image_claim->ref || !vm->kernel_claim->type ||
        !vm->kernel_claim->ref) {
        api_object_free(o);
        return NULL;
    }
    return o;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s ROOT IMAGE KERNEL CMDLINE FIRECRACKER HEARTH_EXE COUNT\n",
                argv[0]);
        return 2;
    }
    long count = strtol(argv[7], NULL, 10);
    struct error err;
    error_init(&err);
    engine *e = NULL;
    if (engine_open(argv[1], &e, &err) < 0) {
        fprintf(stderr, "engine_open: %s\n", err.msg);
        return 1;
    }
    struct engine_vm_start_opts so = {
        .vmm = "firecracker", .firecracker_bin = argv[5], .self_exe = argv[6]};
    int status = 0;
    for (long i = 1; i <= count && status == 0; i++) {
        char name[32];
        snprintf(name, sizeof(name), "engine-%ld", i);
        struct api_object *doc = vm_doc(name, argv[2], argv[3], argv[4]);
        if (!doc) {
            fprintf(stderr, "out of memory\n");
            status = 1;
            break;
        }
        struct engine_vm_create_opts co = {0};
        struct engine_vm_create_result cr;
        struct engine_vm_start_result sr;
        double t0 = now_ms();
        int r = engine_vm_create(e, doc, &co, &cr, &err);
        double t1 = now_ms();
        if (r == 0)
            r = engine_vm_start(e, cr.uid, &so, &sr, &err);
        double t2 = now_ms();
        api_object_free(doc);
        if (r < 0) {
            fprintf(stderr, "%s: %s\n", name, err.msg);
            status = 1;
            break;
        }
        printf("%.3f %.3f\n", t1 - t0, t2 - t1);
    }
    engine_free(e);
    return status;
}
