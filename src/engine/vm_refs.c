/*
 * engine vm refs: the image and the kernel a VM names, found as `docker run`
 * finds an image: in this root first, by uid, by name, by the normalised
 * reference ("busybox" is "busybox:latest", a tag defaults to latest), then
 * by uid prefix ("d0f366"); only a reference that matches nothing here is
 * pulled, and a failed pull says that nothing here matched. A `localhost/`
 * reference is a local source's name (how hearth names layouts and
 * archives) and is never pulled. An image or kernel recorded here without
 * its data (applied from an export) is imported again from its
 * spec.ociClaim.ref (restore.c).
 *
 * Also what a VM's status records of them (status.image, status.kernel).
 */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

void engine_vm_notice_add(struct engine_vm_create_result *ret, const char *line) {
    size_t len = strlen(ret->notice);
    snprintf(ret->notice + len, sizeof(ret->notice) - len, "%s%s", len ? "\n" : "", line);
}

int engine_object_find(engine *e, enum api_kind kind, const char *ref, char uid[ID_LEN + 1],
                       char **ret_name, struct error *err) {
    if (id_is_valid(ref)) { /* an object's uid */
        struct api_object *obj = NULL;
        int r = store_object_get(e->store, kind, ref, &obj, err);
        if (r == 0) {
            memcpy(uid, ref, ID_LEN + 1);
            *ret_name = xstrdup(obj->meta.name);
            api_object_free(obj);
            return *ret_name ? 1 : error_oom(err);
        }
        if (r != -ENOENT)
            return r;
        error_init(err);
    }
    int r = store_object_find_name(e->store, kind, ref, uid, err);
    if (r == 0)
        return (*ret_name = xstrdup(ref)) ? 1 : error_oom(err);
    if (r != -ENOENT)
        return r;
    error_init(err);
    struct oci_source src;
    char *name = NULL;
    if (engine_import_source(ref, &src, &name, err) < 0) {
        error_init(err);
        return 0; /* not a reference: only an exact name could match */
    }
    oci_source_release(&src);
    r = store_object_find_name(e->store, kind, name, uid, err);
    if (r == 0) {
        *ret_name = name;
        return 1;
    }
    free(name);
    if (r != -ENOENT)
        return r;
    error_init(err);
    return 0;
}

/* True for 1..16 lowercase hex digits: what may be a uid prefix. */
static bool is_uid_prefix(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The object whose uid starts with ref: 1 when one does, 0 when none; several are an error. */
static int find_uid_prefix(engine *e, enum api_kind kind, const char *ref, char uid[ID_LEN + 1],
                           char **ret_name, struct error *err) {
    if (!is_uid_prefix(ref))
        return 0;
    struct store_match *m = NULL;
    size_t n = 0;
    int r = store_object_match_uid(e->store, kind, ref, ENGINE_MATCH_MAX + 1, &m, &n, err);
    if (r < 0)
        return r;
    if (n == 1) {
        memcpy(uid, m[0].uid, ID_LEN + 1);
        *ret_name = xstrdup(m[0].name ? m[0].name : "");
        store_matches_free(m, n);
        return *ret_name ? 1 : error_oom(err);
    }
    if (n == 0) {
        store_matches_free(m, n);
        return 0;
    }
    const char *word = api_kind_word(kind);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    r = strbuf_addf(&sb, "'%s' is ambiguous: it matches", ref);
    for (size_t i = 0; i < n && i < ENGINE_MATCH_MAX && r == 0; i++)
        r = strbuf_addf(&sb, "%s %s '%s' (%s)", i ? "," : "", word, m[i].name ? m[i].name : "",
                        m[i].uid);
    store_matches_free(m, n);
    if (r < 0)
        return error_oom(err);
    return error_set(err, -EINVAL, "%s; give more of the id", sb.buf);
}

/*
 * " (here: 'a:1', 'a:2')": the objects of kind in this root with ref's
 * repository and another tag, or "" when there are none.
 */
static void same_repository(engine *e, enum api_kind kind, const char *ref, char *buf,
                            size_t size) {
    buf[0] = '\0';
    struct oci_source src;
    _cleanup_free_ char *name = NULL;
    struct error err;
    error_init(&err);
    if (engine_import_source(ref, &src, &name, &err) < 0)
        return;
    oci_source_release(&src);
    char *at = strchr(name, '@');
    if (at)
        *at = '\0';
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');
    if (colon)
        colon[1] = '\0'; /* "repo:" */
    struct store_match *m = NULL;
    size_t n = 0;
    if (store_object_match(e->store, kind, name, 4, &m, &n, &err) < 0)
        return;
    size_t len = 0;
    for (size_t i = 0; i < n && i < 3; i++)
        len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s'%s'",
                                i ? ", " : " (here: ", m[i].name ? m[i].name : "");
    if (n > 0 && len < size)
        snprintf(buf + len, size - len, "%s)", n > 3 ? ", ..." : "");
    store_matches_free(m, n);
}

