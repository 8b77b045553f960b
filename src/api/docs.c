/*
 * Documents: a file's contents to objects and objects to a file's contents.
 *
 * Input is JSON (one document, an array of them, or a `kind: List`) or YAML
 * (a stream of documents, each a document or a List), told apart by the first
 * character that is not white space. Errors carry the input's name and either
 * the position of a syntax error ("vm.yaml:3:7: ...") or the document number
 * and field path ("vm.yaml: document 2: spec.cpus: ...").
 *
 * api_doc_reader reads one object at a time: the YAML or JSON reader
 * (yaml.c, stream.c) hands out one document, or one item of a List, and the
 * reader decodes it, so that what is in memory is one document however many
 * the input holds. api_docs_parse collects all objects of a buffer with it.
 */
#include <errno.h>
#include <string.h>

#include "api/api_priv.h"

#define LIST_KIND "List"
#define LIST_API_VERSION "v1"

/* True if v nests deeper than max levels; stops looking past max. */
static bool too_deep(const json_t *v, int max) {
    if (max < 0)
        return true;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            if (too_deep(child, max - 1))
                return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            if (too_deep(child, max - 1))
                return true;
        }
    }
    return false;
}

static bool is_list(const json_t *doc) {
    const json_t *kind = json_object_get(doc, "kind");
    return json_is_string(kind) && strcmp(json_string_value(kind), LIST_KIND) == 0;
}

static const char *const list_fields[] = {"kind", "apiVersion", "metadata", "items", NULL};

/*
 * Checks a List's own fields: no unknown one, the apiVersion of a List and,
 * when complete (all fields seen), that apiVersion is there and items is a
 * list or null. A List read item by item is checked when its items begin,
 * with the fields seen so far, and again at its end.
 */
static int list_check(const json_t *doc, bool complete, struct error *err) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)doc, key, value) {
        bool known = false;
        for (const char *const *f = list_fields; *f; f++)
            known = known || strcmp(key, *f) == 0;
        if (!known) {
            char q[API_QUOTE_MAX];
            return error_set(err, -EINVAL, "%s: unknown field", api_quote(key, q, sizeof(q)));
        }
    }
    const json_t *av = json_object_get(doc, "apiVersion");
    if ((complete || av) &&
        (!json_is_string(av) || (strcmp(json_string_value(av), LIST_API_VERSION) != 0 &&
                                 strcmp(json_string_value(av), API_GROUP_VERSION) != 0)))
        return error_set(err, -EINVAL, "apiVersion: a List needs \"%s\" or \"%s\"",
                         LIST_API_VERSION, API_GROUP_VERSION);
    const json_t *items = json_object_get(doc, "items");
    if (complete && items && !json_is_null(items) && !json_is_array(items))
        return error_set(err, -EINVAL, "items: expected a list");
    return 0;
}

struct api_doc_reader {
    struct api_input in;
    char *name;
    bool started;
    struct api_yaml_reader *yaml; /* one of these two, once the format is known */
    struct api_json_reader *json;
    size_t doc;    /* documents begun, as messages number them */
    size_t n_objs; /* objects handed out */
    json_t *list;  /* a List read whole, whose items are being handed out */
    size_t item;   /* the index of the current List's next item */
    bool done;
};

static int reader_new(api_doc_reader **ret, const char *name, struct error *err) {
    api_doc_reader *r = xcalloc(1, sizeof(*r));
    if (r)
        r->name = xstrdup(name ? name : "<input>");
    if (!r || !r->name) {
        free(r);
        return error_oom(err);
    }
    *ret = r;
    return 0;
}

int api_doc_reader_new(int fd, const char *name, api_doc_reader **ret, struct error *err) {
    int r = reader_new(ret, name, err);
    if (r == 0)
        api_input_init_fd(&(*ret)->in, fd, (*ret)->name);
    return r;
}

/* A reader over a buffer, which must outlive it. */
static int reader_new_buffer(const char *data, size_t len, const char *name, api_doc_reader **ret,
                             struct error *err) {
    int r = reader_new(ret, name, err);
    if (r == 0)
        api_input_init_buffer(&(*ret)->in, data, len, (*ret)->name);
    return r;
}

