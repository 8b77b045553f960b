/*
 * Fuzz target: OCI and Docker image manifests and indexes as a registry, an
 * OCI layout or a docker-save archive hands them over (src/oci/manifest.c):
 * telling which it is (from mediaType, else the Content-Type, tried as
 * none, an index's and a manifest's), picking an index's entry for
 * linux/amd64 and linux/arm64, and reading a manifest's config and layers.
 * What is accepted stays within OCI_LAYERS_MAX layers of verified digests
 * and sizes.
 */
#include <errno.h>

#include "fuzz.h"
#include "oci/pull_priv.h"

#define DIGEST "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void check_index(json_t *index, const char *os, const char *arch) {
    struct oci_platform plat;
    snprintf(plat.os, sizeof(plat.os), "%s", os);
    snprintf(plat.arch, sizeof(plat.arch), "%s", arch);
    char *digest = NULL;
    uint64_t size = 0;
    struct error err;
    error_init(&err);
    int r = oci_index_select(index, &plat, "fuzz", &digest, &size, &err);
    fuzz_check(r == 0 || err.msg[0], "oci_index_select returned %d without a message", r);
    if (r == 0) {
        char hex[OCI_DIGEST_HEX_LEN + 1];
        fuzz_check(oci_digest_parse(digest, hex, NULL) == 0, "selected '%s'", digest);
        fuzz_check(size <= OCI_BLOB_MAX, "selected size %llu", (unsigned long long)size);
        free(digest);
    }
}

static void check_manifest(json_t *manifest) {
    struct oci_image img = {0};
    uint64_t config_size = 0;
    struct error err;
    error_init(&err);
    int r = oci_manifest_to_image(manifest, DIGEST, "fuzz", &img, &config_size, &err);
    fuzz_check(r == 0 || err.msg[0], "oci_manifest_to_image returned %d without a message", r);
    if (r == 0) {
        char hex[OCI_DIGEST_HEX_LEN + 1];
        uint64_t total = 0;
        fuzz_check(img.n_layers <= OCI_LAYERS_MAX, "%zu layers", img.n_layers);
        fuzz_check(config_size <= OCI_MANIFEST_MAX, "config of %llu bytes",
                   (unsigned long long)config_size);
        fuzz_check(oci_digest_parse(img.config_digest, hex, NULL) == 0, "config '%s'",
                   img.config_digest);
        for (size_t i = 0; i < img.n_layers; i++) {
            fuzz_check(oci_digest_parse(img.layers[i].digest, hex, NULL) == 0, "layer '%s'",
                       img.layers[i].digest);
            fuzz_check(img.layers[i].media_type, "layer without a media type");
            total += img.layers[i].size;
        }
        fuzz_check(total == img.size, "layers add up to %llu, the image says %llu",
                   (unsigned long long)total, (unsigned long long)img.size);
    }
    oci_image_release(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const content_types[] = {
        NULL, "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json"};
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
        json_t *j = NULL;
        enum oci_manifest_kind kind;
        struct error err;
        error_init(&err);
        int r =
            oci_manifest_load((const char *)data, size, content_types[i], "fuzz", &j, &kind, &err);
        fuzz_check(r == 0 || err.msg[0], "oci_manifest_load returned %d without a message", r);
        if (r < 0)
            continue;
        if (kind == OCI_KIND_INDEX) {
            check_index(j, "linux", "amd64");
            check_index(j, "linux", "arm64");
        } else {
            check_manifest(j);
        }
        json_decref(j);
    }
    return 0;
}
