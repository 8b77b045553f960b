/*
 * Fuzz target: fcfake's judge (tests/vmm/fake/check.c), which stands in for
 * Firecracker in hearth's tests and so must itself hold up against any
 * request. The input is one or more HTTP requests, back to back, as a
 * client writes them on the API socket (at most 16); each is parsed and
 * judged against Firecracker's OpenAPI spec and the order of what came
 * before. The spec is $HEARTH_FC_SPEC, else the one beside the checkout
 * that the build names (FCFAKE_SPEC). What the judge accepted must keep
 * Firecracker's order: no instance started without a boot source.
 */
#include <errno.h>

#include "fuzz.h"
#include "vmm/fake/fcfake.h"

#define REQUESTS_MAX 16

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The fake, with the spec loaded once for every run. */
static struct fake fake;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *spec = getenv("HEARTH_FC_SPEC");
    struct error err;
    error_init(&err);
    if (fake_init(&fake, spec && *spec ? spec : FCFAKE_SPEC, &err) < 0) {
        fprintf(stderr, "fuzz_fcfake: %s\n", err.msg);
        exit(1);
    }
    fake.log = stderr;
    fake.no_taps = true; /* random names must not become taps of this host */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    fake_reset(&fake);
    for (int i = 0; i < REQUESTS_MAX && p < end && !fake.exit_after; i++) {
        size_t left = (size_t)(end - p);
        const char *blank = memmem(p, left < FAKE_HEAD_MAX ? left : FAKE_HEAD_MAX, "\r\n\r\n", 4);
        if (!blank)
            break;
        char *head = fuzz_cstr((const uint8_t *)p, (size_t)(blank - p));
        p = blank + 4;
        struct req rq = {.body = STRBUF_INIT};
        uint64_t clen = 0;
        bool expect = false;
        int r = fake_parse_head(head, &rq, &clen, &expect);
        free(head);
        fuzz_check(r == 0 || r == -EPROTO || r == -EFBIG, "fake_parse_head returned %d", r);
        if (r < 0)
            break;
        fuzz_check(clen <= FAKE_BODY_MAX, "body of %llu bytes", (unsigned long long)clen);
        size_t body = (size_t)(end - p) < clen ? (size_t)(end - p) : (size_t)clen;
        fuzz_check(strbuf_add(&rq.body, p, body) == 0, "out of memory");
        p += body;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        struct error err;
        error_init(&err);
        r = fake_handle(&fake, &rq, &out, &err);
        fuzz_check(r == 0 || err.msg[0], "fake_handle returned %d without a message", r);
        fuzz_check(!fake.started || fake.boot_source, "started without a boot source");
        strbuf_release(&rq.body);
    }
    return 0;
}