void api_doc_reader_free(api_doc_reader *r) {
    if (!r)
        return;
    api_yaml_reader_free(r->yaml);
    api_json_reader_free(r->json);
    json_decref(r->list);
    api_input_release(&r->in);
    free(r->name);
    free(r);
}

size_t api_doc_reader_document(const api_doc_reader *r) {
    return r->doc;
}

/* Tells JSON from YAML by the first character that is not white space. */
static int reader_start(api_doc_reader *r, struct error *err) {
    int c;
    bool bom;
    int rc = api_input_peek(&r->in, &c, &bom, err);
    if (rc < 0)
        return rc;
    r->started = true;
    if (c < 0) {
        r->done = true; /* white space only: no documents */
        return 0;
    }
    if (c == '{' || c == '[') {
        if (bom)
            api_input_skip(&r->in, 3); /* jansson's lines and columns start after it */
        return api_json_reader_new(&r->in, &r->json, err);
    }
    return api_yaml_reader_new(&r->in, true, &r->yaml, err);
}

/* Decodes one object (a document, or the item index of a List when prefix). */
static int reader_decode(api_doc_reader *r, const json_t *v, bool item, struct api_object **ret,
                         struct error *err) {
    char prefix[48];
    if (item) {
        snprintf(prefix, sizeof(prefix), "items[%zu]", r->item);
        if (is_list(v))
            return error_set(err, -EINVAL, "%s: a List inside a List is not supported", prefix);
    }
    if (r->n_objs >= API_DOCS_MAX)
        return error_set(err, -E2BIG, "more than %d documents", API_DOCS_MAX);
    int rc = api_object_decode(v, item ? prefix : NULL, ret, err);
    if (rc < 0)
        return rc;
    r->n_objs++;
    r->item += item;
    return 0;
}

/* What one unit of the stream gives: an object in *ret, or nothing yet. */
static int reader_unit(api_doc_reader *r, struct api_unit *u, struct api_object **ret,
                       struct error *err) {
    switch (u->type) {
    case API_UNIT_END:
        r->done = true;
        return 0;
    case API_UNIT_DOC:
        r->doc++;
        r->item = 0;
        if (json_is_null(u->value))
            return 0; /* an empty YAML document, e.g. after a trailing --- */
        if (too_deep(u->value, API_DEPTH_MAX))
            return error_set(err, -EINVAL, "nested deeper than %d levels", API_DEPTH_MAX);
        if (!is_list(u->value))
            return reader_decode(r, u->value, false, ret, err);
        int rc = list_check(u->value, true, err);
        if (rc == 0 && json_is_array(json_object_get(u->value, "items")))
            r->list = steal_ptr(&u->value);
        return rc;
    case API_UNIT_LIST_BEGIN:
        r->doc++;
        r->item = 0;
        return list_check(u->value, false, err);
    case API_UNIT_ITEM:
        /* The List and its items array are two levels above the item. */
        if (too_deep(u->value, API_DEPTH_MAX - 2))
            return error_set(err, -EINVAL, "nested deeper than %d levels", API_DEPTH_MAX);
        return reader_decode(r, u->value, true, ret, err);
    case API_UNIT_LIST_END:
        return list_check(u->value, true, err);
    }
    return error_set(err, -EINVAL, "unknown unit");
}

int api_doc_reader_next(api_doc_reader *r, struct api_object **ret, struct error *err) {
    int rc = 0;
    if (!r->started)
        rc = reader_start(r, err);
    struct api_object *obj = NULL;
    while (rc == 0 && !obj) {
        if (r->list) {
            const json_t *items = json_object_get(r->list, "items");
            if (r->item < json_array_size(items)) {
                rc = reader_decode(r, json_array_get(items, r->item), true, &obj, err);
                if (rc < 0)
                    error_prefix(err, "%s: document %zu", r->name, r->doc);
                continue;
            }
            json_decref(steal_ptr(&r->list));
        }
        if (r->done)
            break;
        struct api_unit u = {API_UNIT_END, NULL};
        rc = r->yaml ? api_yaml_reader_next(r->yaml, &u, err)
                     : api_json_reader_next(r->json, &u, err);
        if (rc < 0)
            break; /* a syntax or read error names the input itself */
        rc = reader_unit(r, &u, &obj, err);
        json_decref(u.value);
        if (rc < 0)
            error_prefix(err, "%s: document %zu", r->name, r->doc);
    }
    if (rc < 0) {
        r->done = true;
        json_decref(steal_ptr(&r->list));
        return rc;
    }
    *ret = obj;
    return 0;
}

