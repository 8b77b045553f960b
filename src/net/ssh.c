/*
 * net ssh: what the SSH client needs that is not a connection: host key
 * fingerprints as OpenSSH prints them, and a command line joined for the
 * remote shell as Ignite joins it.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "net/net.h"

#define SSH_KEY_BLOB_MAX 16384 /* base64 characters of a public key: ed25519's are 68 */

int net_ssh_fingerprint(const char *key, char ret[NET_SSH_FINGERPRINT_MAX], struct error *err) {
    /* "TYPE BASE64 [COMMENT]" (a .pub line), or BASE64 alone */
    const char *b64 = key, *sp = strchr(key, ' ');
    if (sp)
        b64 = sp + 1;
    size_t n = strcspn(b64, " \t\r\n");
    if (n == 0 || n % 4 != 0 || n > SSH_KEY_BLOB_MAX)
        return error_set(err, -EINVAL, "'%.40s' is not an ssh public key", key);
    _cleanup_free_ unsigned char *blob = malloc(n / 4 * 3 + 1);
    _cleanup_free_ char *in = strndup(b64, n);
    if (!blob || !in)
        return error_oom(err);
    int m = EVP_DecodeBlock(blob, (const unsigned char *)in, (int)n);
    if (m < 0)
        return error_set(err, -EINVAL, "'%.40s' is not an ssh public key (bad base64)", key);
    m -= (in[n - 1] == '=') + (in[n - 2] == '=');
    if (m < 4)
        return error_set(err, -EINVAL, "'%.40s' is not an ssh public key", key);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(blob, (size_t)m, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return error_set(err, -EIO, "cannot compute a sha256 digest");
    unsigned char out[48];
    int k = EVP_EncodeBlock(out, md, 32); /* 44 characters, the last one '=' */
    while (k > 0 && out[k - 1] == '=')
        k--;
    snprintf(ret, NET_SSH_FINGERPRINT_MAX, "SHA256:%.*s", k, (const char *)out);
    return 0;
}

/* Whether s needs quoting: empty, or a character outside [A-Za-z0-9_@%+=:,./-]. */
static bool needs_quote(const char *s) {
    if (!*s)
        return true;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_@%+=:,./-", c)))
            return true;
    }
    return false;
}

char *net_ssh_command_join(const char *const *argv, size_t argc) {
    struct strbuf sb = STRBUF_INIT;
    int r = 0;
    for (size_t i = 0; i < argc && r == 0; i++) {
        if (i > 0)
            r = strbuf_addc(&sb, ' ');
        if (r == 0 && (i == 0 || !needs_quote(argv[i]))) {
            r = strbuf_adds(&sb, argv[i]);
            continue;
        }
        /* 'it'"'"'s': a single quote ends the quoting, is quoted itself, and quoting resumes */
        r = r == 0 ? strbuf_addc(&sb, '\'') : r;
        for (const char *p = argv[i]; r == 0 && *p; p++)
            r = *p == '\'' ? strbuf_adds(&sb, "'\"'\"'") : strbuf_addc(&sb, *p);
        r = r == 0 ? strbuf_addc(&sb, '\'') : r;
    }
    if (r < 0) {
        strbuf_release(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}
