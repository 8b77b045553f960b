/*
 * Manifests and indexes, whatever their source: telling an index from an
 * image manifest (OCI and Docker media types), picking an index's entry for
 * the platform (attestation manifests skipped), turning a manifest into
 * struct oci_image, and following a reference through nested indexes.
 */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "oci/pull_priv.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1"

void oci_progress_emit(const struct oci_pull_opts *opts, const char *digest, bool is_layer,
                       enum oci_progress_state state, uint64_t done, uint64_t total) {
    if (!opts->progress)
        return;
    struct oci_progress p = {
        .digest = digest, .is_layer = is_layer, .state = state, .done = done, .total = total};
    opts->progress(opts->progress_ud, &p);
}

void oci_platform_from_opts(const struct oci_pull_opts *opts, struct oci_platform *ret) {
    struct utsname u;
    const char *arch = opts->arch;
    snprintf(ret->os, sizeof(ret->os), "%.31s", opts->os ? opts->os : "linux");
    if (!arch) {
        arch = "amd64";
        if (uname(&u) == 0) {
            if (strcmp(u.machine, "x86_64") == 0)
                arch = "amd64";
            else if (strcmp(u.machine, "aarch64") == 0)
                arch = "arm64";
            else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
                arch = "386";
            else
                arch = u.machine;
        }
    }
    snprintf(ret->arch, sizeof(ret->arch), "%.31s", arch);
}

static bool mt_is_index(const char *mt) {
    return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

static bool mt_is_manifest(const char *mt) {
    return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

int oci_manifest_load(const char *body, size_t len, const char *content_type, const char *what,
                      json_t **ret_json, enum oci_manifest_kind *ret_kind, struct error *err) {
    json_error_t jerr;
    if (len > OCI_MANIFEST_MAX)
        return error_set(err, -EFBIG, "manifest of %s is larger than %u bytes", what,
                         OCI_MANIFEST_MAX);
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return error_set(err, -EBADMSG, "manifest of %s is not a JSON object: %s", what,
                         j ? "wrong type" : jerr.text);
    }
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    json_t *schema = json_object_get(j, "schemaVersion");
    if (json_is_integer(schema) && json_integer_value(schema) == 1) {
        json_decref(j);
        return error_set(err, -ENOTSUP,
                         "%s uses a Docker schema 1 manifest, which is not supported; push it "
                         "again with a current client",
                         what);
    }
    if (!mt && content_type && *content_type)
        mt = content_type;
    enum oci_manifest_kind kind;
    if (mt_is_index(mt))
        kind = OCI_KIND_INDEX;
    else if (mt_is_manifest(mt))
        kind = OCI_KIND_MANIFEST;
    else if (mt && str_starts_with(mt, MT_DOCKER_V1)) {
        json_decref(j);
        return error_set(err, -ENOTSUP,
                         "%s uses a Docker schema 1 manifest, which is not "
                         "supported",
                         what);
    } else if (json_is_array(json_object_get(j, "manifests")))
        kind = OCI_KIND_INDEX;
    else if (json_is_array(json_object_get(j, "layers")))
        kind = OCI_KIND_MANIFEST;
    else {
        /* mt may point into j: the message is made before j is freed */
        int r = error_set(err, -EBADMSG, "manifest of %s has unknown media type '%s'", what,
                          mt ? mt : "(none)");
        json_decref(j);
        return r;
    }
    *ret_json = j;
    *ret_kind = kind;
    return 0;
}

static int desc_get(json_t *d, const char *what, const char **ret_digest, uint64_t *ret_size,
                    struct error *err) {
    char hex[OCI_DIGEST_HEX_LEN + 1];
    struct error derr;
    const char *digest = json_string_value(json_object_get(d, "digest"));
    json_t *size = json_object_get(d, "size");
    error_init(&derr);
    if (!digest || oci_digest_parse(digest, hex, &derr) < 0)
        return error_set(err, -EBADMSG, "%s: descriptor with a bad digest: %s", what,
                         digest ? derr.msg : "missing");
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) > OCI_BLOB_MAX)
        return error_set(err, -EBADMSG, "%s: descriptor '%s' has a bad size", what, digest);
    *ret_digest = digest;
    *ret_size = (uint64_t)json_integer_value(size);
    return 0;
}

static bool is_attestation(json_t *m) {
    json_t *ann = json_object_get(m, "annotations");
    const char *t = json_string_value(json_object_get(ann, "vnd.docker.reference.type"));
    if (t && strcmp(t, "attestation-manifest") == 0)
        return true;
    json_t *p = json_object_get(m, "platform");
    const char *os = json_string_value(json_object_get(p, "os"));
    const char *arch = json_string_value(json_object_get(p, "architecture"));
    return os && arch && strcmp(os, "unknown") == 0 && strcmp(arch, "unknown") == 0;
}

