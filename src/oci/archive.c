/*
 * docker-archive:FILE[:REF] sources: the tar `docker save` (and `skopeo
 * copy ... docker-archive:`) writes. Its manifest.json lists the images
 * (`docker save a b` holds two), each with its RepoTags, its config member
 * and its layer members, either legacy ("<id>/layer.tar", "<hex>.json") or
 * OCI-style ("blobs/sha256/<hex>", Docker 25 and later). REF picks one: a
 * reference matched against the RepoTags (both normalised, so "busybox"
 * matches "docker.io/library/busybox:latest"), or "@N", the Nth image from
 * 0 (skopeo's syntax). Without REF the archive must hold one image; else the
 * error lists what it holds.
 *
 * What the image's digests are:
 * - config_digest (the image id) is the sha256 of the config member, checked
 *   against the member's name when the name carries a digest;
 * - each layer's digest is the sha256 of the member as stored. A legacy
 *   layer.tar is an uncompressed tar, so its digest equals the config's
 *   rootfs.diff_ids entry, and that is checked; compressed members (found
 *   by their magic bytes) are checked against their blobs/sha256 name;
 * - manifest_digest is that of an OCI manifest hearth writes for the image
 *   (config + layers as above) and stores in the cache, so an archive image
 *   looks like any other afterwards. repo_digest is NULL.
 *
 * The tar is read three times (manifest.json, config, layers), each pass a
 * sequential libarchive scan that skips what it does not need.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "oci/pull_priv.h"

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define CHUNK (1u << 17)

#define LIST_MAX 1500 /* bytes of the image list an error message shows */

struct arch {
    const char *file;
    const char *ref; /* REF or "@N" picking one image, or NULL */
    const struct oci_pull_opts *opts;
    char *what;
};

static const char *member_name(struct archive_entry *e) {
    const char *name = archive_entry_pathname(e);
    if (!name)
        return "";
    while (str_starts_with(name, "./"))
        name += 2;
    return name;
}

static int arch_open(const struct arch *a, struct archive **ret, struct error *err) {
    struct archive *ar = archive_read_new();
    if (!ar)
        return lazylib_archive_error(err);
    archive_read_support_format_tar(ar);
    archive_read_support_format_gnutar(ar);
    archive_read_support_filter_none(ar);
    if (archive_read_open_filename(ar, a->file, CHUNK) != ARCHIVE_OK) {
        int r = error_set(err, -EINVAL, "%s: cannot read the archive: %s", a->what,
                          archive_error_string(ar));
        archive_read_free(ar);
        return r;
    }
    *ret = ar;
    return 0;
}

/*
 * Calls fn for each regular file of the archive, in order, until fn returns
 * nonzero: 1 stops (0 is returned), a negative errno fails. An archive that
 * breaks before its end is an error naming it.
 */
typedef int arch_member_fn(const struct arch *a, struct archive *ar, struct archive_entry *e,
                           const char *name, void *ud, struct error *err);
static int arch_each(const struct arch *a, arch_member_fn *fn, void *ud, struct error *err) {
    struct archive *ar = NULL; /* arch_open's lazylib error code is not visible here */
    struct archive_entry *e;
    int r = arch_open(a, &ar, err);
    if (r < 0)
        return r;
    int ar_rc = ARCHIVE_EOF;
    while (r == 0 && (ar_rc = archive_read_next_header(ar, &e)) == ARCHIVE_OK)
        if (archive_entry_filetype(e) == AE_IFREG)
            r = fn(a, ar, e, member_name(e), ud, err);
    if (r == 0 && ar_rc != ARCHIVE_EOF)
        r = error_set(err, -EIO, "%s: broken archive: %s", a->what, archive_error_string(ar));
    archive_read_free(ar);
    return r < 0 ? r : 0;
}

/* What arch_read_member looks for, and what it found. */
struct member_read {
    const char *name;
    size_t max;
    struct strbuf *sb;
    bool found;
};

static int member_read_one(const struct arch *a, struct archive *ar, struct archive_entry *e,
                           const char *name, void *ud, struct error *err) {
    struct member_read *m = ud;
    if (strcmp(name, m->name) != 0)
        return 0;
    m->found = true;
    if (archive_entry_size(e) < 0 || (uint64_t)archive_entry_size(e) > m->max)
        return error_set(err, -EFBIG, "%s: member '%s' is larger than %zu bytes", a->what, name,
                         m->max);
    char buf[8192];
    la_ssize_t n;
    while ((n = archive_read_data(ar, buf, sizeof(buf))) > 0)
        if (m->sb->len + (size_t)n > m->max || strbuf_add(m->sb, buf, (size_t)n) < 0)
            return error_set(err, -EFBIG, "%s: member '%s' is too large", a->what, name);
    if (n < 0)
        return error_set(err, -EIO, "%s: cannot read '%s': %s", a->what, name,
                         archive_error_string(ar));
    return 1;
}

