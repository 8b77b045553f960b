/*
 * oci_pull: prepares the blob cache and hands the source to its puller
 * (registry.c, layout.c, archive.c); on failure nothing it returned is kept.
 */
#include <errno.h>
#include <string.h>

#include "oci/pull_priv.h"

void oci_image_release(struct oci_image *img) {
    if (!img)
        return;
    free(img->manifest_digest);
    free(img->config_digest);
    free(img->repo_digest);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].digest);
        free(img->layers[i].media_type);
    }
    free(img->layers);
    free(img->os);
    free(img->arch);
    memset(img, 0, sizeof(*img));
}

int oci_pull(const struct oci_source *src, const struct oci_pull_opts *opts, struct oci_image *ret,
             struct error *err) {
    struct oci_image img = {0};
    int r = oci_cache_prepare(opts->cache_dir, err);
    if (r < 0)
        return r;
    switch (src->kind) {
    case OCI_SOURCE_REGISTRY:
        r = oci_registry_pull(&src->ref, opts, &img, err);
        break;
    case OCI_SOURCE_LAYOUT:
        r = oci_layout_pull(src->path, src->tag, opts, &img, err);
        break;
    case OCI_SOURCE_ARCHIVE:
        r = oci_archive_pull(src->path, src->tag, opts, &img, err);
        break;
    default:
        r = error_set(err, -EINVAL, "unknown image source kind %d", (int)src->kind);
    }
    if (r == 0 && opts->cancel && *opts->cancel)
        r = error_set(err, -ECANCELED, "pull cancelled");
    if (r == 0)
        r = oci_image_read_config(&img, opts->cache_dir, err);
    if (r < 0) {
        oci_image_release(&img);
        return r;
    }
    *ret = img;
    return 0;
}
