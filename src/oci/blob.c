/*
 * The blob cache: <cache>/sha256/<hex> holds only verified blobs; a blob in
 * transit lives in <cache>/tmp/<hex>.partial, hashed while it streams, and
 * is renamed into place (after fsync) only when its size and sha256 match.
 * A partial file is locked so two processes never write the same one.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/pull_priv.h"

char *oci_digest_of(const void *data, size_t len) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[OCI_DIGEST_HEX_LEN + 1];
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return NULL;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return xasprintf("sha256:%s", hex);
}

static int mkdir_one(const char *path, struct error *err) {
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return error_set(err, -errno, "cannot create blob cache directory '%s': %s", path,
                         strerror(errno));
    return 0;
}

int oci_cache_prepare(const char *cache_dir, struct error *err) {
    if (!cache_dir || !*cache_dir)
        return error_set(err, -EINVAL, "no blob cache directory given");
    _cleanup_free_ char *blobs = xasprintf("%s/sha256", cache_dir);
    _cleanup_free_ char *tmp = xasprintf("%s/tmp", cache_dir);
    if (!blobs || !tmp)
        return error_oom(err);
    int r = mkdir_one(cache_dir, err);
    if (r == 0)
        r = mkdir_one(blobs, err);
    if (r == 0)
        r = mkdir_one(tmp, err);
    return r;
}

bool oci_cache_has(const char *cache_dir, const char *digest, uint64_t size) {
    _cleanup_free_ char *path = oci_blob_path(cache_dir, digest);
    struct stat st;
    if (!path || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    return size == 0 || (uint64_t)st.st_size == size;
}

int blob_writer_open(struct blob_writer *w, const char *cache_dir, const char *digest,
                     bool size_known, uint64_t size, struct error *err) {
    char hex[OCI_DIGEST_HEX_LEN + 1];
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    if (digest) {
        int r = oci_digest_parse(digest, hex, err);
        if (r < 0)
            return r;
        w->tmp_path = xasprintf("%s/tmp/%s.partial", cache_dir, hex);
        w->digest = xstrdup(digest);
    } else {
        char id[ID_LEN + 1];
        int r = id_generate(id);
        if (r < 0)
            return error_set(err, r, "cannot generate a temporary blob name");
        w->tmp_path = xasprintf("%s/tmp/anon-%s.partial", cache_dir, id);
    }
    w->cache_dir = xstrdup(cache_dir);
    w->md = EVP_MD_CTX_new();
    if (!w->tmp_path || !w->cache_dir || (digest && !w->digest) || !w->md) {
        blob_writer_abort(w);
        return error_oom(err);
    }
    w->size = size;
    w->size_known = size_known;
    if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        blob_writer_abort(w);
        return error_set(err, -EIO, "cannot start a sha256 digest");
    }
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w->fd < 0) {
        int e = errno;
        free(w->tmp_path);
        w->tmp_path = NULL; /* not ours to remove */
        blob_writer_abort(w);
        return error_set(err, -e, "cannot create partial blob for '%s' in '%s/tmp': %s",
                         digest ? digest : "archive member", cache_dir, strerror(e));
    }
    if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(w->fd);
        w->fd = -1;
        free(w->tmp_path);
        w->tmp_path = NULL; /* another process owns it */
        blob_writer_abort(w);
        if (e == EWOULDBLOCK)
            return error_set(err, -EBUSY,
                             "blob '%s' is being downloaded by another process; try again when "
                             "it is done",
                             digest ? digest : "");
        return error_set(err, -e, "cannot lock partial blob: %s", strerror(e));
    }
    if (ftruncate(w->fd, 0) < 0) {
        int e = errno;
        blob_writer_abort(w);
        return error_set(err, -e, "cannot truncate partial blob: %s", strerror(e));
    }
    return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct error *err) {
    if (w->size_known && (len > w->size || w->n > w->size - len))
        return error_set(err, -EBADMSG,
                         "blob '%s' is larger than the %llu bytes its descriptor "
                         "says; the data was dropped",
                         w->digest ? w->digest : "", (unsigned long long)w->size);
    if (w->n + len > OCI_BLOB_MAX)
        return error_set(err, -EFBIG, "blob '%s' is larger than the limit of %llu bytes",
                         w->digest ? w->digest : "", (unsigned long long)OCI_BLOB_MAX);
    if (EVP_DigestUpdate(w->md, data, len) != 1)
        return error_set(err, -EIO, "sha256 update failed");
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_set(err, -errno, "cannot write '%s': %s", w->tmp_path, strerror(errno));
        }
        p += n;
        left -= (size_t)n;
    }
    w->n += len;
    return 0;
}

