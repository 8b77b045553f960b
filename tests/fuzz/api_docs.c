/*
 * Fuzz target: api_docs_parse, the in-memory reader of v1alpha1 documents
 * (JSON, YAML streams, `kind: List`) that `hearth apply -f` uses. An input
 * that decodes must round-trip: written as JSON and as YAML, each reads
 * back to the same objects (compared by writing them again), before and
 * after defaults; validation must not crash on what decoding accepted. An
 * input that does not decode gets a message.
 */
#include <errno.h>

#include "api/api.h"
#include "fuzz.h"

/* Writes objs in format, reads that back and checks the same text comes out. */
static void round_trip(struct api_object **objs, size_t n, enum api_format format) {
    _cleanup_strbuf_ struct strbuf first = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf second = STRBUF_INIT;
    struct api_object **back = NULL;
    size_t n_back = 0;
    struct error err;
    error_init(&err);
    fuzz_check(api_docs_write(objs, n, format, false, &first) == 0, "write");
    const char *text = first.len ? first.buf : "";
    int r = api_docs_parse(text, first.len, "written", &back, &n_back, &err);
    fuzz_check(r == 0, "what was written does not read back: %s\n%s", err.msg, text);
    fuzz_check(n_back == n, "%zu objects written, %zu read back:\n%s", n, n_back, text);
    fuzz_check(api_docs_write(back, n_back, format, false, &second) == 0, "write");
    const char *again = second.len ? second.buf : "";
    fuzz_check(strcmp(text, again) == 0, "written:\n%s\nread back and written again:\n%s", text,
               again);
    api_objects_free(back, n_back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    int r = api_docs_parse((const char *)data, size, "fuzz", &objs, &n, &err);
    if (r < 0) {
        fuzz_check(err.msg[0] != '\0', "error %d without a message", r);
        return 0;
    }
    round_trip(objs, n, API_FORMAT_JSON);
    round_trip(objs, n, API_FORMAT_YAML);
    for (size_t i = 0; i < n; i++) {
        fuzz_check(api_object_set_defaults(objs[i], "/var/lib/hearth") == 0, "defaults");
        error_init(&err);
        r = api_object_validate(objs[i], &err);
        fuzz_check(r == 0 || (r == -EINVAL && err.msg[0]), "validate returned %d", r);
    }
    round_trip(objs, n, API_FORMAT_JSON);
    round_trip(objs, n, API_FORMAT_YAML);
    api_objects_free(objs, n);
    return 0;
}
