/*
 * The JSON codec: api_object <-> jansson tree with the seed's field names,
 * nesting and order (kind, apiVersion, metadata, spec, status).
 *
 * Encoding writes every field Go's encoding/json would write for Ignite's
 * types, also when empty ("id": "", "size": "0B"), and leaves out exactly the
 * omitempty ones, so that an Ignite document decodes and encodes back to the
 * same tree.
 *
 * Decoding is strict: an unknown field, a wrong type or a value past a limit
 * is an error naming the field's path. null is accepted wherever Go would
 * accept it (it leaves the field unset). Decoding neither defaults nor
 * validates.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api/api_priv.h"

/* ---- encoding ----------------------------------------------------------- */

/* A JSON string for s (NULL is ""). Bytes that are not UTF-8 become '?'. */
static json_t *enc_str(const char *s) {
    if (!s)
        s = "";
    json_t *v = json_string(s);
    if (v)
        return v;
    size_t n = strlen(s);
    _cleanup_free_ char *copy = xstrndup(s, n);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    }
    return json_string(copy);
}

static json_t *enc_size(uint64_t bytes) {
    char buf[32];
    api_size_format(bytes, buf, sizeof(buf));
    return json_string(buf);
}

/* Adds value under key; value may be NULL (OOM). The value's reference is
 * always consumed. False on failure. */
static bool put(json_t *obj, const char *key, json_t *value) {
    if (!value)
        return false;
    return json_object_set_new(obj, key, value) == 0;
}

/* Appends value (consumed; NULL: OOM) to the array a (NULL: OOM). False on failure. */
static bool append(json_t *a, json_t *value) {
    if (!a) {
        json_decref(value);
        return false;
    }
    return json_array_append_new(a, value) == 0;
}

/* What an encoder returns: v when ok, else NULL with v released (v may be NULL). */
static json_t *enc_done(json_t *v, bool ok) {
    if (ok)
        return v;
    json_decref(v);
    return NULL;
}

static json_t *enc_strv(char *const *v, size_t n) {
    json_t *a = json_array();
    bool ok = a != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = append(a, enc_str(v[i]));
    return enc_done(a, ok);
}

static json_t *enc_kv(const struct api_kv *kv, size_t n) {
    json_t *o = json_object();
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = put(o, kv[i].key ? kv[i].key : "", enc_str(kv[i].value));
    return enc_done(o, ok);
}

static json_t *enc_meta(const struct api_meta *m) {
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = put(o, "name", enc_str(m->name));
    if (ok && m->uid && *m->uid)
        ok = put(o, "uid", enc_str(m->uid));
    if (ok) {
        if (m->created == API_TIME_NONE) {
            ok = put(o, "created", json_null());
        } else {
            char t[32];
            time_format_rfc3339(m->created, t);
            ok = put(o, "created", json_string(t));
        }
    }
    if (ok && m->n_labels)
        ok = put(o, "labels", enc_kv(m->labels, m->n_labels));
    if (ok && m->n_annotations)
        ok = put(o, "annotations", enc_kv(m->annotations, m->n_annotations));
    return enc_done(o, ok);
}

static json_t *enc_claim(const struct api_oci_claim *c) {
    if (!c)
        return json_null();
    json_t *o = json_object();
    return enc_done(o, o && put(o, "type", enc_str(c->type)) && put(o, "ref", enc_str(c->ref)));
}

/* OCIImageSource's fields into o (VMImageSource has them inline). */
static bool enc_source_into(json_t *o, const struct api_oci_source *s) {
    bool ok = put(o, "id", enc_str(s->id)) && put(o, "size", enc_size(s->size));
    if (ok && s->n_repo_digests)
        ok = put(o, "repoDigests", enc_strv(s->repo_digests, s->n_repo_digests));
    return ok;
}

static json_t *enc_source(const struct api_oci_source *s) {
    json_t *o = json_object();
    return enc_done(o, o && enc_source_into(o, s));
}

static json_t *enc_vm_source(const struct api_vm_image_source *s) {
    json_t *o = json_object();
    return enc_done(o, o && enc_source_into(o, &s->source) &&
                           put(o, "internalUID", enc_str(s->internal_uid)));
}

/* Wraps one field: {"key": value}. */
static json_t *enc_wrap(const char *key, json_t *value) {
    json_t *o = json_object();
    if (o && put(o, key, value))
        return o;
    if (!o)
        json_decref(value);
    json_decref(o);
    return NULL;
}

