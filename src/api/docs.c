/*
 * Documents: a file's contents to objects and objects to a file's contents.
 *
 * Input is JSON (one document, an array of them, or a `kind: List`) or YAML
 * (a stream of documents, each a document or a List), told apart by the first
 * character that is not white space. Errors carry the input's name and either
 * the position of a syntax error ("vm.yaml:3:7: ...") or the document number
 * and field path ("vm.yaml: document 2: spec.cpus: ...").
 */
#include <errno.h>
#include <string.h>

#include "api/api_priv.h"

#define LIST_KIND "List"
#define LIST_API_VERSION "v1"

struct collect {
    struct api_object **objs;
    size_t n, alloc;
};

static void collect_release(struct collect *c) {
    api_objects_free(c->objs, c->n);
    c->objs = NULL;
    c->n = c->alloc = 0;
}

static int collect_add(struct collect *c, struct api_object *obj) {
    if (c->n == c->alloc) {
        size_t alloc = c->alloc ? c->alloc * 2 : 8;
        struct api_object **objs = xrealloc(c->objs, alloc * sizeof(*objs));
        if (!objs)
            return -ENOMEM;
        c->objs = objs;
        c->alloc = alloc;
    }
    c->objs[c->n++] = obj;
    return 0;
}

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

static const char *const list_fields[] = {"kind", "apiVersion", "metadata", "items", NULL};

/* Decodes one document of the stream (an object or a List) into c. */
static int parse_document(const json_t *doc, struct collect *c, struct error *err) {
    if (too_deep(doc, API_DEPTH_MAX))
        return error_set(err, -EINVAL, "nested deeper than %d levels", API_DEPTH_MAX);
    const json_t *kind = json_object_get(doc, "kind");
    if (json_is_string(kind) && strcmp(json_string_value(kind), LIST_KIND) == 0) {
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
        if (!json_is_string(av) || (strcmp(json_string_value(av), LIST_API_VERSION) != 0 &&
                                    strcmp(json_string_value(av), API_GROUP_VERSION) != 0))
            return error_set(err, -EINVAL, "apiVersion: a List needs \"%s\" or \"%s\"",
                             LIST_API_VERSION, API_GROUP_VERSION);
        const json_t *items = json_object_get(doc, "items");
        if (json_is_null(items) || !items)
            return 0;
        if (!json_is_array(items))
            return error_set(err, -EINVAL, "items: expected a list");
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) {
            char prefix[48];
            snprintf(prefix, sizeof(prefix), "items[%zu]", i);
            const json_t *ik = json_object_get(item, "kind");
            if (json_is_string(ik) && strcmp(json_string_value(ik), LIST_KIND) == 0)
                return error_set(err, -EINVAL, "%s: a List inside a List is not supported", prefix);
            if (c->n >= API_DOCS_MAX)
                return error_set(err, -E2BIG, "more than %d documents", API_DOCS_MAX);
            struct api_object *obj;
            int r = api_object_decode(item, prefix, &obj, err);
            if (r < 0)
                return r;
            if (collect_add(c, obj) < 0) {
                api_object_free(obj);
                return error_set(err, -ENOMEM, "out of memory");
            }
        }
        return 0;
    }
    if (c->n >= API_DOCS_MAX)
        return error_set(err, -E2BIG, "more than %d documents", API_DOCS_MAX);
    struct api_object *obj;
    int r = api_object_decode(doc, NULL, &obj, err);
    if (r < 0)
        return r;
    if (collect_add(c, obj) < 0) {
        api_object_free(obj);
        return error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

int api_docs_parse(const char *data, size_t len, const char *name, struct api_object ***ret_objs,
                   size_t *ret_n, struct error *err) {
    if (!name)
        name = "<input>";
    if (len > API_INPUT_MAX)
        return error_set(err, -EFBIG, "%s: larger than %u MiB", name, API_INPUT_MAX >> 20);
    size_t bom = len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    size_t i = bom;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    if (i == len) {
        *ret_objs = NULL;
        *ret_n = 0;
        return 0;
    }

    _cleanup_(json_decrefp) json_t *docs = NULL;
    if (data[i] == '{' || data[i] == '[') {
        json_error_t je;
        /* From the start (less a BOM), so that jansson's lines are the file's. */
        json_t *root = json_loadb(data + bom, len - bom, JSON_REJECT_DUPLICATES, &je);
        if (!root)
            return error_set(err, -EINVAL, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        if (json_is_array(root)) {
            docs = root;
        } else {
            docs = json_array();
            if (!docs || json_array_append_new(docs, root) < 0) {
                if (!docs)
                    json_decref(root);
                return error_set(err, -ENOMEM, "out of memory");
            }
        }
        if (json_array_size(docs) > API_DOCS_MAX)
            return error_set(err, -E2BIG, "%s: more than %d documents", name, API_DOCS_MAX);
    } else {
        int r = api_yaml_load(data, len, name, &docs, err);
        if (r < 0)
            return r;
        if (!json_is_array(docs))
            return error_set(err, -EINVAL, "%s: not a document stream", name);
    }

    struct collect c = {0};
    size_t n;
    json_t *doc;
    json_array_foreach(docs, n, doc) {
        if (json_is_null(doc))
            continue; /* an empty YAML document, e.g. after a trailing --- */
        int r = parse_document(doc, &c, err);
        if (r < 0) {
            collect_release(&c);
            error_prefix(err, "%s: document %zu", name, n + 1);
            return r;
        }
    }
    *ret_objs = c.objs;
    *ret_n = c.n;
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
