/*
 * engine_apply: creating and updating objects from documents, kubectl-apply
 * style. All documents of one call go into one store transaction (BEGIN
 * IMMEDIATE), so they apply together or not at all, and so that racing
 * applies of one name serialize: the name lookup and the insert happen under
 * the same write lock, and the UNIQUE constraint on names is the backstop.
 * A batch (engine_apply_batch_*) is that transaction with the documents
 * handed in one at a time, so that a caller reading a file need not hold
 * all of them; engine_apply is a batch over an array.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

/* Attempts at a random VM name that no VM has yet; the later ones get a suffix. */
#define NAME_ATTEMPTS 64
#define NAME_PLAIN_ATTEMPTS 8

const char *engine_apply_action_name(enum engine_apply_action a) {
    switch (a) {
    case ENGINE_APPLY_CREATED:
        return "created";
    case ENGINE_APPLY_CONFIGURED:
        return "configured";
    case ENGINE_APPLY_UNCHANGED:
        return "unchanged";
    }
    return "?";
}

static int set_string(char **field, const char *value, struct error *err) {
    char *copy = xstrdup(value);
    if (!copy)
        return error_oom(err);
    free(*field);
    *field = copy;
    return 0;
}

void engine_apply_skipped_describe(unsigned skipped, size_t n_docs, char *buf, size_t size) {
    static const struct {
        unsigned bit;
        const char *what;
    } items[] = {
        {ENGINE_APPLY_SKIP_DEVICES, "Pool status.devices (devices are made by hearth, here)"},
        {ENGINE_APPLY_SKIP_POOL_PATHS, "Pool paths of another root (this root's are recorded)"},
        {ENGINE_APPLY_SKIP_STATE, "VM status.state of a running VM (recorded Stopped)"},
        {ENGINE_APPLY_SKIP_ADDRESSES, "VM status.ipAddresses"},
        {ENGINE_APPLY_SKIP_SOURCES, "VM status.image/kernel (taken from this root's objects)"},
    };
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
        if (!(skipped & items[i].bit))
            continue;
        if (len == 0)
            len = (size_t)snprintf(buf, size,
                                   "apply: %zu document%s carried runtime state of another root, "
                                   "which was skipped: ",
                                   n_docs, n_docs == 1 ? "" : "s");
        else if (len < size)
            len += (size_t)snprintf(buf + len, size - len, ", ");
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s", items[i].what);
    }
}

/* Gives a VM without a name a random adjective-noun name no VM has. */
int engine_vm_name_generate(engine *e, struct api_object *obj, struct error *err) {
    for (int i = 0; i < NAME_ATTEMPTS; i++) {
        char name[64];
        char uid[ID_LEN + 1];
        int r = name_generate(name, sizeof(name));
        if (r < 0)
            return error_set(err, r, "cannot generate a vm name: %s", strerror(-r));
        /* 4,096 adjective-noun pairs run out in a big root: after a few
         * collisions add a number, as Docker does. */
        if (i >= NAME_PLAIN_ATTEMPTS) {
            char id[ID_LEN + 1];
            if ((r = id_generate(id)) < 0)
                return error_set(err, r, "cannot generate a vm name: %s", strerror(-r));
            size_t len = strlen(name);
            snprintf(name + len, sizeof(name) - len, "-%.4s", id);
        }
        r = store_object_find_name(e->store, API_KIND_VM, name, uid, err);
        if (r == -ENOENT) {
            error_init(err);
            return set_string(&obj->meta.name, name, err);
        }
        if (r < 0)
            return r;
    }
    return error_set(err, -EEXIST, "no free vm name found after %d attempts; give the vm a name",
                     NAME_ATTEMPTS);
}

/* True if both objects encode to the same JSON. */
static int objects_equal(const struct api_object *a, const struct api_object *b, bool *ret,
                         struct error *err) {
    json_t *ja = api_object_to_json(a);
    json_t *jb = api_object_to_json(b);
    if (!ja || !jb) {
        json_decref(ja);
        json_decref(jb);
        return error_oom(err);
    }
    *ret = json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return 0;
}

/*
 * Finds the object obj will replace, by uid if it has one, else by name, and
 * fills obj's uid for a new object. *ret_existing stays NULL for a new object.
 */
