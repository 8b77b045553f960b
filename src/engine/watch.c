/*
 * engine watch: for front ends that watch the root: the database's data
 * version, which changes whenever another connection commits (the
 * dashboard's refresh). The journal's recent operations are views.c's.
 */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

int engine_data_version(engine *e, int64_t *ret, struct error *err) {
    int64_t v = 0;
    int r = store_data_version(e->store, &v);
    if (r < 0)
        return error_set(err, r, "reading the database's data version: %s", strerror(-r));
    *ret = v;
    return 0;
}