static json_t *enc_port(const struct api_port *p) {
    json_t *o = json_object();
    bool ok = o && put(o, "hostPort", json_integer((json_int_t)p->host_port)) &&
              put(o, "vmPort", json_integer((json_int_t)p->vm_port));
    if (ok && p->protocol && strcmp(p->protocol, "tcp") != 0)
        ok = put(o, "protocol", enc_str(p->protocol));
    if (ok && p->bind_address)
        ok = put(o, "bindAddress", enc_str(p->bind_address));
    return enc_done(o, ok);
}

static json_t *enc_copy_file(const struct api_file_mapping *c) {
    json_t *o = json_object();
    return enc_done(o, o && put(o, "hostPath", enc_str(c->host_path)) &&
                           put(o, "vmPath", enc_str(c->vm_path)));
}

static json_t *enc_ports(const struct api_vm *vm) {
    json_t *a = json_array();
    bool ok = a != NULL;
    for (size_t i = 0; ok && i < vm->n_ports; i++)
        ok = append(a, enc_port(&vm->ports[i]));
    return enc_done(a, ok);
}

static json_t *enc_copy_files(const struct api_vm *vm) {
    json_t *a = json_array();
    bool ok = a != NULL;
    for (size_t i = 0; ok && i < vm->n_copy_files; i++)
        ok = append(a, enc_copy_file(&vm->copy_files[i]));
    return enc_done(a, ok);
}

static bool enc_vm(json_t *root, const struct api_vm *vm) {
    json_t *spec = json_object();
    if (!put(root, "spec", spec))
        return false;
    if (!put(spec, "image", enc_wrap("ociClaim", enc_claim(vm->image_claim))))
        return false;
    json_t *kernel = enc_wrap("ociClaim", enc_claim(vm->kernel_claim));
    if (!put(spec, "kernel", kernel))
        return false;
    if (vm->cmdline && *vm->cmdline && !put(kernel, "cmdLine", enc_str(vm->cmdline)))
        return false;
    if (!put(spec, "cpus", json_integer((json_int_t)vm->cpus)) ||
        !put(spec, "memory", enc_size(vm->memory)) ||
        !put(spec, "diskSize", enc_size(vm->disk_size)) ||
        !put(spec, "networkMode", enc_str(vm->network_mode)))
        return false;
    if (vm->n_ports && !put(spec, "ports", enc_ports(vm)))
        return false;
    if (vm->n_copy_files && !put(spec, "copyFiles", enc_copy_files(vm)))
        return false;
    if (vm->has_ssh) {
        json_t *ssh = json_object();
        if (!put(spec, "ssh", ssh))
            return false;
        if (vm->ssh_public_key && *vm->ssh_public_key &&
            !put(ssh, "publicKey", enc_str(vm->ssh_public_key)))
            return false;
    }

    json_t *status = json_object();
    if (!put(root, "status", status) ||
        !put(status, "state", enc_str(api_vm_state_name(vm->state))))
        return false;
    if (vm->n_ip_addresses &&
        !put(status, "ipAddresses", enc_strv(vm->ip_addresses, vm->n_ip_addresses)))
        return false;
    return put(status, "image", enc_vm_source(&vm->status_image)) &&
           put(status, "kernel", enc_vm_source(&vm->status_kernel));
}

static bool enc_image(json_t *root, const struct api_image *im) {
    return put(root, "spec", enc_wrap("ociClaim", enc_claim(&im->claim))) &&
           put(root, "status", enc_wrap("ociSource", enc_source(&im->source)));
}

static bool enc_kernel(json_t *root, const struct api_kernel *k) {
    json_t *spec = json_object();
    return put(root, "spec", spec) && put(spec, "version", enc_str(k->version)) &&
           put(spec, "ociClaim", enc_claim(&k->claim)) &&
           put(root, "status", enc_wrap("ociSource", enc_source(&k->source)));
}

static json_t *enc_device(const struct api_pool_device *d) {
    if (!d->present)
        return json_null();
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_t *parent = d->parent == API_POOL_PARENT_NONE ? json_string("pool")
                                                       : json_integer((json_int_t)d->parent);
    return enc_done(o, put(o, "size", enc_size(d->size)) && put(o, "parent", parent) &&
                           put(o, "type", enc_str(d->type)) &&
                           put(o, "metadataPath", enc_str(d->metadata_path)));
}