int engine_vm_ref_resolve(engine *e, enum api_kind kind, const char *ref,
                          const struct engine_vm_create_opts *opts,
                          struct engine_vm_create_result *ret, char uid[ID_LEN + 1],
                          char **ret_name, struct error *err) {
    const char *word = api_kind_word(kind);
    const struct engine_import_opts *io = opts ? opts->import : NULL;
    int r = engine_object_find(e, kind, ref, uid, ret_name, err);
    if (r == 0)
        r = find_uid_prefix(e, kind, ref, uid, ret_name, err);
    if (r < 0)
        return r;
    struct engine_import_result res;
    char line[800];
    if (r == 1) {
        bool have = false;
        r = engine_object_has_data(e, kind, uid, &have, err);
        if (r < 0 || have)
            return r;
        if (opts && opts->stage)
            opts->stage(opts->ud, kind == API_KIND_IMAGE ? "Importing image" : "Importing kernel");
        r = engine_object_restore(e, kind, uid, io, &res, err);
        if (r < 0)
            return r;
        if (res.notice[0])
            engine_vm_notice_add(ret, res.notice);
        snprintf(line, sizeof(line), "imported %s '%s' (%s) again: this root had only its record",
                 word, res.name, res.uid);
        engine_vm_notice_add(ret, line);
        if (res.warning[0])
            engine_vm_notice_add(ret, res.warning);
        return 0;
    }

    char here[400];
    same_repository(e, kind, ref, here, sizeof(here));
    if (engine_ref_is_local(ref))
        return error_set(err, -ENOENT,
                         "no local %s matches '%s'%s; a localhost/ name is a local image's, which "
                         "is not pulled: import it with 'hearth %s import oci-layout:DIR[:TAG]'",
                         word, ref, here, word);
    if (opts && opts->stage)
        opts->stage(opts->ud, kind == API_KIND_IMAGE ? "Importing image" : "Importing kernel");
    r = kind == API_KIND_IMAGE ? engine_image_import(e, ref, io, &res, err)
                               : engine_kernel_import(e, ref, io, &res, err);
    if (r == -ECANCELED)
        return r;
    if (r < 0)
        return error_prefix(err, "no local %s matches '%s' (by name, tag or id)%s; importing it",
                            word, ref, here);
    memcpy(uid, res.uid, ID_LEN + 1);
    *ret_name = xstrdup(res.name);
    if (!*ret_name)
        return error_oom(err);
    if (res.notice[0])
        engine_vm_notice_add(ret, res.notice);
    snprintf(line, sizeof(line), "imported %s '%s' (%s)", word, res.name, res.uid);
    engine_vm_notice_add(ret, line);
    if (res.warning[0])
        engine_vm_notice_add(ret, res.warning);
    return 0;
}

int engine_vm_kernel_newest(engine *e, char uid[ID_LEN + 1], char **ret_name, struct error *err) {
    struct api_object **objs = NULL;
    size_t n = 0;
    int r = store_object_list(e->store, API_KIND_KERNEL, &objs, &n, err);
    if (r < 0)
        return r;
    r = 0;
    if (n > 0) {
        const struct api_object *k = objs[n - 1];
        memcpy(uid, k->meta.uid, ID_LEN + 1);
        *ret_name = xstrdup(k->meta.name);
        r = *ret_name ? 1 : error_oom(err);
    }
    api_objects_free(objs, n);
    return r;
}

void engine_vm_source_clear(struct api_vm_image_source *dst) {
    free(dst->source.id);
    for (size_t i = 0; i < dst->source.n_repo_digests; i++)
        free(dst->source.repo_digests[i]);
    free(dst->source.repo_digests);
    free(dst->internal_uid);
    memset(dst, 0, sizeof(*dst));
}

int engine_vm_source_fill(engine *e, enum api_kind kind, const char *uid,
                          struct api_vm_image_source *dst, struct error *err) {
    _cleanup_object_ struct api_object *obj = NULL;
    int r = store_object_get(e->store, kind, uid, &obj, err);
    if (r < 0)
        return r;
    const struct api_oci_source *s =
        kind == API_KIND_IMAGE ? &obj->u.image.source : &obj->u.kernel.source;
    free(dst->source.id);
    free(dst->internal_uid);
    dst->source.id = xstrdup(s->id ? s->id : "");
    dst->source.size = s->size;
    dst->internal_uid = xstrdup(uid);
    return dst->source.id && dst->internal_uid ? 0 : error_oom(err);
}
