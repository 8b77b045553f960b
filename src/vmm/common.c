/*
 * vmm common: what both monitors share. The names of the monitor kinds,
 * building and freeing the argv arrays the *_argv builders return, and finding the
 * firecracker binary (an explicit path, else a search of PATH).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm_priv.h"

#define VMM_PATH_ENV_MAX 65536 /* longest PATH searched */

const char *vmm_kind_name(enum vmm_kind k) {
    switch (k) {
    case VMM_FIRECRACKER:
        return "firecracker";
    case VMM_QEMU:
        return "qemu";
    }
    return "unknown";
}

int vmm_kind_parse(const char *s, enum vmm_kind *ret) {
    if (!s)
        return -EINVAL;
    if (strcmp(s, "firecracker") == 0) {
        *ret = VMM_FIRECRACKER;
        return 0;
    }
    if (strcmp(s, "qemu") == 0) {
        *ret = VMM_QEMU;
        return 0;
    }
    return -EINVAL;
}

void vmm_argv_push(struct vmm_argv *a, char *s) {
    if (a->rc < 0 || !s) {
        if (!s)
            a->rc = -ENOMEM;
        free(s);
        return;
    }
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = xrealloc(a->v, cap * sizeof(*v));
        if (!v) {
            a->rc = -ENOMEM;
            free(s);
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void vmm_argv_add(struct vmm_argv *a, const char *s) {
    vmm_argv_push(a, xstrdup(s));
}

void vmm_argv_free(char **argv) {
    if (!argv)
        return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

/* True if path is a regular file this process may execute. */
static bool vmm_is_executable(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    return access(path, X_OK) == 0;
}

/* name in a directory of $PATH (an empty entry, the current directory, is not searched). */
static int path_find(const char *name, char **ret) {
    const char *path = getenv("PATH");
    if (!path || strlen(path) > VMM_PATH_ENV_MAX)
        return -ENOENT;
    for (const char *s = path;;) {
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (n > 0 && n < PATH_MAX) {
            char *cand = xasprintf("%.*s/%s", (int)n, s, name);
            if (!cand)
                return -ENOMEM;
            if (vmm_is_executable(cand)) {
                *ret = cand;
                return 0;
            }
            free(cand);
        }
        if (!colon)
            return -ENOENT;
        s = colon + 1;
    }
}

int vmm_firecracker_find(const char *explicit_path, char **ret, struct error *err) {
    if (explicit_path) {
        if (explicit_path[0] == '\0' || strlen(explicit_path) >= PATH_MAX)
            return error_set(err, -EINVAL, "invalid firecracker binary path");
        if (!vmm_is_executable(explicit_path))
            return error_set(err, -ENOENT,
                             "firecracker binary '%s' is not an executable file; check "
                             "--firecracker-bin",
                             explicit_path);
        char *p = xstrdup(explicit_path);
        if (!p)
            return error_oom(err);
        *ret = p;
        return 0;
    }
    if (path_find("firecracker", ret) == 0)
        return 0;
    return error_set(err, -ENOENT,
                     "firecracker not found on PATH; install it or pass "
                     "--firecracker-bin");
}

int vmm_passt_find(char **ret) {
    return path_find("passt", ret);
}
