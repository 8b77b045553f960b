/*
 * engine resolve: the names of things, which every other engine file may
 * use. A reference (an exact uid, an exact name, or a unique prefix of
 * either) resolved to an object's uid, whether an object exists, and which
 * VM states are active. The word messages use for a kind is api_kind_word.
 */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

int engine_resolve(engine *e, enum api_kind kind, const char *ref, char *ret_uid,
                   struct error *err) {
    const char *word = api_kind_word(kind);
    if (!ref || !*ref)
        return error_set(err, -EINVAL, "an empty %s reference matches nothing", word);
    if (strlen(ref) > API_STRING_MAX)
        return error_set(err, -EINVAL, "%s reference is too long", word);

    /* An exact uid, then an exact name, win over any prefix match. */
    if (id_is_valid(ref)) {
        struct api_object *obj = NULL;
        int r = store_object_get(e->store, kind, ref, &obj, err);
        if (r == 0) {
            api_object_free(obj);
            memcpy(ret_uid, ref, ID_LEN + 1);
            return 0;
        }
        if (r != -ENOENT)
            return r;
    }
    char uid[ID_LEN + 1];
    int r = store_object_find_name(e->store, kind, ref, uid, err);
    if (r == 0) {
        memcpy(ret_uid, uid, ID_LEN + 1);
        return 0;
    }
    if (r != -ENOENT)
        return r;

    struct store_match *m = NULL;
    size_t n = 0;
    r = store_object_match(e->store, kind, ref, ENGINE_MATCH_MAX + 1, &m, &n, err);
    if (r < 0)
        return r;
    if (n == 0) {
        store_matches_free(m, n);
        return error_set(err, -ENOENT, "no %s matches '%s'", word, ref);
    }
    if (n == 1) {
        memcpy(ret_uid, m[0].uid, ID_LEN + 1);
        store_matches_free(m, n);
        return 0;
    }
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    r = strbuf_addf(&sb, "'%s' is ambiguous: it matches", ref);
    for (size_t i = 0; i < n && i < ENGINE_MATCH_MAX && r == 0; i++)
        r = strbuf_addf(&sb, "%s %s '%s' (%s)", i ? "," : "", word, m[i].name ? m[i].name : "",
                        m[i].uid);
    if (r == 0 && n > ENGINE_MATCH_MAX)
        r = strbuf_adds(&sb, ", and more");
    store_matches_free(m, n);
    if (r < 0)
        return error_oom(err);
    return error_set(err, -EINVAL, "%s; give more of the name or id", sb.buf);
}

int engine_resolve_get(engine *e, enum api_kind kind, const char *ref, char *ret_uid,
                       struct api_object **ret, struct error *err) {
    int r = engine_resolve(e, kind, ref, ret_uid, err);
    return r < 0 ? r : store_object_get(e->store, kind, ret_uid, ret, err);
}

int engine_object_exists(engine *e, enum api_kind kind, const char *uid, bool *ret,
                         struct error *err) {
    struct api_object *obj = NULL;
    int r = store_object_get(e->store, kind, uid, &obj, err);
    if (r == -ENOENT) {
        error_init(err);
        *ret = false;
        return 0;
    }
    if (r < 0)
        return r;
    api_object_free(obj);
    *ret = true;
    return 0;
}