int blob_writer_restart(struct blob_writer *w, struct error *err) {
    if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
        return error_set(err, -errno, "cannot truncate '%s': %s", w->tmp_path, strerror(errno));
    if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
        return error_set(err, -EIO, "cannot restart a sha256 digest");
    w->n = 0;
    return 0;
}

static int fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int blob_writer_commit(struct blob_writer *w, char **ret_digest, struct error *err) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[OCI_DIGEST_HEX_LEN + 1];
    _cleanup_free_ char *got = NULL;
    _cleanup_free_ char *final = NULL;
    _cleanup_free_ char *dir = NULL;
    int r;

    if (w->size_known && w->n != w->size) {
        r = error_set(
            err, -EBADMSG, "blob '%s' is truncated: got %llu of %llu bytes; the data was dropped",
            w->digest ? w->digest : "", (unsigned long long)w->n, (unsigned long long)w->size);
        goto fail;
    }
    if (EVP_DigestFinal_ex(w->md, md, &mdlen) != 1 || mdlen != 32) {
        r = error_set(err, -EIO, "sha256 final failed");
        goto fail;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    got = xasprintf("sha256:%s", hex);
    if (!got) {
        r = error_oom(err);
        goto fail;
    }
    if (w->digest && strcmp(got, w->digest) != 0) {
        r = error_set(err, -EBADMSG,
                      "blob '%s' failed verification: its content hashes to '%s'; the data was "
                      "dropped",
                      w->digest, got);
        goto fail;
    }
    if (fsync(w->fd) < 0) {
        r = error_set(err, -errno, "cannot fsync '%s': %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    final = oci_blob_path(w->cache_dir, got);
    dir = xasprintf("%s/sha256", w->cache_dir);
    if (!final || !dir) {
        r = error_oom(err);
        goto fail;
    }
    if (rename(w->tmp_path, final) < 0) {
        r = error_set(err, -errno, "cannot move blob '%s' into the cache: %s", got,
                      strerror(errno));
        goto fail;
    }
    (void)fsync_dir(dir);
    free(w->tmp_path);
    w->tmp_path = NULL;
    blob_writer_abort(w);
    if (ret_digest)
        *ret_digest = steal_ptr(&got);
    return 0;
fail:
    blob_writer_abort(w);
    return r;
}

void blob_writer_abort(struct blob_writer *w) {
    if (w->tmp_path && w->fd >= 0)
        (void)unlink(w->tmp_path);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->tmp_path);
    w->tmp_path = NULL;
    free(w->cache_dir);
    w->cache_dir = NULL;
    free(w->digest);
    w->digest = NULL;
    EVP_MD_CTX_free(w->md);
    w->md = NULL;
}

int oci_cache_put(const char *cache_dir, const char *digest, const void *data, size_t len,
                  struct error *err) {
    struct blob_writer w;
    if (oci_cache_has(cache_dir, digest, len))
        return 0;
    int r = blob_writer_open(&w, cache_dir, digest, true, len, err);
    if (r < 0)
        return r;
    r = blob_writer_write(&w, data, len, err);
    if (r < 0) {
        blob_writer_abort(&w);
        return r;
    }
    return blob_writer_commit(&w, NULL, err);
}
