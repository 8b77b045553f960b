/*
 * Fuzz target: a registry's WWW-Authenticate header (src/oci/registry.c),
 * taken from the header line as libcurl hands it over and parsed into the
 * scheme, realm and service that hearth answers with a token request. The
 * input is tried as a whole header line and as the challenge alone; and,
 * escaped as a quoted-string, as the realm of a Bearer challenge, which must
 * read back unchanged (cut at the realm's buffer).
 */
#include "fuzz.h"
#include "oci/pull_priv.h"

static void check_parsed(const struct oci_challenge *ch) {
    fuzz_check(ch->scheme == OCI_AUTH_UNKNOWN || ch->scheme == OCI_AUTH_BASIC ||
                   ch->scheme == OCI_AUTH_BEARER,
               "scheme %d", (int)ch->scheme);
    fuzz_check(memchr(ch->realm, '\0', sizeof(ch->realm)) &&
                   memchr(ch->service, '\0', sizeof(ch->service)),
               "unterminated realm or service");
    fuzz_check(ch->scheme == OCI_AUTH_BEARER || (!ch->realm[0] && !ch->service[0]),
               "a realm or service outside a Bearer challenge");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct oci_challenge ch;
    char *value = oci_header_value((const char *)data, size, "WWW-Authenticate");
    if (value) {
        oci_challenge_parse(value, &ch);
        check_parsed(&ch);
        free(value);
    }
    char *s = fuzz_cstr(data, size);
    oci_challenge_parse(s, &ch);
    check_parsed(&ch);

    /* s as a quoted realm: \ and " escaped. */
    size_t n = strlen(s);
    char *header = malloc(2 * n + 64), *p = header;
    fuzz_check(header, "out of memory");
    p += snprintf(p, 64, "Bearer service=\"fuzz\", realm=\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            *p++ = '\\';
        *p++ = s[i];
    }
    snprintf(p, 8, "\",x=y");
    oci_challenge_parse(header, &ch);
    check_parsed(&ch);
    fuzz_check(ch.scheme == OCI_AUTH_BEARER && strcmp(ch.service, "fuzz") == 0, "header %s",
               header);
    fuzz_check(strncmp(ch.realm, s, sizeof(ch.realm) - 1) == 0, "realm '%s' read as '%s'", s,
               ch.realm);
    free(header);
    free(s);
    return 0;
}
