/*
 * Fuzz target: image references and sources (src/oci/ref.c), as users type
 * them after `image import`, `create` and in documents. A reference that
 * parses normalises to a string that parses back to itself, and that is a
 * valid Image or Kernel name (api_ref_is_valid) unless its registry is an
 * IPv6 address, which names do not take; its familiar short form names the
 * same image. A source that parses has a path or a reference.
 */
#include <errno.h>

#include "api/api.h"
#include "fuzz.h"
#include "oci/oci.h"

/* Parses s, which must succeed, and returns its normalised string. Caller frees. */
static char *normalised(const char *s, const char *what) {
    struct oci_ref ref;
    struct error err;
    error_init(&err);
    int r = oci_ref_parse(s, &ref, &err);
    fuzz_check(r == 0, "%s '%s' does not parse: %s", what, s, err.msg);
    char *n = oci_ref_string(&ref);
    fuzz_check(n, "oci_ref_string");
    oci_ref_release(&ref);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    struct oci_ref ref;
    struct error err;
    error_init(&err);
    int r = oci_ref_parse(s, &ref, &err);
    fuzz_check(r == 0 || (r == -EINVAL && err.msg[0]), "oci_ref_parse returned %d", r);
    if (r == 0) {
        fuzz_check(ref.domain && ref.path && (ref.tag || ref.digest), "incomplete reference");
        fuzz_check(oci_ref_registry_host(&ref) != NULL, "no registry host");
        char *full = oci_ref_string(&ref), *familiar = oci_ref_familiar(&ref);
        fuzz_check(full && familiar, "out of memory");
        char *again = normalised(full, "normalised reference");
        fuzz_check(strcmp(full, again) == 0, "'%s' normalises to '%s', which normalises to '%s'", s,
                   full, again);
        /* Image names do not take IPv6 registry addresses (import says so). */
        fuzz_check(ref.domain[0] == '[' || api_ref_is_valid(full),
                   "'%s' normalises to '%s', not a valid image name", s, full);
        char *from_familiar = normalised(familiar, "familiar form");
        fuzz_check(strcmp(full, from_familiar) == 0, "'%s' is '%s'; its familiar form '%s' is '%s'",
                   s, full, familiar, from_familiar);
        free(from_familiar);
        free(again);
        free(full);
        free(familiar);
        oci_ref_release(&ref);
    }
    struct oci_source src;
    error_init(&err);
    r = oci_source_parse(s, &src, &err);
    fuzz_check(r == 0 || err.msg[0], "oci_source_parse returned %d without a message", r);
    if (r == 0) {
        fuzz_check(src.kind == OCI_SOURCE_REGISTRY ? src.ref.path != NULL : src.path != NULL,
                   "source '%s' has nothing to read", s);
        oci_source_release(&src);
    }
    free(s);
    return 0;
}