static bool enc_pool(json_t *root, const struct api_pool *pool) {
    json_t *spec = json_object();
    if (!put(root, "spec", spec) || !put(spec, "metadataSize", enc_size(pool->metadata_size)) ||
        !put(spec, "dataSize", enc_size(pool->data_size)) ||
        !put(spec, "allocationSize", enc_size(pool->allocation_size)) ||
        !put(spec, "metadataPath", enc_str(pool->metadata_path)) ||
        !put(spec, "dataPath", enc_str(pool->data_path)))
        return false;
    json_t *devices = json_array();
    if (!put(root, "status", enc_wrap("devices", devices)))
        return false;
    for (size_t i = 0; i < pool->n_devices; i++) {
        if (!append(devices, enc_device(&pool->devices[i])))
            return false;
    }
    return true;
}

json_t *api_object_to_json(const struct api_object *obj) {
    if ((unsigned)obj->kind >= API_KIND_COUNT)
        return NULL;
    json_t *root = json_object();
    if (!root)
        return NULL;
    bool ok = put(root, "kind", json_string(api_kind_name(obj->kind))) &&
              put(root, "apiVersion", json_string(API_GROUP_VERSION));
    if (ok && obj->kind != API_KIND_POOL)
        ok = put(root, "metadata", enc_meta(&obj->meta));
    if (ok) {
        switch (obj->kind) {
        case API_KIND_VM:
            ok = enc_vm(root, &obj->u.vm);
            break;
        case API_KIND_IMAGE:
            ok = enc_image(root, &obj->u.image);
            break;
        case API_KIND_KERNEL:
            ok = enc_kernel(root, &obj->u.kernel);
            break;
        case API_KIND_POOL:
            ok = enc_pool(root, &obj->u.pool);
            break;
        case API_KIND_COUNT:
            ok = false;
            break;
        }
    }
    return enc_done(root, ok);
}

/* ---- decoding ----------------------------------------------------------- */

struct dec {
    struct api_path path;
    struct error *err;
};

/* A short description of v for "got ..." in messages. */
static const char *describe(const json_t *v, char *buf, size_t size) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return api_quote(json_string_value(v), buf, size);
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

static int dec_fail(struct dec *d, int code, const char *fmt, ...) PRINTF(3, 4);
static int dec_fail(struct dec *d, int code, const char *fmt, ...) {
    char msg[ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return error_set(d->err, code, "%s: %s", api_path_str(&d->path), msg);
}

static int dec_expected(struct dec *d, const char *what, const json_t *got) {
    char buf[API_QUOTE_MAX];
    return dec_fail(d, -EINVAL, "expected %s, got %s", what, describe(got, buf, sizeof(buf)));
}

/* Checks that v is an object whose keys are all in allowed (NULL-terminated). */
static int dec_object(struct dec *d, const json_t *v, const char *const *allowed) {
    if (!json_is_object(v))
        return dec_expected(d, "an object", v);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value) {
        bool known = false;
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(key, *a) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            char q[API_QUOTE_MAX];
            size_t old = api_path_push(&d->path, key);
            /* Keys with odd characters are quoted so the message stays readable. */
            bool plain = strnlen(key, 65) <= 64 && strspn(key, "abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789_-") == strlen(key);
            if (!plain) {
                api_path_pop(&d->path, old);
                api_path_push(&d->path, api_quote(key, q, sizeof(q)));
            }
            return dec_fail(d, -EINVAL, "unknown field");
        }
    }
    return 0;
}

/* The value under key, or NULL when absent or null. The path is pushed to key;
 * the caller pops it with the returned old length in *old. */
static const json_t *dec_field(struct dec *d, const json_t *obj, const char *key, size_t *old) {
    *old = api_path_push(&d->path, key);
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int dec_string_value(struct dec *d, const json_t *v, char **ret) {
    if (!json_is_string(v))
        return dec_expected(d, "a string", v);
    size_t len = json_string_length(v);
    if (len > API_STRING_MAX)
        return dec_fail(d, -EINVAL, "longer than %d characters", API_STRING_MAX);
    const char *s = json_string_value(v);
    if (strlen(s) != len)
        return dec_fail(d, -EINVAL, "contains a NUL character");
    char *copy = xstrndup(s, len);
    if (!copy)
        return error_oom(d->err);
    free(*ret);
    *ret = copy;
    return 0;
}

static int dec_string(struct dec *d, const json_t *obj, const char *key, char **ret) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    int r = v ? dec_string_value(d, v, ret) : 0;
    if (r == 0)
        api_path_pop(&d->path, old);
    return r;
}