static int match_existing(engine *e, struct api_object *obj, struct api_object **ret_existing,
                          struct error *err) {
    const char *word = api_kind_word(obj->kind);
    char named_uid[ID_LEN + 1];
    int r = store_object_find_name(e->store, obj->kind, obj->meta.name, named_uid, err);
    if (r == -ENOENT) {
        error_init(err);
        named_uid[0] = '\0';
    } else if (r < 0) {
        return r;
    }

    if (obj->meta.uid) {
        if (named_uid[0] && strcmp(named_uid, obj->meta.uid) != 0)
            return error_set(err, -EEXIST,
                             "%s '%s' already exists with uid %s (the document has uid %s)", word,
                             obj->meta.name, named_uid, obj->meta.uid);
        r = store_object_get(e->store, obj->kind, obj->meta.uid, ret_existing, err);
        if (r == -ENOENT) {
            error_init(err);
            *ret_existing = NULL;
            return 0;
        }
        return r;
    }

    if (named_uid[0]) {
        r = set_string(&obj->meta.uid, named_uid, err);
        if (r < 0)
            return r;
        return store_object_get(e->store, obj->kind, named_uid, ret_existing, err);
    }

    char uid[ID_LEN + 1];
    r = id_generate(uid);
    if (r < 0)
        return error_set(err, r, "cannot generate an id: %s", strerror(-r));
    *ret_existing = NULL;
    return set_string(&obj->meta.uid, uid, err);
}

/* Applies one prepared object inside the open transaction. */
static int apply_one(engine *e, struct api_object *obj, int64_t now,
                     struct engine_apply_result *res, struct error *err) {
    _cleanup_object_ struct api_object *existing = NULL;
    int r;

    if (obj->kind == API_KIND_POOL) {
        r = engine_pool_apply_check(e, obj, &res->skipped, err); /* devices are never applied */
        if (r < 0)
            return r;
        r = store_object_get(e->store, API_KIND_POOL, NULL, &existing, err);
        if (r == -ENOENT)
            error_init(err);
        else if (r < 0)
            return r;
    } else {
        r = match_existing(e, obj, &existing, err);
        if (r < 0)
            return r;
        if (obj->meta.created == API_TIME_NONE)
            obj->meta.created = existing ? existing->meta.created : now;
    }

    if (obj->kind == API_KIND_VM) {
        /* status is this root's runtime state; a disk keeps what it was built from */
        r = engine_vm_apply_prepare(e, obj, existing, &res->skipped, err);
        if (r < 0)
            return r;
    }

    res->kind = obj->kind;
    if (obj->kind != API_KIND_POOL) {
        snprintf(res->name, sizeof(res->name), "%s", obj->meta.name);
        snprintf(res->uid, sizeof(res->uid), "%s", obj->meta.uid);
    }
    if (existing) {
        bool same = false;
        r = objects_equal(existing, obj, &same, err);
        if (r < 0)
            return r;
        if (same) {
            res->action = ENGINE_APPLY_UNCHANGED;
            return 0;
        }
        enum api_vm_state st = obj->kind == API_KIND_VM ? existing->u.vm.state : API_VM_STATE_NONE;
        if (st == API_VM_CREATING || st == API_VM_REMOVING)
            return error_set(err, -EBUSY, "vm '%s' is being %s; apply again when it is done",
                             obj->meta.name, st == API_VM_CREATING ? "created" : "removed");
        res->action = ENGINE_APPLY_CONFIGURED;
    } else {
        res->action = ENGINE_APPLY_CREATED;
    }

    _cleanup_free_ char *opname = xasprintf("%s.apply", api_kind_word(obj->kind));
    if (!opname)
        return error_oom(err);
    int64_t op = 0;
    r = store_op_begin(e->store, opname, obj->kind,
                       obj->kind == API_KIND_POOL ? NULL : obj->meta.uid,
                       engine_apply_action_name(res->action), &op, err);
    if (r < 0)
        return r;
    r = store_object_put(e->store, obj, err);
    if (r < 0)
        return r;
    return store_op_finish(e->store, op, NULL, err);
}

/* ---- batches ----------------------------------------------------------- */

struct engine_apply_batch {
    engine *e;
    int64_t now; /* metadata.created of new objects */
    size_t n;    /* objects added */
    bool open;   /* the transaction is open */
};