int oci_index_select(json_t *index, const struct oci_platform *plat, const char *what,
                     char **ret_digest, uint64_t *ret_size, struct error *err) {
    json_t *ms = json_object_get(index, "manifests");
    if (!json_is_array(ms))
        return error_set(err, -EBADMSG, "index of %s has no manifests list", what);
    size_t n = json_array_size(ms);
    if (n > OCI_INDEX_MAX)
        return error_set(err, -E2BIG, "index of %s has %zu entries, more than %d", what, n,
                         OCI_INDEX_MAX);
    json_t *only = NULL;
    size_t n_candidates = 0;
    struct strbuf seen = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(ms, i);
        if (!json_is_object(m) || is_attestation(m))
            continue;
        json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        n_candidates++;
        if (!p) {
            only = m;
            continue;
        }
        if (os && arch && strcmp(os, plat->os) == 0 && strcmp(arch, plat->arch) == 0) {
            strbuf_release(&seen);
            const char *digest;
            int r = desc_get(m, what, &digest, ret_size, err);
            if (r < 0)
                return r;
            *ret_digest = xstrdup(digest);
            return *ret_digest ? 0 : error_oom(err);
        }
        if (seen.len < 512 && strbuf_addf(&seen, "%s%s/%s", seen.len ? ", " : "", os ? os : "?",
                                          arch ? arch : "?") < 0)
            break;
    }
    /* An index without platforms (an OCI layout's) with a single image. */
    if (only && n_candidates == 1) {
        strbuf_release(&seen);
        const char *digest;
        int r = desc_get(only, what, &digest, ret_size, err);
        if (r < 0)
            return r;
        *ret_digest = xstrdup(digest);
        return *ret_digest ? 0 : error_oom(err);
    }
    int r = error_set(err, -ENOENT, "%s has no image for %s/%s (it has: %s)", what, plat->os,
                      plat->arch, seen.len ? seen.buf : "nothing");
    strbuf_release(&seen);
    return r;
}

static bool layer_type_ok(const char *mt) {
    static const char *const ok[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (strcmp(mt, ok[i]) == 0)
            return true;
    return false;
}

int oci_manifest_to_image(json_t *manifest, const char *manifest_digest, const char *what,
                          struct oci_image *img, uint64_t *ret_config_size, struct error *err) {
    const char *digest;
    uint64_t size;
    json_t *config = json_object_get(manifest, "config");
    json_t *layers = json_object_get(manifest, "layers");
    if (!json_is_object(config) || !json_is_array(layers))
        return error_set(err, -EBADMSG, "manifest of %s lacks config or layers", what);
    int r = desc_get(config, what, &digest, &size, err);
    if (r < 0)
        return r;
    if (size > OCI_MANIFEST_MAX)
        return error_set(err, -EFBIG, "config '%s' of %s is larger than %u bytes", digest, what,
                         OCI_MANIFEST_MAX);
    *ret_config_size = size;
    size_t n = json_array_size(layers);
    if (n > OCI_LAYERS_MAX)
        return error_set(err, -E2BIG, "%s has %zu layers, more than %d", what, n, OCI_LAYERS_MAX);
    img->manifest_digest = xstrdup(manifest_digest);
    img->config_digest = xstrdup(digest);
    img->layers = xcalloc(n ? n : 1, sizeof(*img->layers));
    if (!img->manifest_digest || !img->config_digest || !img->layers)
        return error_oom(err);
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        r = desc_get(l, what, &digest, &size, err);
        if (r < 0)
            return r;
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        if (!mt)
            mt = "application/vnd.oci.image.layer.v1.tar+gzip";
        if (!layer_type_ok(mt))
            return error_set(err, -ENOTSUP, "layer '%s' of %s has unsupported media type '%s'",
                             digest, what, mt);
        img->layers[i].digest = xstrdup(digest);
        img->layers[i].media_type = xstrdup(mt);
        img->layers[i].size = size;
        img->n_layers = i + 1;
        if (!img->layers[i].digest || !img->layers[i].media_type)
            return error_oom(err);
        img->size += size;
    }
    return 0;
}

int oci_image_read_config(struct oci_image *img, const char *cache_dir, struct error *err) {
    _cleanup_free_ char *path = oci_blob_path(cache_dir, img->config_digest);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    json_error_t jerr;
    if (!path)
        return error_oom(err);
    int r = strbuf_read_file(&sb, path, OCI_MANIFEST_MAX, err);
    if (r < 0)
        return error_prefix(err, "config '%s'", img->config_digest);
    json_t *j = json_loadb(sb.buf ? sb.buf : "", sb.len, 0, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        return error_set(err, -EBADMSG, "config '%s' is not a JSON object", img->config_digest);
    }
    const char *os = json_string_value(json_object_get(j, "os"));
    const char *arch = json_string_value(json_object_get(j, "architecture"));
    img->os = xstrdup(os ? os : "linux");
    img->arch = xstrdup(arch ? arch : "");
    json_decref(j);
    if (!img->os || !img->arch)
        return error_oom(err);
    return 0;
}

int oci_resolve(oci_manifest_get_fn get, void *ud, const char *ref, uint64_t size,
                const struct oci_pull_opts *opts, const char *what, struct oci_image *img,
                uint64_t *ret_config_size, struct error *err) {
    struct oci_platform plat;
    _cleanup_free_ char *cur = xstrdup(ref);
    if (!cur)
        return error_oom(err);
    oci_platform_from_opts(opts, &plat);
    for (int depth = 0; depth <= OCI_NEST_MAX; depth++) {
        _cleanup_strbuf_ struct strbuf body = STRBUF_INIT;
        _cleanup_free_ char *ctype = NULL;
        _cleanup_free_ char *digest = NULL;
        json_t *j = NULL;
        enum oci_manifest_kind kind;
        int r = get(ud, cur, size, &body, &ctype, &digest, err);
        if (r < 0)
            return r;
        r = oci_manifest_load(body.buf ? body.buf : "", body.len, ctype, what, &j, &kind, err);
        if (r < 0)
            return r;
        if (kind == OCI_KIND_INDEX) {
            char *next = NULL;
            r = oci_index_select(j, &plat, what, &next, &size, err);
            json_decref(j);
            if (r < 0)
                return r;
            free(cur);
            cur = next;
            continue;
        }
        r = oci_manifest_to_image(j, digest, what, img, ret_config_size, err);
        json_decref(j);
        if (r < 0)
            return r;
        return oci_cache_put(opts->cache_dir, digest, body.buf ? body.buf : "", body.len, err);
    }
    return error_set(err, -ELOOP, "%s: indexes nested deeper than %d", what, OCI_NEST_MAX);
}
