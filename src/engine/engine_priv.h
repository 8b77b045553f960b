/*
 * The engine's handle and helpers shared by its source files. Internal to
 * src/engine (and its tests).
 */
#ifndef HEARTH_ENGINE_PRIV_H
#define HEARTH_ENGINE_PRIV_H

#include "api/api.h"
#include "store/store.h"

struct pool;

struct engine {
    char *root;            /* owned */
    store *store;          /* owned */
    struct pool *pool;     /* owned; NULL until opened (engine_pool_get) */
    bool pool_tried;       /* pool_open was attempted */
    struct error pool_err; /* why it failed, when pool is NULL after trying */
};

/*
 * Opening hook (pool.c): runs the cheap recovery query and, when a pool
 * exists, opens/assembles it. Problems are kept in e->pool_err, never
 * returned, so commands that don't need the pool keep working.
 */
void engine_pool_open_hook(engine *e);
/* Closing hook: releases the pool handle. */
void engine_pool_close_hook(engine *e);

/*
 * Apply of a Pool document (apply.c calls it with the defaulted object):
 * a spec is recorded only while no pool was created; status.devices must
 * be absent or equal to the device rows; when absent, obj gets the rows'
 * devices (so that storing it keeps them). -EINVAL/-EBUSY with a message.
 */
int engine_pool_apply_check(engine *e, struct api_object *obj, struct error *err) WUR;

/*
 * The pool handle, opened (and assembled) on demand; the error that
 * engine_open met opening it is returned again here. Owned by the engine.
 */
struct pool;
int engine_pool_get(engine *e, struct pool **ret, struct error *err) WUR;

/* Recovers one dead pool operation (pool.c); doctor uses it. */
int engine_pool_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;

/* "vm", "image", "kernel", "pool": the lowercase word messages use. */
const char *engine_kind_word(enum api_kind kind);

#endif