/* status.state: one of the states' names, or null for none. */
static int dec_vm_state(struct dec *d, const json_t *status, enum api_vm_state *ret) {
    _cleanup_free_ char *s = NULL;
    size_t old;
    const json_t *v = dec_field(d, status, "state", &old);
    int r = v ? dec_string_value(d, v, &s) : 0;
    if (r < 0)
        return r;
    /* "" is none, as an unset state is written. */
    if (s && *s && api_vm_state_parse(s, ret) < 0) {
        char q[API_QUOTE_MAX];
        return dec_fail(d, -EINVAL, "%s is not a state (" API_VM_STATES_LIST ")",
                        api_quote(s, q, sizeof(q)));
    }
    api_path_pop(&d->path, old);
    return 0;
}

static int dec_size_value(struct dec *d, const json_t *v, uint64_t *ret) {
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return dec_expected(d, "a size", v);
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return dec_expected(d, "a size such as \"512MB\"", v);
    char q[API_QUOTE_MAX];
    int r = api_size_parse(json_string_value(v), ret);
    if (r == -ERANGE)
        return dec_fail(d, -EINVAL, "%s is too large a size",
                        api_quote(json_string_value(v), q, sizeof(q)));
    if (r < 0)
        return dec_fail(d, -EINVAL,
                        "%s is not a size (expected a number and a unit such as "
                        "\"512MB\" or \"4GB\")",
                        api_quote(json_string_value(v), q, sizeof(q)));
    return 0;
}

static int dec_size(struct dec *d, const json_t *obj, const char *key, uint64_t *ret) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    int r = v ? dec_size_value(d, v, ret) : 0;
    if (r == 0)
        api_path_pop(&d->path, old);
    return r;
}

static int dec_uint(struct dec *d, const json_t *obj, const char *key, uint64_t *ret) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return dec_expected(d, "a non-negative integer", v);
        *ret = (uint64_t)json_integer_value(v);
    }
    api_path_pop(&d->path, old);
    return 0;
}

/* A list field: returns the array (or NULL when absent) after type and size checks. */
static int dec_list(struct dec *d, const json_t *v, size_t max) {
    if (!json_is_array(v))
        return dec_expected(d, "a list", v);
    if (json_array_size(v) > max)
        return dec_fail(d, -EINVAL, "more than %zu entries", max);
    return 0;
}

/* An item decoder of dec_array: v is the item; the path already names it. */
typedef int (*dec_item_fn)(struct dec *d, const json_t *v, void *item);

/*
 * Decodes obj[key], when present, as a list of at most max items into a new
 * zeroed array of elements of size bytes, calling item for each. The array
 * is handed out (*ret, *ret_n) before its items are decoded, so that the
 * object's free releases what was decoded when an item fails.
 */
static int dec_array(struct dec *d, const json_t *obj, const char *key, size_t max, size_t size,
                     dec_item_fn item, void **ret, size_t *ret_n) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        int r = dec_list(d, v, max);
        if (r < 0)
            return r;
        size_t n = json_array_size(v);
        if (n) {
            void *arr = xcalloc(n, size);
            if (!arr)
                return error_oom(d->err);
            *ret = arr;
            *ret_n = n;
        }
        for (size_t i = 0; i < n; i++) {
            size_t o2 = api_path_push_index(&d->path, i);
            if ((r = item(d, json_array_get(v, i), (char *)*ret + i * size)) < 0)
                return r;
            api_path_pop(&d->path, o2);
        }
    }
    api_path_pop(&d->path, old);
    return 0;
}

static int dec_strv(struct dec *d, const json_t *obj, const char *key, char ***ret, size_t *ret_n) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        int r = dec_list(d, v, API_LIST_MAX);
        if (r < 0)
            return r;
        size_t n = json_array_size(v);
        if (n) {
            char **strv = xcalloc(n, sizeof(char *));
            if (!strv)
                return error_oom(d->err);
            api_strv_free(*ret, *ret_n);
            *ret = strv;
            *ret_n = n;
            for (size_t i = 0; i < n; i++) {
                size_t o2 = api_path_push_index(&d->path, i);
                r = dec_string_value(d, json_array_get(v, i), &strv[i]);
                if (r < 0)
                    return r;
                api_path_pop(&d->path, o2);
            }
        }
    }
    api_path_pop(&d->path, old);
    return 0;
}

