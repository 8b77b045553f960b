/*
 * References and sources: the distribution reference grammar with Docker's
 * normalisation (docker.io/library for single names, "latest" when neither a
 * tag nor a digest is given), the "oci-layout:" and "docker-archive:"
 * source prefixes, and where a cached blob lives.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "oci/oci.h"
#include "oci/pull_priv.h"

#define REF_MAX 512      /* a whole reference */
#define NAME_MAX_LEN 255 /* domain + "/" + path, as the grammar says */
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+ */
static bool component_valid(const char *s, size_t len) {
    size_t i = 0;
    if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return false;
    while (i < len) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (s[i] == '.') {
            j++;
        } else if (s[i] == '_') {
            j++;
            if (j < len && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < len && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= len || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

static bool path_has_upper(const char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return true;
    return false;
}

static bool path_valid(const char *s) {
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_valid(p, len))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

/* host[:port], host being dns labels or an [ipv6] literal. */
static bool domain_valid(const char *s) {
    const char *p = s;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end || end == p + 1)
            return false;
        for (const char *q = p + 1; q < end; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
                return false;
        p = end + 1;
    } else {
        size_t label = 0;
        if (!isalnum((unsigned char)*p))
            return false;
        for (; *p && *p != ':'; p++) {
            if (isalnum((unsigned char)*p)) {
                label++;
            } else if (*p == '-') {
                if (label == 0)
                    return false;
                label++;
            } else if (*p == '.') {
                if (label == 0 || p[-1] == '-')
                    return false;
                label = 0;
            } else {
                return false;
            }
        }
        if (label == 0 || p[-1] == '-')
            return false;
    }
    if (*p == ':') {
        p++;
        if (!*p || strlen(p) > 5)
            return false;
        for (; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    }
    return *p == '\0';
}

static bool tag_valid(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len > TAG_MAX_LEN)
        return false;
    if (!isalnum((unsigned char)s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

int oci_digest_parse(const char *digest, char ret[OCI_DIGEST_HEX_LEN + 1], struct error *err) {
    if (!digest || !str_starts_with(digest, "sha256:"))
        return error_set(err, -EINVAL, "digest '%s' is not a sha256 digest (sha256:<64 hex>)",
                         digest ? digest : "");
    const char *hex = digest + 7;
    size_t n = strlen(hex);
    if (n != OCI_DIGEST_HEX_LEN)
        return error_set(err, -EINVAL, "digest '%s' must have 64 hex characters", digest);
    for (size_t i = 0; i < n; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return error_set(err, -EINVAL, "digest '%s' must be lowercase hex", digest);
    memcpy(ret, hex, OCI_DIGEST_HEX_LEN + 1);
    return 0;
}

void oci_ref_release(struct oci_ref *r) {
    if (!r)
        return;
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

static void oci_ref_releasep(struct oci_ref *r) {
    oci_ref_release(r);
}

int oci_ref_parse(const char *s, struct oci_ref *ret, struct error *err) {
    _cleanup_(oci_ref_releasep) struct oci_ref r = {0};
    char hex[OCI_DIGEST_HEX_LEN + 1];
    struct error derr;

    if (!s || !*s)
        return error_set(err, -EINVAL, "image reference is empty");
    if (strlen(s) > REF_MAX)
        return error_set(err, -EINVAL, "image reference '%.64s...' is longer than %d characters", s,
                         REF_MAX);
    _cleanup_free_ char *name = xstrdup(s);
    if (!name)
        return error_oom(err);

    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        error_init(&derr);
        if (oci_digest_parse(at + 1, hex, &derr) < 0)
            return error_set(err, -EINVAL, "invalid image reference '%s': %s", s, derr.msg);
        r.digest = xstrdup(at + 1);
        if (!r.digest)
            return error_oom(err);
    }
    char *last_slash = strrchr(name, '/');
    char *colon = strrchr(last_slash ? last_slash : name, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return error_set(err, -EINVAL,
                             "invalid image reference '%s': tag '%s' must be 1-128 of "
                             "[A-Za-z0-9_.-], not starting with '.' or '-'",
                             s, colon + 1);
        r.tag = xstrdup(colon + 1);
        if (!r.tag)
            return error_oom(err);
    }
    if (!*name)
        return error_set(err, -EINVAL, "invalid image reference '%s': no repository name", s);

    /* The first component is a domain when it looks like one (Docker's rule). */
    char *slash = strchr(name, '/');
    const char *path = name;
    const char *domain = "docker.io";
    if (slash) {
        *slash = '\0';
        bool has_upper = false;
        for (const char *p = name; *p; p++)
            has_upper |= (*p >= 'A' && *p <= 'Z');
        if (strchr(name, '.') || strchr(name, ':') || strcmp(name, "localhost") == 0 || has_upper) {
            domain = name;
            path = slash + 1;
        } else {
            *slash = '/';
        }
    }
    if (!domain_valid(domain))
        return error_set(err, -EINVAL, "invalid image reference '%s': bad registry host '%s'", s,
                         domain);
    if (strcmp(domain, "index.docker.io") == 0)
        domain = "docker.io";
    if (path_has_upper(path))
        return error_set(err, -EINVAL,
                         "invalid image reference '%s': repository name must be lowercase", s);
    if (!path_valid(path))
        return error_set(err, -EINVAL,
                         "invalid image reference '%s': repository path '%s' must be "
                         "lowercase components of [a-z0-9] separated by '.', '_', '__', '-' or '/'",
                         s, path);
    if (strcmp(domain, "docker.io") == 0 && !strchr(path, '/'))
        r.path = xasprintf("library/%s", path);
    else
        r.path = xstrdup(path);
    r.domain = xstrdup(domain);
    if (!r.path || !r.domain)
        return error_oom(err);
    if (strlen(r.domain) + 1 + strlen(r.path) > NAME_MAX_LEN)
        return error_set(err, -EINVAL,
                         "invalid image reference '%s': name longer than %d characters", s,
                         NAME_MAX_LEN);
    if (!r.tag && !r.digest) {
        r.tag = xstrdup("latest");
        if (!r.tag)
            return error_oom(err);
    }
    *ret = r;
    memset(&r, 0, sizeof(r));
    return 0;
}

char *oci_ref_string(const struct oci_ref *r) {
    if (r->digest)
        return xasprintf("%s/%s@%s", r->domain, r->path, r->digest);
    return xasprintf("%s/%s:%s", r->domain, r->path, r->tag ? r->tag : "latest");
}

char *oci_ref_familiar(const struct oci_ref *r) {
    const char *path = r->path;
    struct strbuf sb = STRBUF_INIT;
    int rc = 0;
    /* docker.io is left out, unless the path's first component would then be
     * read as a registry ("docker.io/my.org/app" stays whole). */
    size_t first = strcspn(path, "/");
    bool ambiguous = path[first] == '/' && (memchr(path, '.', first) || memchr(path, ':', first) ||
                                            (first == 9 && memcmp(path, "localhost", 9) == 0));
    if (strcmp(r->domain, "docker.io") == 0 && !ambiguous) {
        if (str_starts_with(path, "library/") && !strchr(path + 8, '/'))
            path += 8;
        rc = strbuf_adds(&sb, path);
    } else {
        rc = strbuf_addf(&sb, "%s/%s", r->domain, path);
    }
    if (rc == 0 && r->tag)
        rc = strbuf_addf(&sb, ":%s", r->tag);
    if (rc == 0 && r->digest)
        rc = strbuf_addf(&sb, "@%s", r->digest);
    if (rc < 0) {
        strbuf_release(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

const char *oci_ref_registry_host(const struct oci_ref *r) {
    if (strcmp(r->domain, "docker.io") == 0)
        return "registry-1.docker.io";
    return r->domain;
}

/* ---- sources ---------------------------------------------------------------- */

void oci_source_release(struct oci_source *s) {
    if (!s)
        return;
    oci_ref_release(&s->ref);
    free(s->path);
    free(s->tag);
    memset(s, 0, sizeof(*s));
}

int oci_source_parse(const char *s, struct oci_source *ret, struct error *err) {
    struct oci_source src = {0};
    if (!s)
        return error_set(err, -EINVAL, "image source is empty");
    if (str_starts_with(s, "oci-layout:")) {
        const char *rest = s + strlen("oci-layout:");
        /* Like skopeo's oci: transport, the first ':' separates the tag. */
        const char *colon = strchr(rest, ':');
        size_t dlen = colon ? (size_t)(colon - rest) : strlen(rest);
        if (dlen == 0)
            return error_set(err, -EINVAL, "image source '%s': no directory after 'oci-layout:'",
                             s);
        if (dlen >= OCI_PATH_MAX)
            return error_set(err, -EINVAL, "image source '%.64s...': path too long", s);
        if (colon && !colon[1])
            return error_set(err, -EINVAL, "image source '%s': empty tag after ':'", s);
        src.kind = OCI_SOURCE_LAYOUT;
        src.path = xstrndup(rest, dlen);
        if (colon)
            src.tag = xstrdup(colon + 1);
        if (!src.path || (colon && !src.tag)) {
            oci_source_release(&src);
            return error_oom(err);
        }
    } else if (str_starts_with(s, "docker-archive:")) {
        const char *rest = s + strlen("docker-archive:");
        /* As skopeo's docker-archive: transport: the first ':' separates the image to pick. */
        const char *colon = strchr(rest, ':');
        size_t flen = colon ? (size_t)(colon - rest) : strlen(rest);
        if (flen == 0)
            return error_set(err, -EINVAL, "image source '%s': no file after 'docker-archive:'", s);
        if (flen >= OCI_PATH_MAX)
            return error_set(err, -EINVAL, "image source '%.64s...': path too long", s);
        if (colon && !colon[1])
            return error_set(err, -EINVAL,
                             "image source '%s': empty image after ':' (want REF or @N)", s);
        if (colon && colon[1] == '@') {
            size_t nd = strspn(colon + 2, "0123456789");
            if (nd == 0 || nd > 6 || colon[2 + nd])
                return error_set(err, -EINVAL,
                                 "image source '%s': '%s' is not an image index (want @N, N "
                                 "counting from 0)",
                                 s, colon + 1);
        } else if (colon) {
            struct oci_ref ref;
            struct error rerr;
            error_init(&rerr);
            if (oci_ref_parse(colon + 1, &ref, &rerr) < 0)
                return error_set(err, rerr.code, "image source '%s': %s", s, rerr.msg);
            oci_ref_release(&ref);
        }
        src.kind = OCI_SOURCE_ARCHIVE;
        src.path = xstrndup(rest, flen);
        if (colon)
            src.tag = xstrdup(colon + 1);
        if (!src.path || (colon && !src.tag)) {
            oci_source_release(&src);
            return error_oom(err);
        }
    } else {
        src.kind = OCI_SOURCE_REGISTRY;
        int r = oci_ref_parse(s, &src.ref, err);
        if (r < 0)
            return r;
    }
    *ret = src;
    return 0;
}

char *oci_blob_path(const char *cache_dir, const char *digest) {
    char hex[OCI_DIGEST_HEX_LEN + 1];
    if (!cache_dir || oci_digest_parse(digest, hex, NULL) < 0)
        return NULL;
    return xasprintf("%s/sha256/%s", cache_dir, hex);
}
