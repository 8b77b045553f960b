/*
 * oci-layout:DIR[:TAG] sources: an OCI image layout directory (oci-layout,
 * index.json, blobs/sha256/...). The image is the index.json entry whose
 * org.opencontainers.image.ref.name annotation is TAG (or the only entry);
 * nested indexes resolve to the platform. Every blob is read through the
 * cache writer, so it is verified before it is cached.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/pull_priv.h"

#define REF_NAME "org.opencontainers.image.ref.name"

struct layout {
    const char *dir;
    const struct oci_pull_opts *opts;
    const char *what;
};

static int layout_blob_open(const struct layout *l, const char *digest, uint64_t size, int *ret_fd,
                            struct error *err) {
    char hex[OCI_DIGEST_HEX_LEN + 1];
    struct stat st;
    int r = oci_digest_parse(digest, hex, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", l->dir, hex);
    if (!path)
        return error_oom(err);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return error_set(err, -errno, "blob '%s' of %s: cannot open '%s': %s", digest, l->what,
                         path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, -EBADMSG, "blob '%s' of %s: '%s' is not a regular file", digest,
                         l->what, path);
    }
    if (size && (uint64_t)st.st_size != size) {
        close(fd);
        return error_set(err, -EBADMSG, "blob '%s' of %s has %lld bytes, its descriptor says %llu",
                         digest, l->what, (long long)st.st_size, (unsigned long long)size);
    }
    *ret_fd = fd;
    return 0;
}

static int layout_get(void *ud, const char *ref, uint64_t size, struct strbuf *body,
                      char **ret_content_type, char **ret_digest, struct error *err) {
    struct layout *l = ud;
    _cleanup_close_ int fd = -1;
    int r = layout_blob_open(l, ref, size, &fd, err);
    if (r < 0)
        return r;
    r = strbuf_read_fd(body, fd, OCI_MANIFEST_MAX);
    if (r == -EFBIG)
        return error_set(err, -EFBIG, "manifest '%s' of %s is larger than %u bytes", ref, l->what,
                         OCI_MANIFEST_MAX);
    if (r < 0)
        return error_set(err, r, "cannot read manifest '%s' of %s", ref, l->what);
    _cleanup_free_ char *got = oci_digest_of(body->buf ? body->buf : "", body->len);
    if (!got)
        return error_oom(err);
    if (strcmp(got, ref) != 0)
        return error_set(err, -EBADMSG, "manifest '%s' of %s hashes to '%s'", ref, l->what, got);
    *ret_content_type = NULL;
    *ret_digest = steal_ptr(&got);
    return 0;
}

static int layout_copy_blob(const struct layout *l, const char *digest, uint64_t size,
                            bool is_layer, struct error *err) {
    const struct oci_pull_opts *opts = l->opts;
    struct blob_writer w;
    _cleanup_close_ int fd = -1;
    static const size_t bufsize = 1 << 17;
    if (oci_cache_has(opts->cache_dir, digest, size)) {
        oci_progress_emit(opts, digest, is_layer, OCI_PROGRESS_CACHED, size, size);
        return 0;
    }
    int r = layout_blob_open(l, digest, size, &fd, err);
    if (r < 0)
        return r;
    r = blob_writer_open(&w, opts->cache_dir, digest, true, size, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = xmalloc(bufsize);
    if (!buf) {
        blob_writer_abort(&w);
        return error_oom(err);
    }
    for (;;) {
        if (opts->cancel && *opts->cancel) {
            blob_writer_abort(&w);
            return error_set(err, -ECANCELED, "pull of %s cancelled", l->what);
        }
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = error_set(err, -errno, "cannot read blob '%s' of %s: %s", digest, l->what,
                          strerror(errno));
            blob_writer_abort(&w);
            return r;
        }
        if (n == 0)
            break;
        r = blob_writer_write(&w, buf, (size_t)n, err);
        if (r < 0) {
            blob_writer_abort(&w);
            return error_prefix(err, "%s", l->what);
        }
        oci_progress_emit(opts, digest, is_layer, OCI_PROGRESS_DOWNLOADING, w.n, size);
    }
    oci_progress_emit(opts, digest, is_layer, OCI_PROGRESS_VERIFYING, size, size);
    r = blob_writer_commit(&w, NULL, err);
    if (r < 0)
        return error_prefix(err, "%s", l->what);
    oci_progress_emit(opts, digest, is_layer, OCI_PROGRESS_DONE, size, size);
    return 0;
}

/* The index.json entry named tag, or the only one. */
static int layout_select(const struct layout *l, json_t *index, const char *tag,
                         const char **ret_digest, uint64_t *ret_size, struct error *err) {
    json_t *ms = json_object_get(index, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return error_set(err, -ENOENT, "%s: index.json lists no images", l->what);
    if (json_array_size(ms) > OCI_INDEX_MAX)
        return error_set(err, -E2BIG, "%s: index.json has more than %d entries", l->what,
                         OCI_INDEX_MAX);
    json_t *found = NULL;
    size_t i;
    json_t *m;
    struct strbuf names = STRBUF_INIT;
    json_array_foreach(ms, i, m) {
        const char *name =
            json_string_value(json_object_get(json_object_get(m, "annotations"), REF_NAME));
        if (tag && name && strcmp(name, tag) == 0) {
            found = m;
            break;
        }
        if (names.len < 512 &&
            strbuf_addf(&names, "%s'%s'", names.len ? ", " : "", name ? name : "(none)") < 0)
            break;
    }
    if (!tag && json_array_size(ms) == 1)
        found = json_array_get(ms, 0);
    if (!found) {
        int r;
        if (tag)
            r = error_set(err, -ENOENT, "%s has no image tagged '%s' (it has %s)", l->what, tag,
                          names.buf ? names.buf : "none");
        else
            r = error_set(err, -EINVAL,
                          "%s holds %zu images (%s); name one with oci-layout:DIR:TAG", l->what,
                          json_array_size(ms), names.buf ? names.buf : "");
        strbuf_release(&names);
        return r;
    }
    strbuf_release(&names);
    const char *digest = json_string_value(json_object_get(found, "digest"));
    json_t *size = json_object_get(found, "size");
    char hex[OCI_DIGEST_HEX_LEN + 1];
    if (!digest || oci_digest_parse(digest, hex, NULL) < 0 || !json_is_integer(size) ||
        json_integer_value(size) < 0)
        return error_set(err, -EBADMSG, "%s: index.json has a bad descriptor", l->what);
    *ret_digest = digest;
    *ret_size = (uint64_t)json_integer_value(size);
    return 0;
}

int oci_layout_pull(const char *dir, const char *tag, const struct oci_pull_opts *opts,
                    struct oci_image *ret, struct error *err) {
    _cleanup_free_ char *what =
        xasprintf("oci-layout '%s%s%s'", dir, tag ? ":" : "", tag ? tag : "");
    _cleanup_free_ char *index_path = xasprintf("%s/index.json", dir);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    json_error_t jerr;
    if (!what || !index_path)
        return error_oom(err);
    struct layout l = {.dir = dir, .opts = opts, .what = what};
    int r = strbuf_read_file(&sb, index_path, OCI_MANIFEST_MAX, err);
    if (r < 0)
        return error_prefix(err, "%s is not an OCI layout", what);
    json_t *index = json_loadb(sb.buf ? sb.buf : "", sb.len, 0, &jerr);
    if (!json_is_object(index)) {
        json_decref(index);
        return error_set(err, -EBADMSG, "%s: index.json is not a JSON object", what);
    }
    const char *digest = NULL;
    uint64_t size = 0;
    r = layout_select(&l, index, tag, &digest, &size, err);
    _cleanup_free_ char *first = r == 0 ? xstrdup(digest) : NULL;
    json_decref(index);
    if (r < 0)
        return r;
    if (!first)
        return error_oom(err);
    uint64_t config_size = 0;
    r = oci_resolve(layout_get, &l, first, size, opts, what, ret, &config_size, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ret->n_layers; i++)
        oci_progress_emit(opts, ret->layers[i].digest, true, OCI_PROGRESS_WAITING, 0,
                          ret->layers[i].size);
    r = layout_copy_blob(&l, ret->config_digest, config_size, false, err);
    for (size_t i = 0; r == 0 && i < ret->n_layers; i++)
        r = layout_copy_blob(&l, ret->layers[i].digest, ret->layers[i].size, true, err);
    return r;
}