static int dec_kv(struct dec *d, const json_t *obj, const char *key, struct api_kv **ret,
                  size_t *ret_n) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        if (!json_is_object(v))
            return dec_expected(d, "a map of strings", v);
        size_t n = json_object_size(v);
        if (n > API_LIST_MAX)
            return dec_fail(d, -EINVAL, "more than %d entries", API_LIST_MAX);
        if (n) {
            struct api_kv *kv = xcalloc(n, sizeof(*kv));
            if (!kv)
                return error_oom(d->err);
            *ret = kv;
            *ret_n = 0;
            const char *k;
            json_t *value;
            json_object_foreach((json_t *)v, k, value) {
                size_t o2 = api_path_push(&d->path, k);
                if (strlen(k) > API_STRING_MAX)
                    return dec_fail(d, -EINVAL, "key longer than %d characters", API_STRING_MAX);
                kv[*ret_n].key = xstrdup(k);
                if (!kv[*ret_n].key)
                    return error_oom(d->err);
                (*ret_n)++;
                int r = dec_string_value(d, value, &kv[*ret_n - 1].value);
                if (r < 0)
                    return r;
                api_path_pop(&d->path, o2);
            }
        }
    }
    api_path_pop(&d->path, old);
    return 0;
}

static const char *const meta_fields[] = {"name", "uid", "created", "labels", "annotations", NULL};

static int dec_meta(struct dec *d, const json_t *doc, struct api_meta *m) {
    size_t old;
    const json_t *v = dec_field(d, doc, "metadata", &old);
    if (!v) {
        api_path_pop(&d->path, old);
        return 0;
    }
    int r = dec_object(d, v, meta_fields);
    if (r < 0)
        return r;
    if ((r = dec_string(d, v, "name", &m->name)) < 0 || (r = dec_string(d, v, "uid", &m->uid)) < 0)
        return r;
    if (m->uid && !*m->uid) {
        free(m->uid); /* Go's omitempty: "" is no uid */
        m->uid = NULL;
    }
    size_t o2;
    const json_t *c = dec_field(d, v, "created", &o2);
    if (c) {
        if (!json_is_string(c))
            return dec_expected(d, "an RFC 3339 time such as \"2019-07-10T12:00:00Z\"", c);
        char q[API_QUOTE_MAX];
        if (time_parse_rfc3339(json_string_value(c), &m->created) < 0)
            return dec_fail(d, -EINVAL,
                            "%s is not an RFC 3339 time (like "
                            "\"2019-07-10T12:00:00Z\")",
                            api_quote(json_string_value(c), q, sizeof(q)));
    }
    api_path_pop(&d->path, o2);
    if ((r = dec_kv(d, v, "labels", &m->labels, &m->n_labels)) < 0 ||
        (r = dec_kv(d, v, "annotations", &m->annotations, &m->n_annotations)) < 0)
        return r;
    api_path_pop(&d->path, old);
    return 0;
}

static const char *const claim_fields[] = {"type", "ref", NULL};

static int dec_claim_value(struct dec *d, const json_t *v, struct api_oci_claim *c) {
    int r = dec_object(d, v, claim_fields);
    if (r < 0)
        return r;
    if ((r = dec_string(d, v, "type", &c->type)) < 0)
        return r;
    return dec_string(d, v, "ref", &c->ref);
}

static int dec_claim(struct dec *d, const json_t *obj, const char *key, struct api_oci_claim *c) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        int r = dec_claim_value(d, v, c);
        if (r < 0)
            return r;
    }
    api_path_pop(&d->path, old);
    return 0;
}

/* A pointer claim (VMImageSpec, VMKernelSpec): null stays NULL. */
static int dec_claim_ptr(struct dec *d, const json_t *obj, struct api_oci_claim **ret) {
    size_t old;
    const json_t *v = dec_field(d, obj, "ociClaim", &old);
    if (v) {
        if (!*ret) {
            *ret = xcalloc(1, sizeof(**ret));
            if (!*ret)
                return error_oom(d->err);
        }
        int r = dec_claim_value(d, v, *ret);
        if (r < 0)
            return r;
    }
    api_path_pop(&d->path, old);
    return 0;
}

static const char *const source_fields[] = {"id", "size", "repoDigests", NULL};
static const char *const vm_source_fields[] = {"id", "size", "repoDigests", "internalUID", NULL};

static int dec_source_fields(struct dec *d, const json_t *v, struct api_oci_source *s) {
    int r;
    if ((r = dec_string(d, v, "id", &s->id)) < 0 || (r = dec_size(d, v, "size", &s->size)) < 0)
        return r;
    return dec_strv(d, v, "repoDigests", &s->repo_digests, &s->n_repo_digests);
}