int engine_apply_batch_begin(engine *e, engine_apply_batch **ret, struct error *err) {
    engine_apply_batch *b = xcalloc(1, sizeof(*b));
    if (!b)
        return error_oom(err);
    int r = store_begin(e->store, err);
    if (r < 0) {
        free(b);
        return r;
    }
    b->e = e;
    b->now = time(NULL);
    b->open = true;
    *ret = b;
    return 0;
}

/* One object inside the open transaction: defaults, name, validation, apply_one. */
static int batch_add(engine_apply_batch *b, const struct api_object *src,
                     struct engine_apply_result *res, struct error *err) {
    engine *e = b->e;
    if (b->n >= API_DOCS_MAX)
        return error_set(err, -E2BIG, "more than %d documents in one apply", API_DOCS_MAX);
    _cleanup_object_ struct api_object *obj = api_object_dup(src);
    if (!obj)
        return error_oom(err);
    int r = api_object_set_defaults(obj, e->root);
    if (r < 0)
        return error_set(err, r, "out of memory");
    if (obj->kind == API_KIND_VM && (!obj->meta.name || !*obj->meta.name)) {
        r = engine_vm_name_generate(e, obj, err);
        if (r < 0)
            return r;
    }
    r = api_object_validate(obj, err);
    if (r < 0) {
        if (obj->kind != API_KIND_POOL && obj->meta.name && *obj->meta.name)
            error_prefix(err, "%s '%s'", api_kind_word(obj->kind), obj->meta.name);
        else
            error_prefix(err, "%s", api_kind_word(obj->kind));
        return r;
    }
    r = apply_one(e, obj, b->now, res, err);
    if (r == 0)
        b->n++;
    return r;
}

int engine_apply_batch_add(engine_apply_batch *b, const struct api_object *obj,
                           struct engine_apply_result *ret, struct error *err) {
    if (!b->open)
        return error_set(err, -EINVAL, "the apply was already committed or failed");
    struct engine_apply_result res = {0};
    int r = batch_add(b, obj, &res, err);
    if (r < 0) {
        store_rollback(b->e->store);
        b->open = false;
        return r;
    }
    if (ret)
        *ret = res;
    return 0;
}

int engine_apply_batch_commit(engine_apply_batch *b, struct error *err) {
    if (!b->open)
        return error_set(err, -EINVAL, "the apply was already committed or failed");
    b->open = false;
    int r = store_commit(b->e->store, err);
    if (r < 0)
        store_rollback(b->e->store);
    return r;
}

void engine_apply_batch_free(engine_apply_batch *b) {
    if (!b)
        return;
    if (b->open)
        store_rollback(b->e->store);
    free(b);
}

/* One attempt: the whole transaction. */
static int apply_once(engine *e, struct api_object *const *objs, size_t n,
                      struct engine_apply_result *results, size_t *ret_failed, struct error *err) {
    engine_apply_batch *b = NULL;
    int r = engine_apply_batch_begin(e, &b, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        *ret_failed = i;
        r = engine_apply_batch_add(b, objs[i], &results[i], err);
    }
    if (r == 0) {
        *ret_failed = n;
        r = engine_apply_batch_commit(b, err);
    }
    engine_apply_batch_free(b);
    return r;
}

int engine_apply(engine *e, struct api_object *const *objs, size_t n,
                 struct engine_apply_result **ret_results, size_t *ret_failed, struct error *err) {
    struct error local;
    if (!err) {
        error_init(&local);
        err = &local;
    }
    if (n > API_DOCS_MAX)
        return error_set(err, -E2BIG, "%zu documents are more than the limit of %d", n,
                         API_DOCS_MAX);
    struct engine_apply_result *results = xcalloc(n ? n : 1, sizeof(*results));
    if (!results)
        return error_oom(err);

    size_t failed = n;
    int r = apply_once(e, objs, n, results, &failed, err);
    if (r == -EEXIST && !strstr(err->msg, "already exists with uid")) {
        /* The UNIQUE constraint caught a race the name lookup did not see
         * (another writer committed between our lookup and insert, which
         * BEGIN IMMEDIATE should prevent): try the whole transaction again,
         * which now matches the other writer's object by name. */
        error_init(err);
        memset(results, 0, (n ? n : 1) * sizeof(*results));
        failed = n;
        r = apply_once(e, objs, n, results, &failed, err);
    }
    if (r < 0) {
        free(results);
        if (ret_failed)
            *ret_failed = failed;
        return r;
    }
    *ret_results = results;
    return 0;
}