/* Reads member name (at most max bytes) into sb. */
static int arch_read_member(const struct arch *a, const char *name, size_t max, struct strbuf *sb,
                            struct error *err) {
    struct member_read m = {.name = name, .max = max, .sb = sb};
    int r = arch_each(a, member_read_one, &m, err);
    if (r == 0 && !m.found)
        r = error_set(err, -ENOENT, "%s has no member '%s'; is it `docker save` output?", a->what,
                      name);
    return r;
}

/* "blobs/sha256/<hex>" or "<hex>.json": the digest the name claims, else NULL. */
static char *name_digest(const char *name) {
    char hex[OCI_DIGEST_HEX_LEN + 1];
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t len = strcspn(base, ".");
    if (len != OCI_DIGEST_HEX_LEN)
        return NULL;
    _cleanup_free_ char *d = xasprintf("sha256:%.*s", (int)len, base);
    if (!d || oci_digest_parse(d, hex, NULL) < 0)
        return NULL;
    return steal_ptr(&d);
}

struct want {
    const char *name; /* member */
    char *digest;     /* computed */
    const char *mt;
    uint64_t size;
};

/* Streams one member into the cache; fills w->digest, w->mt, w->size. */
static int arch_store(const struct arch *a, struct archive *ar, struct archive_entry *e,
                      struct want *w, struct error *err) {
    const struct oci_pull_opts *opts = a->opts;
    struct blob_writer bw;
    _cleanup_free_ char *claimed = name_digest(w->name);
    la_int64_t size = archive_entry_size(e);
    if (size < 0 || (uint64_t)size > OCI_BLOB_MAX)
        return error_set(err, -EFBIG, "%s: layer '%s' has a bad size", a->what, w->name);
    int r = blob_writer_open(&bw, opts->cache_dir, claimed, true, (uint64_t)size, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = xmalloc(CHUNK);
    if (!buf) {
        blob_writer_abort(&bw);
        return error_oom(err);
    }
    unsigned char magic[4] = {0};
    la_ssize_t n;
    while ((n = archive_read_data(ar, buf, CHUNK)) > 0) {
        if (opts->cancel && *opts->cancel) {
            blob_writer_abort(&bw);
            return error_set(err, -ECANCELED, "pull of %s cancelled", a->what);
        }
        if (bw.n < sizeof(magic))
            memcpy(magic + bw.n, buf,
                   (size_t)n < sizeof(magic) - bw.n ? (size_t)n : sizeof(magic) - bw.n);
        r = blob_writer_write(&bw, buf, (size_t)n, err);
        if (r < 0) {
            blob_writer_abort(&bw);
            return error_prefix(err, "%s: layer '%s'", a->what, w->name);
        }
        oci_progress_emit(opts, claimed ? claimed : w->name, true, OCI_PROGRESS_DOWNLOADING, bw.n,
                          (uint64_t)size);
    }
    if (n < 0) {
        r = error_set(err, -EIO, "%s: cannot read layer '%s': %s", a->what, w->name,
                      archive_error_string(ar));
        blob_writer_abort(&bw);
        return r;
    }
    r = blob_writer_commit(&bw, &w->digest, err);
    if (r < 0)
        return error_prefix(err, "%s: layer '%s'", a->what, w->name);
    if (magic[0] == 0x1f && magic[1] == 0x8b)
        w->mt = MT_GZIP;
    else if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        w->mt = MT_ZSTD;
    else
        w->mt = MT_TAR;
    w->size = (uint64_t)size;
    oci_progress_emit(opts, w->digest, true, OCI_PROGRESS_DONE, w->size, w->size);
    return 0;
}

/* What arch_store_layers stores: the layers wanted, by member name. */
struct layers_want {
    struct want *ws;
    size_t n;
};

static int layer_store_one(const struct arch *a, struct archive *ar, struct archive_entry *e,
                           const char *name, void *ud, struct error *err) {
    struct layers_want *l = ud;
    struct want *w = NULL;
    for (size_t i = 0; i < l->n && !w; i++)
        if (!l->ws[i].digest && strcmp(l->ws[i].name, name) == 0)
            w = &l->ws[i];
    if (!w)
        return 0;
    int r = arch_store(a, ar, e, w, err);
    if (r < 0)
        return r;
    /* the same member listed twice */
    for (size_t i = 0; i < l->n; i++)
        if (!l->ws[i].digest && strcmp(l->ws[i].name, name) == 0) {
            l->ws[i] = *w;
            l->ws[i].digest = xstrdup(w->digest);
            if (!l->ws[i].digest)
                return error_oom(err);
        }
    return 0;
}

static int arch_store_layers(const struct arch *a, struct want *ws, size_t n, struct error *err) {
    struct layers_want l = {ws, n};
    int r = arch_each(a, layer_store_one, &l, err);
    for (size_t i = 0; i < n && r == 0; i++)
        if (!ws[i].digest)
            r = error_set(err, -ENOENT, "%s: layer member '%s' is missing", a->what, ws[i].name);
    return r;
}

/* "@0 busybox:1 busybox:latest, @1 alpine:3, @2 (untagged)": what the archive holds. */
static int arch_list(json_t *man, struct strbuf *sb) {
    int r = 0;
    for (size_t i = 0; r == 0 && i < json_array_size(man); i++) {
        json_t *tags = json_object_get(json_array_get(man, i), "RepoTags");
        r = strbuf_addf(sb, "%s@%zu", i ? ", " : "", i);
        size_t n = 0;
        for (size_t j = 0; r == 0 && j < json_array_size(tags); j++) {
            const char *t = json_string_value(json_array_get(tags, j));
            if (t) {
                r = strbuf_addf(sb, " %s", t);
                n++;
            }
        }
        if (r == 0 && n == 0)
            r = strbuf_adds(sb, " (untagged)");
        if (r == 0 && sb->len > LIST_MAX) {
            sb->len = LIST_MAX;
            sb->buf[sb->len] = '\0';
            r = strbuf_adds(sb, "...");
            break;
        }
    }
    return r;
}

/* True when one of the entry's RepoTags is the reference want, both normalised. */
static bool entry_has_tag(json_t *entry, const struct oci_ref *want) {
    json_t *tags = json_object_get(entry, "RepoTags");
    for (size_t j = 0; j < json_array_size(tags); j++) {
        const char *t = json_string_value(json_array_get(tags, j));
        struct oci_ref ref;
        if (!t || oci_ref_parse(t, &ref, NULL) < 0)
            continue;
        bool same = !strcmp(ref.domain, want->domain) && !strcmp(ref.path, want->path) && ref.tag &&
                    want->tag && !strcmp(ref.tag, want->tag) && !ref.digest;
        oci_ref_release(&ref);
        if (same)
            return true;
    }
    return false;
}

/*
 * The manifest.json entry a->ref picks: by RepoTags (normalised as
 * references are: "busybox" is docker.io/library/busybox:latest), by index
 * ("@N", from 0, as skopeo takes it), or the only one.
 */
static int arch_select(const struct arch *a, json_t *man, json_t **ret, struct error *err) {
    size_t n = json_array_size(man);
    _cleanup_strbuf_ struct strbuf list = STRBUF_INIT;
    if (arch_list(man, &list) < 0)
        return error_oom(err);
    if (!a->ref) {
        if (n > 1)
            return error_set(err, -EINVAL,
                             "%s holds %zu images (%s); pick one with docker-archive:FILE:REF "
                             "or docker-archive:FILE:@N",
                             a->what, n, list.buf);
        *ret = json_array_get(man, 0);
        return 0;
    }
    if (a->ref[0] == '@') {
        const char *d = a->ref + 1;
        size_t i = 0;
        bool digits = *d && strlen(d) <= 6;
        for (const char *p = d; digits && *p; p++)
            digits = *p >= '0' && *p <= '9';
        if (digits)
            i = strtoul(d, NULL, 10);
        if (!digits || i >= n)
            return error_set(err, -ENOENT, "%s has no image '%s'; it holds %zu (%s)", a->what,
                             a->ref, n, list.buf);
        *ret = json_array_get(man, i);
        return 0;
    }
    struct oci_ref want;
    int r = oci_ref_parse(a->ref, &want, err);
    if (r < 0)
        return error_prefix(err, "%s", a->what);
    if (want.digest) {
        oci_ref_release(&want);
        return error_set(err, -EINVAL,
                         "%s: '%s' has a digest; pick an archive's image by NAME[:TAG] or @N",
                         a->what, a->ref);
    }
    for (size_t i = 0; i < n; i++) {
        if (entry_has_tag(json_array_get(man, i), &want)) {
            oci_ref_release(&want);
            *ret = json_array_get(man, i);
            return 0;
        }
    }
    oci_ref_release(&want);
    return error_set(err, -ENOENT, "%s has no image '%s'; it holds %s", a->what, a->ref, list.buf);
}

static int arch_pull(struct arch *a, struct oci_image *ret, struct error *err) {
    _cleanup_strbuf_ struct strbuf msb = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf csb = STRBUF_INIT;
    json_error_t jerr;
    struct want *ws = NULL;
    size_t n = 0;
    json_t *man = NULL, *cfg = NULL, *oci = NULL;
    _cleanup_free_ char *config_digest = NULL;
    _cleanup_free_ char *claimed = NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *mdigest = NULL;
    int r = arch_read_member(a, "manifest.json", OCI_MANIFEST_MAX, &msb, err);
    if (r < 0)
        return r;
    man = json_loadb(msb.buf ? msb.buf : "", msb.len, 0, &jerr);
    if (!json_is_array(man) || json_array_size(man) == 0) {
        r = error_set(err, -EBADMSG, "%s: manifest.json is not a list of images", a->what);
        goto out;
    }
    json_t *m = NULL;
    r = arch_select(a, man, &m, err);
    if (r < 0)
        goto out;
    const char *config = json_string_value(json_object_get(m, "Config"));
    json_t *layers = json_object_get(m, "Layers");
    if (!config || !json_is_array(layers)) {
        r = error_set(err, -EBADMSG, "%s: manifest.json lacks Config or Layers", a->what);
        goto out;
    }
    n = json_array_size(layers);
    if (n > OCI_LAYERS_MAX) {
        r = error_set(err, -E2BIG, "%s has %zu layers, more than %d", a->what, n, OCI_LAYERS_MAX);
        goto out;
    }

    /* the config: the image id is its sha256 */
    r = arch_read_member(a, config, OCI_MANIFEST_MAX, &csb, err);
    if (r < 0)
        goto out;
    config_digest = oci_digest_of(csb.buf ? csb.buf : "", csb.len);
    claimed = name_digest(config);
    if (!config_digest) {
        r = error_oom(err);
        goto out;
    }
    if (claimed && strcmp(claimed, config_digest) != 0) {
        r = error_set(err, -EBADMSG, "%s: config '%s' hashes to '%s'", a->what, config,
                      config_digest);
        goto out;
    }
    cfg = json_loadb(csb.buf ? csb.buf : "", csb.len, 0, &jerr);
    json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_object(cfg) || !json_is_array(diff_ids) || json_array_size(diff_ids) != n) {
        r = error_set(err, -EBADMSG, "%s: config '%s' does not list one diff_id per layer", a->what,
                      config);
        goto out;
    }
    r = oci_cache_put(a->opts->cache_dir, config_digest, csb.buf ? csb.buf : "", csb.len, err);
    if (r < 0)
        goto out;

    ws = xcalloc(n ? n : 1, sizeof(*ws));
    if (!ws) {
        r = error_oom(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ws[i].name = json_string_value(json_array_get(layers, i));
        if (!ws[i].name) {
            r = error_set(err, -EBADMSG, "%s: manifest.json has a bad layer entry", a->what);
            goto out;
        }
        while (str_starts_with(ws[i].name, "./"))
            ws[i].name += 2;
    }
    r = arch_store_layers(a, ws, n, err);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *diff_id = json_string_value(json_array_get(diff_ids, i));
        if (strcmp(ws[i].mt, MT_TAR) == 0 && (!diff_id || strcmp(diff_id, ws[i].digest) != 0)) {
            r = error_set(err, -EBADMSG, "%s: layer '%s' hashes to '%s' but the config says '%s'",
                          a->what, ws[i].name, ws[i].digest, diff_id ? diff_id : "(none)");
            goto out;
        }
    }

    /* an OCI manifest for the image, so it looks like any other */
    oci = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                    "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                    "application/vnd.oci.image.config.v1+json", "digest", config_digest, "size",
                    (json_int_t)csb.len, "layers");
    if (!oci) {
        r = error_oom(err);
        goto out;
    }
    json_t *ol = json_object_get(oci, "layers");
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", ws[i].mt, "digest", ws[i].digest,
                              "size", (json_int_t)ws[i].size);
        if (!d || json_array_append_new(ol, d) < 0) {
            r = error_oom(err);
            goto out;
        }
    }
    text = json_dumps(oci, JSON_COMPACT);
    mdigest = text ? oci_digest_of(text, strlen(text)) : NULL;
    if (!mdigest) {
        r = error_oom(err);
        goto out;
    }
    uint64_t config_size;
    r = oci_manifest_to_image(oci, mdigest, a->what, ret, &config_size, err);
    if (r == 0)
        r = oci_cache_put(a->opts->cache_dir, mdigest, text, strlen(text), err);
out:
    if (ws)
        for (size_t i = 0; i < n; i++)
            free(ws[i].digest);
    free(ws);
    json_decref(man);
    json_decref(cfg);
    json_decref(oci);
    return r;
}

int oci_archive_pull(const char *file, const char *ref, const struct oci_pull_opts *opts,
                     struct oci_image *ret, struct error *err) {
    struct arch a = {.file = file, .ref = ref, .opts = opts};
    a.what = xasprintf("docker-archive '%s'", file);
    if (!a.what)
        return error_oom(err);
    if (access(file, R_OK) < 0) {
        int r = error_set(err, -errno, "%s: %s", a.what, strerror(errno));
        free(a.what);
        return r;
    }
    int r = arch_pull(&a, ret, err);
    free(a.what);
    return r;
}
