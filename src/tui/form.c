/*
 * The run form behind `r`: a VM from the selected image, with a name, cpus,
 * memory, disk size and kernel. The form only edits strings and turns them
 * into a VM document; the loop hands that document to engine_vm_create.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui_priv.h"

#define FORM_CPUS_MAX 256

const char *tui_form_label(int field) {
    static const char *const labels[TUI_FORM_FIELDS] = {"Name", "CPUs", "Memory", "Disk size",
                                                        "Kernel"};
    return field >= 0 && field < TUI_FORM_FIELDS ? labels[field] : "?";
}

void tui_form_init(struct tui_form *f, const char *image, const char *kernel) {
    memset(f, 0, sizeof(*f));
    snprintf(f->image, sizeof(f->image), "%s", image ? image : "");
    snprintf(f->values[TUI_FORM_CPUS], TUI_FIELD_MAX, "1");
    snprintf(f->values[TUI_FORM_MEMORY], TUI_FIELD_MAX, "512MB");
    snprintf(f->values[TUI_FORM_SIZE], TUI_FIELD_MAX, "4GB");
    snprintf(f->values[TUI_FORM_KERNEL], TUI_FIELD_MAX, "%s", kernel ? kernel : "");
}

void tui_form_next(struct tui_form *f, int delta) {
    f->field = ((f->field + delta) % TUI_FORM_FIELDS + TUI_FORM_FIELDS) % TUI_FORM_FIELDS;
}

void tui_form_insert(struct tui_form *f, int ch) {
    char *v = f->values[f->field];
    size_t len = strlen(v);
    if (ch < 0x20 || ch > 0x7e || len + 1 >= TUI_FIELD_MAX)
        return;
    v[len] = (char)ch;
    v[len + 1] = '\0';
    f->error[0] = '\0';
}

void tui_form_backspace(struct tui_form *f) {
    size_t len = strlen(f->values[f->field]);
    if (len)
        f->values[f->field][len - 1] = '\0';
    f->error[0] = '\0';
}

static int claim_new(struct api_oci_claim **ret, const char *ref) {
    struct api_oci_claim *c = xcalloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->type = xstrdup("Docker");
    c->ref = xstrdup(ref);
    if (!c->type || !c->ref) {
        free(c->type);
        free(c->ref);
        free(c);
        return -ENOMEM;
    }
    *ret = c;
    return 0;
}

/* Records the problem with field in f->error and focuses it. */
static int form_fail(struct tui_form *f, int field, const char *what) {
    f->field = field;
    snprintf(f->error, sizeof(f->error), "%s: '%s' %s", tui_form_label(field), f->values[field],
             what);
    return -EINVAL;
}

int tui_form_build(struct tui_form *f, struct api_object **ret) {
    const char *name = f->values[TUI_FORM_NAME];
    if (*name && !api_name_is_valid(name))
        return form_fail(f, TUI_FORM_NAME, "is not a name (a-z, 0-9 and -, up to 63)");
    uint64_t cpus = 0, memory = 0, size = 0;
    if (parse_u64(f->values[TUI_FORM_CPUS], FORM_CPUS_MAX, &cpus) < 0 || cpus == 0)
        return form_fail(f, TUI_FORM_CPUS, "is not a number from 1 to 256");
    if (api_size_parse(f->values[TUI_FORM_MEMORY], &memory) < 0 || memory == 0)
        return form_fail(f, TUI_FORM_MEMORY, "is not a size (e.g. 512MB)");
    if (api_size_parse(f->values[TUI_FORM_SIZE], &size) < 0 || size == 0)
        return form_fail(f, TUI_FORM_SIZE, "is not a size (e.g. 4GB)");
    const char *kernel = f->values[TUI_FORM_KERNEL];
    if (*kernel && !api_ref_is_valid(kernel))
        return form_fail(f, TUI_FORM_KERNEL, "is not an image reference");
    if (!*f->image || !api_ref_is_valid(f->image)) {
        snprintf(f->error, sizeof(f->error), "'%s' is not an image reference", f->image);
        return -EINVAL;
    }

    _cleanup_object_ struct api_object *obj = api_object_new(API_KIND_VM);
    if (!obj)
        return -ENOMEM;
    struct api_vm *vm = &obj->u.vm;
    if (*name && !(obj->meta.name = xstrdup(name)))
        return -ENOMEM;
    if (claim_new(&vm->image_claim, f->image) < 0 ||
        (*kernel && claim_new(&vm->kernel_claim, kernel) < 0))
        return -ENOMEM;
    vm->cpus = cpus;
    vm->memory = memory;
    vm->disk_size = size;
    f->error[0] = '\0';
    *ret = steal_ptr(&obj);
    return 0;
}