static int dec_source(struct dec *d, const json_t *obj, const char *key, struct api_oci_source *s) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        int r = dec_object(d, v, source_fields);
        if (r < 0 || (r = dec_source_fields(d, v, s)) < 0)
            return r;
    }
    api_path_pop(&d->path, old);
    return 0;
}

static int dec_vm_source(struct dec *d, const json_t *obj, const char *key,
                         struct api_vm_image_source *s) {
    size_t old;
    const json_t *v = dec_field(d, obj, key, &old);
    if (v) {
        int r = dec_object(d, v, vm_source_fields);
        if (r < 0 || (r = dec_source_fields(d, v, &s->source)) < 0 ||
            (r = dec_string(d, v, "internalUID", &s->internal_uid)) < 0)
            return r;
    }
    api_path_pop(&d->path, old);
    return 0;
}

/* Pushes key, checks it is an object of allowed fields; *ret NULL when absent. */
static int dec_sub(struct dec *d, const json_t *obj, const char *key, const char *const *allowed,
                   const json_t **ret, size_t *old) {
    const json_t *v = dec_field(d, obj, key, old);
    *ret = NULL;
    if (!v)
        return 0;
    int r = dec_object(d, v, allowed);
    if (r < 0)
        return r;
    *ret = v;
    return 0;
}

static const char *const port_fields[] = {"hostPort", "vmPort", "protocol", "bindAddress", NULL};
static const char *const file_fields[] = {"hostPath", "vmPath", NULL};

static int dec_port_item(struct dec *d, const json_t *p, void *item) {
    struct api_port *port = item;
    int r;
    if ((r = dec_object(d, p, port_fields)) < 0 ||
        (r = dec_uint(d, p, "hostPort", &port->host_port)) < 0 ||
        (r = dec_uint(d, p, "vmPort", &port->vm_port)) < 0 ||
        (r = dec_string(d, p, "protocol", &port->protocol)) < 0)
        return r;
    return dec_string(d, p, "bindAddress", &port->bind_address);
}

static int dec_file_item(struct dec *d, const json_t *f, void *item) {
    struct api_file_mapping *m = item;
    int r;
    if ((r = dec_object(d, f, file_fields)) < 0 ||
        (r = dec_string(d, f, "hostPath", &m->host_path)) < 0)
        return r;
    return dec_string(d, f, "vmPath", &m->vm_path);
}

static int dec_ports(struct dec *d, const json_t *spec, struct api_vm *vm) {
    return dec_array(d, spec, "ports", API_LIST_MAX, sizeof(*vm->ports), dec_port_item,
                     (void **)&vm->ports, &vm->n_ports);
}

static int dec_copy_files(struct dec *d, const json_t *spec, struct api_vm *vm) {
    return dec_array(d, spec, "copyFiles", API_LIST_MAX, sizeof(*vm->copy_files), dec_file_item,
                     (void **)&vm->copy_files, &vm->n_copy_files);
}

static const char *const vm_spec_fields[] = {"image",    "kernel",      "cpus",  "memory",
                                             "diskSize", "networkMode", "ports", "copyFiles",
                                             "ssh",      NULL};
static const char *const vm_image_fields[] = {"ociClaim", NULL};
static const char *const vm_kernel_fields[] = {"ociClaim", "cmdLine", NULL};
static const char *const ssh_fields[] = {"publicKey", NULL};
static const char *const vm_status_fields[] = {"state", "ipAddresses", "image", "kernel", NULL};