int api_docs_parse(const char *data, size_t len, const char *name, struct api_object ***ret_objs,
                   size_t *ret_n, struct error *err) {
    if (!name)
        name = "<input>";
    if (len > API_INPUT_MAX)
        return error_set(err, -EFBIG, "%s: larger than %u MiB", name, API_INPUT_MAX >> 20);
    api_doc_reader *r = NULL;
    int rc = reader_new_buffer(data, len, name, &r, err);
    if (rc < 0)
        return rc;
    struct api_object **objs = NULL;
    size_t n = 0, alloc = 0;
    for (;;) {
        struct api_object *obj = NULL;
        rc = api_doc_reader_next(r, &obj, err);
        if (rc < 0 || !obj)
            break;
        if (n == alloc) {
            size_t grown_alloc = alloc ? alloc * 2 : 8;
            struct api_object **grown = xrealloc(objs, grown_alloc * sizeof(*objs));
            if (!grown) {
                api_object_free(obj);
                rc = error_oom(err);
                break;
            }
            objs = grown;
            alloc = grown_alloc;
        }
        objs[n++] = obj;
    }
    api_doc_reader_free(r);
    if (rc < 0) {
        api_objects_free(objs, n);
        return rc;
    }
    *ret_objs = objs;
    *ret_n = n;
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int write_json(struct api_object *const *objs, size_t n, bool always_list,
                      struct strbuf *out) {
    _cleanup_(json_decrefp) json_t *root = NULL;
    if (n == 1 && !always_list) {
        root = api_object_to_json(objs[0]);
        if (!root)
            return -ENOMEM;
    } else {
        root = json_object();
        json_t *items = json_array();
        if (!root || !items || json_object_set_new(root, "kind", json_string(LIST_KIND)) < 0 ||
            json_object_set_new(root, "apiVersion", json_string(LIST_API_VERSION)) < 0 ||
            json_object_set_new(root, "items", items) < 0) {
            if (!root)
                json_decref(items);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            if (json_array_append_new(items, api_object_to_json(objs[i])) < 0)
                return -ENOMEM;
        }
    }
    _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return -ENOMEM;
    if (strbuf_adds(out, text) < 0 || strbuf_addc(out, '\n') < 0)
        return -ENOMEM;
    return 0;
}

static int write_yaml(struct api_object *const *objs, size_t n, struct strbuf *out) {
    for (size_t i = 0; i < n; i++) {
        _cleanup_(json_decrefp) json_t *doc = api_object_to_json(objs[i]);
        if (!doc)
            return -ENOMEM;
        _cleanup_strbuf_ struct strbuf one = STRBUF_INIT;
        int r = api_yaml_dump(doc, &one);
        if (r < 0)
            return r;
        const char *text = one.buf ? one.buf : "";
        if (i > 0 && !str_starts_with(text, "---") && strbuf_adds(out, "---\n") < 0)
            return -ENOMEM;
        if (strbuf_add(out, text, one.len) < 0)
            return -ENOMEM;
        if (one.len > 0 && text[one.len - 1] != '\n' && strbuf_addc(out, '\n') < 0)
            return -ENOMEM;
    }
    return 0;
}

int api_docs_write(struct api_object *const *objs, size_t n, enum api_format format,
                   bool always_list, struct strbuf *out) {
    if (format == API_FORMAT_JSON)
        return write_json(objs, n, always_list, out);
    return write_yaml(objs, n, out);
}
