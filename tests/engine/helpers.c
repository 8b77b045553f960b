/* Helpers shared by the engine tests. */
#include "engine/engine_test.h"

#include "oci/oci.h"
#include "util/util.h"

void engine_test_reopen(const char *root, engine **eng) {
    engine_free(*eng);
    *eng = NULL;
    struct error err;
    error_init(&err);
    if (engine_open(root, eng, &err) < 0)
        fail_msg("engine_open: %s", err.msg);
}

void engine_test_rmtree(const char *dir) {
    struct error err;
    if (oci_rmtree(dir, &err) < 0)
        print_error("cleaning up: %s\n", err.msg);
}