static int dec_vm(struct dec *d, const json_t *doc, struct api_vm *vm) {
    size_t old, o2;
    const json_t *spec, *sub;
    int r;
    if ((r = dec_sub(d, doc, "spec", vm_spec_fields, &spec, &old)) < 0)
        return r;
    if (spec) {
        if ((r = dec_sub(d, spec, "image", vm_image_fields, &sub, &o2)) < 0)
            return r;
        if (sub && (r = dec_claim_ptr(d, sub, &vm->image_claim)) < 0)
            return r;
        api_path_pop(&d->path, o2);
        if ((r = dec_sub(d, spec, "kernel", vm_kernel_fields, &sub, &o2)) < 0)
            return r;
        if (sub && ((r = dec_claim_ptr(d, sub, &vm->kernel_claim)) < 0 ||
                    (r = dec_string(d, sub, "cmdLine", &vm->cmdline)) < 0))
            return r;
        api_path_pop(&d->path, o2);
        if ((r = dec_uint(d, spec, "cpus", &vm->cpus)) < 0 ||
            (r = dec_size(d, spec, "memory", &vm->memory)) < 0 ||
            (r = dec_size(d, spec, "diskSize", &vm->disk_size)) < 0 ||
            (r = dec_string(d, spec, "networkMode", &vm->network_mode)) < 0 ||
            (r = dec_ports(d, spec, vm)) < 0 || (r = dec_copy_files(d, spec, vm)) < 0)
            return r;
        if ((r = dec_sub(d, spec, "ssh", ssh_fields, &sub, &o2)) < 0)
            return r;
        if (sub) {
            vm->has_ssh = true;
            if ((r = dec_string(d, sub, "publicKey", &vm->ssh_public_key)) < 0)
                return r;
        }
        api_path_pop(&d->path, o2);
    }
    api_path_pop(&d->path, old);

    const json_t *status;
    if ((r = dec_sub(d, doc, "status", vm_status_fields, &status, &old)) < 0)
        return r;
    if (status) {
        if ((r = dec_vm_state(d, status, &vm->state)) < 0 ||
            (r = dec_strv(d, status, "ipAddresses", &vm->ip_addresses, &vm->n_ip_addresses)) < 0 ||
            (r = dec_vm_source(d, status, "image", &vm->status_image)) < 0 ||
            (r = dec_vm_source(d, status, "kernel", &vm->status_kernel)) < 0)
            return r;
    }
    api_path_pop(&d->path, old);
    return 0;
}

static const char *const image_spec_fields[] = {"ociClaim", NULL};
static const char *const kernel_spec_fields[] = {"version", "ociClaim", NULL};
static const char *const image_status_fields[] = {"ociSource", NULL};

static int dec_image(struct dec *d, const json_t *doc, struct api_image *im) {
    size_t old;
    const json_t *v;
    int r;
    if ((r = dec_sub(d, doc, "spec", image_spec_fields, &v, &old)) < 0)
        return r;
    if (v && (r = dec_claim(d, v, "ociClaim", &im->claim)) < 0)
        return r;
    api_path_pop(&d->path, old);
    if ((r = dec_sub(d, doc, "status", image_status_fields, &v, &old)) < 0)
        return r;
    if (v && (r = dec_source(d, v, "ociSource", &im->source)) < 0)
        return r;
    api_path_pop(&d->path, old);
    return 0;
}

static int dec_kernel(struct dec *d, const json_t *doc, struct api_kernel *k) {
    size_t old;
    const json_t *v;
    int r;
    if ((r = dec_sub(d, doc, "spec", kernel_spec_fields, &v, &old)) < 0)
        return r;
    if (v && ((r = dec_string(d, v, "version", &k->version)) < 0 ||
              (r = dec_claim(d, v, "ociClaim", &k->claim)) < 0))
        return r;
    api_path_pop(&d->path, old);
    if ((r = dec_sub(d, doc, "status", image_status_fields, &v, &old)) < 0)
        return r;
    if (v && (r = dec_source(d, v, "ociSource", &k->source)) < 0)
        return r;
    api_path_pop(&d->path, old);
    return 0;
}

static const char *const pool_spec_fields[] = {"metadataSize", "dataSize", "allocationSize",
                                               "metadataPath", "dataPath", NULL};
static const char *const pool_status_fields[] = {"devices", NULL};
static const char *const device_fields[] = {"size", "parent", "type", "metadataPath", NULL};

static int dec_device(struct dec *d, const json_t *v, struct api_pool_device *dev) {
    int r = dec_object(d, v, device_fields);
    if (r < 0)
        return r;
    dev->present = true;
    dev->parent = API_POOL_PARENT_NONE;
    if ((r = dec_size(d, v, "size", &dev->size)) < 0)
        return r;
    size_t old;
    const json_t *p = dec_field(d, v, "parent", &old);
    if (p) {
        if (json_is_string(p) && strcmp(json_string_value(p), "pool") == 0) {
            dev->parent = API_POOL_PARENT_NONE;
        } else if (json_is_integer(p) && json_integer_value(p) >= 0 &&
                   json_integer_value(p) < (json_int_t)API_POOL_DEVICES_MAX) {
            dev->parent = (int64_t)json_integer_value(p);
        } else {
            return dec_expected(d, "a device id or \"pool\"", p);
        }
    }
    api_path_pop(&d->path, old);
    if ((r = dec_string(d, v, "type", &dev->type)) < 0)
        return r;
    return dec_string(d, v, "metadataPath", &dev->metadata_path);
}

