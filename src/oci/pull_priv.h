/*
 * pull_priv: what the pulling half of the oci module shares between its
 * files (ref.c, blob.c, manifest.c, registry.c, layout.c, archive.c,
 * pull.c) and with its tests. Not part of the module's contract.
 *
 * - blob cache writer: streams one blob into <cache>/tmp/<hex>.partial while
 *   hashing it, then checks size and sha256, fsyncs and renames it into
 *   <cache>/sha256/<hex>. Nothing unverified ever reaches sha256/.
 * - manifest handling shared by every source: index platform selection,
 *   manifest parsing into struct oci_image, reading the config.
 */
#ifndef HEARTH_OCI_PULL_PRIV_H
#define HEARTH_OCI_PULL_PRIV_H

#include <jansson.h>
#include <openssl/evp.h>

#include "oci/oci.h"

#define OCI_DIGEST_HEX_LEN 64
#define OCI_NEST_MAX 4 /* index -> index -> ... depth */

/* ---- digests and the cache ------------------------------------------------ */

/* Checks "sha256:<64 lowercase hex>" and copies the hex part into ret. */
int oci_digest_parse(const char *digest, char ret[OCI_DIGEST_HEX_LEN + 1], struct error *err) WUR;
/* sha256 of a buffer as "sha256:<hex>"; caller frees. NULL on out-of-memory. */
char *oci_digest_of(const void *data, size_t len);
/* Creates <cache>, <cache>/sha256 and <cache>/tmp. */
int oci_cache_prepare(const char *cache_dir, struct error *err) WUR;
/* True when <cache>/sha256/<hex> is a regular file of the given size (size 0: any). */
bool oci_cache_has(const char *cache_dir, const char *digest, uint64_t size);
/* Verifies and stores a buffer (a manifest) under its digest. */
int oci_cache_put(const char *cache_dir, const char *digest, const void *data, size_t len,
                  struct error *err) WUR;

struct blob_writer {
    int fd;
    char *tmp_path;
    char *cache_dir;
    char *digest;  /* expected "sha256:..."; NULL: named by what was received */
    uint64_t size; /* expected size; 0 with digest NULL: unknown */
    bool size_known;
    uint64_t n; /* bytes received so far */
    EVP_MD_CTX *md;
};

/*
 * Opens <cache>/tmp/<hex>.partial (or a random name when digest is NULL),
 * locked against another process fetching the same blob (-EBUSY). The
 * writer must end with blob_writer_commit or blob_writer_abort.
 */
int blob_writer_open(struct blob_writer *w, const char *cache_dir, const char *digest,
                     bool size_known, uint64_t size, struct error *err) WUR;
/* Appends data; -EBADMSG once more than the expected size arrives. */
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct error *err) WUR;
/* Drops what was received and starts over (a server that ignored Range). */
int blob_writer_restart(struct blob_writer *w, struct error *err) WUR;
/*
 * Checks size and sha256, fsyncs and renames into the cache. On a mismatch
 * the partial file is removed and -EBADMSG returned naming the digest.
 * ret_digest (may be NULL) receives the digest actually stored; caller frees.
 * The writer is closed either way.
 */
int blob_writer_commit(struct blob_writer *w, char **ret_digest, struct error *err) WUR;
/* Closes the writer and removes the partial file. Safe on a closed writer. */
void blob_writer_abort(struct blob_writer *w);

/* ---- manifests ------------------------------------------------------------- */

enum oci_manifest_kind { OCI_KIND_MANIFEST, OCI_KIND_INDEX };

/* The platform asked for: opts' os/arch or linux and the host's uname machine. */
struct oci_platform {
    char os[32];
    char arch[32];
};
void oci_platform_from_opts(const struct oci_pull_opts *opts, struct oci_platform *ret);

/*
 * Parses a manifest or index body (at most OCI_MANIFEST_MAX) and tells which
 * it is, from its mediaType (or content_type, or its shape). what names it
 * in errors. Caller owns *ret_json.
 */
int oci_manifest_load(const char *body, size_t len, const char *content_type, const char *what,
                      json_t **ret_json, enum oci_manifest_kind *ret_kind, struct error *err) WUR;

/*
 * Picks the entry of an index for the platform, skipping attestation
 * manifests. ret_digest and ret_media_type are owned by the caller.
 */
int oci_index_select(json_t *index, const struct oci_platform *plat, const char *what,
                     char **ret_digest, uint64_t *ret_size, struct error *err) WUR;

/* Fills img's config and layers from an image manifest. */
int oci_manifest_to_image(json_t *manifest, const char *manifest_digest, const char *what,
                          struct oci_image *img, uint64_t *ret_config_size, struct error *err) WUR;

/* Reads the cached config blob of img and fills img->os and img->arch. */
int oci_image_read_config(struct oci_image *img, const char *cache_dir, struct error *err) WUR;

/*
 * A source's way to fetch a manifest by tag or digest (size 0: unknown),
 * verified against the digest when one was asked for.
 */
typedef int (*oci_manifest_get_fn)(void *ud, const char *ref, uint64_t size, struct strbuf *body,
                                   char **ret_content_type, char **ret_digest, struct error *err);

/*
 * Follows ref through indexes (up to OCI_NEST_MAX) to the platform's
 * manifest; fills img (manifest_digest, config, layers) and the config's
 * size, and stores the manifest in the cache.
 */
int oci_resolve(oci_manifest_get_fn get, void *ud, const char *ref, uint64_t size,
                const struct oci_pull_opts *opts, const char *what, struct oci_image *img,
                uint64_t *ret_config_size, struct error *err) WUR;

/* Emits a progress event when opts has a callback. */
void oci_progress_emit(const struct oci_pull_opts *opts, const char *digest, bool is_layer,
                       enum oci_progress_state state, uint64_t done, uint64_t total);

/* ---- sources --------------------------------------------------------------- */

int oci_registry_pull(const struct oci_ref *ref, const struct oci_pull_opts *opts,
                      struct oci_image *ret, struct error *err) WUR;
int oci_layout_pull(const char *dir, const char *tag, const struct oci_pull_opts *opts,
                    struct oci_image *ret, struct error *err) WUR;
/* ref: NULL, a reference matched against the RepoTags, or "@N" (archive.c). */
int oci_archive_pull(const char *file, const char *ref, const struct oci_pull_opts *opts,
                     struct oci_image *ret, struct error *err) WUR;

/*
 * The value of header `name` in one header line as libcurl hands it over
 * ("Name: value\r\n", the name case-insensitive), white space trimmed; NULL
 * for another header or a value over 8 KiB. Caller frees.
 */
char *oci_header_value(const char *line, size_t len, const char *name);

/*
 * A registry's WWW-Authenticate challenge: "Basic ..." or "Bearer" with its
 * realm and service auth-params (quoted or not, other params ignored; values
 * cut at the buffers' size). An unknown scheme gives OCI_AUTH_UNKNOWN; the
 * caller checks that the realm is a URL.
 */
enum oci_auth_scheme { OCI_AUTH_UNKNOWN, OCI_AUTH_BASIC, OCI_AUTH_BEARER };
struct oci_challenge {
    enum oci_auth_scheme scheme;
    char realm[1024];
    char service[512];
};
void oci_challenge_parse(const char *challenge, struct oci_challenge *ret);

/* "http://host" for loopback and opts->insecure registries, else "https://host". Caller frees. */
char *oci_registry_base_url(const struct oci_pull_opts *opts, const char *host);
/* True for localhost, 127.0.0.0/8 and ::1 (with or without a port). */
bool oci_host_is_loopback(const char *host);

#endif
