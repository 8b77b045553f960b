/*
 * The engine's handle and helpers shared by its source files. Internal to
 * src/engine (and its tests).
 */
#ifndef HEARTH_ENGINE_PRIV_H
#define HEARTH_ENGINE_PRIV_H

#include "api/api.h"
#include "store/store.h"

struct engine {
    char *root;   /* owned */
    store *store; /* owned */
};

/* "vm", "image", "kernel", "pool": the lowercase word messages use. */
const char *engine_kind_word(enum api_kind kind);

#endif
