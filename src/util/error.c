/*
 * Errors: a negative errno plus one message, set where a failure is found and
 * printed once at the edge. error_prefix adds context on the way up
 * ("vm.yaml: document 2: spec.memory: ...").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

void error_init(struct error *err) {
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

void error_record(struct error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
}

int error_prefix(struct error *err, const char *fmt, ...) {
    if (!err)
        return 0;
    char prefix[ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);

    /* Build "prefix: old" in place: move the old text right, then copy the prefix in. */
    size_t plen = strlen(prefix);
    size_t olen = strlen(err->msg);
    if (plen + 2 >= sizeof(err->msg))
        plen = sizeof(err->msg) - 3;
    if (plen + 2 + olen >= sizeof(err->msg))
        olen = sizeof(err->msg) - 1 - plen - 2;
    memmove(err->msg + plen + 2, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + olen] = '\0';
    return err->code;
}
