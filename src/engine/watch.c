/*
 * engine watch: read-only views for front ends that watch the root: the
 * recent operations of the journal, and the database's data version, which
 * changes whenever another connection commits (the dashboard's refresh).
 */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

int engine_ops_recent(engine *e, size_t max_finished, struct store_op **ret, size_t *ret_n,
                      struct error *err) {
    return store_op_list_recent(e->store, max_finished, ret, ret_n, err);
}

int engine_data_version(engine *e, int64_t *ret, struct error *err) {
    int64_t v = 0;
    int r = store_data_version(e->store, &v);
    if (r < 0)
        return error_set(err, r, "reading the database's data version: %s", strerror(-r));
    *ret = v;
    return 0;
}