/* A hole in devices[] is null. */
static int dec_device_item(struct dec *d, const json_t *v, void *item) {
    return json_is_null(v) ? 0 : dec_device(d, v, item);
}

static int dec_pool(struct dec *d, const json_t *doc, struct api_pool *pool) {
    size_t old;
    const json_t *v;
    int r;
    if ((r = dec_sub(d, doc, "spec", pool_spec_fields, &v, &old)) < 0)
        return r;
    if (v && ((r = dec_size(d, v, "metadataSize", &pool->metadata_size)) < 0 ||
              (r = dec_size(d, v, "dataSize", &pool->data_size)) < 0 ||
              (r = dec_size(d, v, "allocationSize", &pool->allocation_size)) < 0 ||
              (r = dec_string(d, v, "metadataPath", &pool->metadata_path)) < 0 ||
              (r = dec_string(d, v, "dataPath", &pool->data_path)) < 0))
        return r;
    api_path_pop(&d->path, old);
    if ((r = dec_sub(d, doc, "status", pool_status_fields, &v, &old)) < 0)
        return r;
    if (v && (r = dec_array(d, v, "devices", API_POOL_DEVICES_MAX, sizeof(*pool->devices),
                            dec_device_item, (void **)&pool->devices, &pool->n_devices)) < 0)
        return r;
    api_path_pop(&d->path, old);
    return 0;
}

static const char *const doc_fields[] = {"kind", "apiVersion", "metadata", "spec", "status", NULL};
static const char *const pool_doc_fields[] = {"kind", "apiVersion", "spec", "status", NULL};

int api_object_decode(const json_t *doc, const char *prefix, struct api_object **ret,
                      struct error *err) {
    struct dec d = {.err = err};
    if (prefix && *prefix)
        api_path_push(&d.path, prefix);
    if (!json_is_object(doc))
        return dec_expected(&d, "an object (a document with kind and apiVersion)", doc);

    size_t old;
    const json_t *v = dec_field(&d, doc, "kind", &old);
    if (!v)
        return dec_fail(&d, -EINVAL, "required (one of VM, Image, Kernel, Pool)");
    if (!json_is_string(v))
        return dec_expected(&d, "a string", v);
    enum api_kind kind = API_KIND_COUNT;
    for (int k = 0; k < API_KIND_COUNT; k++) {
        if (strcmp(json_string_value(v), api_kind_name((enum api_kind)k)) == 0)
            kind = (enum api_kind)k;
    }
    if (kind == API_KIND_COUNT) {
        char q[API_QUOTE_MAX];
        return dec_fail(&d, -EINVAL, "%s is not a kind hearth knows (VM, Image, Kernel, Pool)",
                        api_quote(json_string_value(v), q, sizeof(q)));
    }
    api_path_pop(&d.path, old);

    v = dec_field(&d, doc, "apiVersion", &old);
    if (!v)
        return dec_fail(&d, -EINVAL, "required (%s)", API_GROUP_VERSION);
    if (!json_is_string(v))
        return dec_expected(&d, "a string", v);
    if (strcmp(json_string_value(v), API_GROUP_VERSION) != 0) {
        char q[API_QUOTE_MAX];
        return dec_fail(&d, -EINVAL, "%s is not supported (expected %s)",
                        api_quote(json_string_value(v), q, sizeof(q)), API_GROUP_VERSION);
    }
    api_path_pop(&d.path, old);

    int r = dec_object(&d, doc, kind == API_KIND_POOL ? pool_doc_fields : doc_fields);
    if (r < 0)
        return r;
    _cleanup_object_ struct api_object *obj = api_object_new(kind);
    if (!obj)
        return error_oom(err);
    if (kind != API_KIND_POOL && (r = dec_meta(&d, doc, &obj->meta)) < 0)
        return r;
    switch (kind) {
    case API_KIND_VM:
        r = dec_vm(&d, doc, &obj->u.vm);
        break;
    case API_KIND_IMAGE:
        r = dec_image(&d, doc, &obj->u.image);
        break;
    case API_KIND_KERNEL:
        r = dec_kernel(&d, doc, &obj->u.kernel);
        break;
    case API_KIND_POOL:
        r = dec_pool(&d, doc, &obj->u.pool);
        break;
    case API_KIND_COUNT:
        break;
    }
    if (r < 0)
        return r;
    *ret = steal_ptr(&obj);
    return 0;
}

int api_object_from_json(const json_t *doc, struct api_object **ret, struct error *err) {
    return api_object_decode(doc, NULL, ret, err);
}
