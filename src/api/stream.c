/*
 * Reading a document stream piece by piece: the input (a buffer, or a file
 * descriptor read in blocks as the parser asks for bytes) and the JSON
 * reader.
 *
 * jansson parses a whole text at once, so the JSON reader finds where each
 * element of a top-level array, each field of a top-level object and each
 * item of a List ends, by following brackets and strings, and hands only
 * that piece to jansson. A file of 100,000 documents is then never in memory
 * as a whole: only the piece being read and the block after it. jansson's
 * line and column in a piece are turned back into the file's, so messages
 * read as if the whole file had been parsed: "vm.json:3:7: ...".
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "api/api_priv.h"

#define INPUT_BLOCK (64 * 1024) /* bytes asked of read(2) at a time */
#define JSON_SCAN_DEPTH 2048    /* nesting followed while scanning (jansson's own limit) */

static const char bom_bytes[] = "\xef\xbb\xbf";

static bool is_ws(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- input ------------------------------------------------------------- */

void api_input_init_buffer(struct api_input *in, const char *data, size_t len, const char *name) {
    *in = (struct api_input){
        .name = name ? name : "<input>", .fd = -1, .data = data ? data : "", .len = len};
}

void api_input_init_fd(struct api_input *in, int fd, const char *name) {
    *in = (struct api_input){.name = name ? name : "<input>", .fd = fd};
}

void api_input_release(struct api_input *in) {
    free(in->head);
    in->head = NULL;
    in->head_len = in->head_off = 0;
}

static ssize_t input_read_fd(struct api_input *in, void *buf, size_t size, struct error *err) {
    for (;;) {
        ssize_t n = read(in->fd, buf, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, -errno, "cannot read '%s': %s", in->name, strerror(errno));
        in->off += (size_t)n;
        if (in->off > API_INPUT_MAX)
            return error_set(err, -EFBIG, "%s: larger than %u MiB", in->name, API_INPUT_MAX >> 20);
        return n;
    }
}

ssize_t api_input_read(struct api_input *in, void *buf, size_t size, struct error *err) {
    if (in->head_off < in->head_len) {
        size_t n = in->head_len - in->head_off < size ? in->head_len - in->head_off : size;
        memcpy(buf, in->head + in->head_off, n);
        in->head_off += n;
        return (ssize_t)n;
    }
    if (in->fd < 0) {
        size_t n = in->len - in->off < size ? in->len - in->off : size;
        memcpy(buf, in->data + in->off, n);
        in->off += n;
        return (ssize_t)n;
    }
    return input_read_fd(in, buf, size, err);
}

/* Reads another block into the read-ahead; *eof when there is none. */
static int input_read_ahead(struct api_input *in, bool *eof, struct error *err) {
    char *grown = xrealloc(in->head, in->head_len + INPUT_BLOCK);
    if (!grown)
        return error_oom(err);
    in->head = grown;
    ssize_t n = input_read_fd(in, in->head + in->head_len, INPUT_BLOCK, err);
    if (n < 0)
        return (int)n;
    in->head_len += (size_t)n;
    *eof = n == 0;
    return 0;
}

int api_input_peek(struct api_input *in, int *ret_c, bool *ret_bom, struct error *err) {
    bool eof = in->fd < 0;
    for (;;) {
        /* nothing read ahead yet: head is NULL, and NULL + 0 is undefined */
        const char *p = in->fd < 0 ? in->data + in->off : in->head ? in->head + in->head_off : "";
        size_t n = in->fd < 0 ? in->len - in->off : in->head_len - in->head_off;
        if (eof || n >= 3) {
            size_t i = n >= 3 && memcmp(p, bom_bytes, 3) == 0 ? 3 : 0;
            *ret_bom = i == 3;
            while (i < n && is_ws((unsigned char)p[i]))
                i++;
            if (i < n) {
                *ret_c = (unsigned char)p[i];
                return 0;
            }
            if (eof) {
                *ret_c = -1;
                return 0;
            }
        }
        int r = input_read_ahead(in, &eof, err);
        if (r < 0)
            return r;
    }
}

void api_input_skip(struct api_input *in, size_t n) {
    if (in->fd < 0)
        in->off += n;
    else
        in->head_off += n;
}

/* ---- JSON -------------------------------------------------------------- */

enum json_state {
    J_START,
    J_ARRAY_FIRST, /* after '[' of the top-level array */
    J_ARRAY_MORE,  /* after one of its elements */
    J_OBJECT_FIRST,
    J_OBJECT_MORE,
    J_ITEMS_FIRST, /* after '[' of a List's items */
    J_ITEMS_MORE,
    J_TAIL, /* after the top-level value: only white space may follow */
    J_DONE,
};

struct api_json_reader {
    struct api_input *in;
    char *own;       /* reading a descriptor: the buffer (NULL for a buffer input) */
    const char *buf; /* bytes read and not yet dropped */
    size_t len, cap;
    size_t pos;       /* the next byte to look at */
    size_t line, col; /* its position in the input, from 1 */
    bool eof;         /* everything has been read into buf */
    enum json_state state;
    json_t *fields; /* the top-level object's fields so far */
    bool listed;    /* its items were handed out one at a time */
    unsigned char stack[JSON_SCAN_DEPTH];
};

int api_json_reader_new(struct api_input *in, struct api_json_reader **ret, struct error *err) {
    struct api_json_reader *r = xcalloc(1, sizeof(*r));
    if (!r)
        return error_oom(err);
    r->in = in;
    r->line = r->col = 1;
    if (in->fd < 0) {
        r->buf = in->data + in->off;
        r->len = in->len - in->off;
        r->eof = true;
    }
    *ret = r;
    return 0;
}

void api_json_reader_free(struct api_json_reader *r) {
    if (!r)
        return;
    free(r->own);
    json_decref(r->fields);
    free(r);
}

static int json_fail(struct api_json_reader *r, size_t line, size_t col, const char *what,
                     struct error *err) {
    r->state = J_DONE;
    return error_set(err, -EINVAL, "%s:%zu:%zu: %s", r->in->name, line, col, what);
}

/* Reads another block: 1 when bytes were added, 0 at the end, or -errno. */
static int json_fill(struct api_json_reader *r, struct error *err) {
    if (r->eof)
        return 0;
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : INPUT_BLOCK;
        char *grown = xrealloc(r->own, cap);
        if (!grown)
            return error_oom(err);
        r->own = grown;
        r->buf = grown;
        r->cap = cap;
    }
    ssize_t n = api_input_read(r->in, r->own + r->len, r->cap - r->len, err);
    if (n < 0)
        return (int)n;
    if (n == 0) {
        r->eof = true;
        return 0;
    }
    r->len += (size_t)n;
    return 1;
}

/* Forgets the bytes before pos once they are half the buffer (amortized). */
static void json_compact(struct api_json_reader *r) {
    if (!r->own || r->pos < r->cap / 2)
        return;
    memmove(r->own, r->own + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
}

/* *ret_c = the byte at offset i, or -1 past the end of the input. */
static int json_at(struct api_json_reader *r, size_t i, int *ret_c, struct error *err) {
    while (i >= r->len) {
        int n = json_fill(r, err);
        if (n < 0)
            return n;
        if (n == 0) {
            *ret_c = -1;
            return 0;
        }
    }
    *ret_c = (unsigned char)r->buf[i];
    return 0;
}

/* Moves pos n bytes on, counting lines and columns as jansson does (a
 * column per character, not per byte of one). */
static void json_advance(struct api_json_reader *r, size_t n) {
    for (size_t end = r->pos + n; r->pos < end; r->pos++) {
        unsigned char c = (unsigned char)r->buf[r->pos];
        if (c == '\n') {
            r->line++;
            r->col = 1;
        } else if ((c & 0xc0) != 0x80) {
            r->col++;
        }
    }
}

/* Skips white space; *ret_c = the next byte, or -1 at the end. */
static int json_skip_ws(struct api_json_reader *r, int *ret_c, struct error *err) {
    for (;;) {
        int r_ = json_at(r, r->pos, ret_c, err);
        if (r_ < 0)
            return r_;
        if (*ret_c < 0 || !is_ws(*ret_c))
            return 0;
        json_advance(r, 1);
    }
}

/*
 * Where the value at pos ends (*ret_end, exclusive), following strings and
 * brackets. Malformed text ends the piece early (at a bracket that does not
 * match, at the end of the input), and jansson then says what is wrong.
 */
static int json_scan(struct api_json_reader *r, size_t *ret_end, struct error *err) {
    size_t i = r->pos;
    int c;
    int rc = json_at(r, i, &c, err);
    if (rc < 0)
        return rc;
    if (c != '{' && c != '[' && c != '"') {
        /* A number, true, false, null or junk: up to a delimiter. */
        while (c >= 0 && !is_ws(c) && !strchr(",]}:[{\"", c)) {
            if ((rc = json_at(r, ++i, &c, err)) < 0)
                return rc;
        }
        *ret_end = i;
        return 0;
    }
    size_t depth = 0;
    bool in_string = false;
    for (;;) {
        if (c < 0)
            break; /* the end of the input inside the value */
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte cannot end the string */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (depth == JSON_SCAN_DEPTH) {
                i++;
                break;
            }
            r->stack[depth++] = (unsigned char)c;
        } else if (c == '}' || c == ']') {
            if (depth == 0 || r->stack[depth - 1] != (c == '}' ? '{' : '[')) {
                i++;
                break;
            }
            depth--;
        }
        i++;
        if (depth == 0 && !in_string)
            break;
        if ((rc = json_at(r, i, &c, err)) < 0)
            return rc;
    }
    *ret_end = i < r->len ? i : r->len;
    return 0;
}

/* Parses the value at pos with jansson and moves past it. */
static int json_value(struct api_json_reader *r, json_t **ret, struct error *err) {
    size_t line = r->line, col = r->col, start = r->pos, end;
    int rc = json_scan(r, &end, err);
    if (rc < 0)
        return rc;
    if (end == start)
        return json_fail(r, line, col, "expected a value", err);
    json_error_t je;
    json_t *v =
        json_loadb(r->buf + start, end - start, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        size_t el = je.line > 0 ? (size_t)je.line : 1;
        size_t ec = je.column > 0 ? (size_t)je.column : 1;
        return json_fail(r, line + el - 1, el == 1 ? col + ec - 1 : ec, je.text, err);
    }
    json_advance(r, end - start);
    *ret = v;
    return 0;
}

static bool json_is_list(const json_t *fields) {
    const json_t *kind = json_object_get(fields, "kind");
    return json_is_string(kind) && strcmp(json_string_value(kind), "List") == 0;
}

/* A field of the top-level object: `"key": value`, at pos. A List's items
 * are not read here: *ret_unit says LIST_BEGIN and the items follow. */
static int json_field(struct api_json_reader *r, struct api_unit *ret_unit, struct error *err) {
    size_t line = r->line, col = r->col;
    int c;
    int rc = json_at(r, r->pos, &c, err);
    if (rc < 0)
        return rc;
    if (c != '"')
        return json_fail(r, line, col,
                         c < 0 ? "unexpected end of input: expected '}'"
                               : "expected a string (a field name) or '}'",
                         err);
    _cleanup_(json_decrefp) json_t *key = NULL;
    if ((rc = json_value(r, &key, err)) < 0)
        return rc;
    const char *k = json_string_value(key);
    if ((rc = json_skip_ws(r, &c, err)) < 0)
        return rc;
    if (c != ':')
        return json_fail(r, r->line, r->col, "expected ':'", err);
    json_advance(r, 1);
    if ((rc = json_skip_ws(r, &c, err)) < 0)
        return rc;
    if (json_object_get(r->fields, k)) {
        char msg[API_QUOTE_MAX + 32];
        char q[API_QUOTE_MAX];
        snprintf(msg, sizeof(msg), "duplicate object key %s", api_quote(k, q, sizeof(q)));
        return json_fail(r, line, col, msg, err);
    }
    if (strcmp(k, "items") == 0 && c == '[' && json_is_list(r->fields)) {
        json_advance(r, 1);
        /* Marks the key as seen for the duplicate check; the items are not kept. */
        json_t *none = json_array();
        if (!none || json_object_set_new(r->fields, k, none) < 0)
            return error_oom(err);
        r->state = J_ITEMS_FIRST;
        r->listed = true;
        *ret_unit = (struct api_unit){API_UNIT_LIST_BEGIN, json_incref(r->fields)};
        return 0;
    }
    json_t *v = NULL;
    if ((rc = json_value(r, &v, err)) < 0)
        return rc;
    if (json_object_set_new(r->fields, k, v) < 0)
        return error_oom(err);
    r->state = J_OBJECT_MORE;
    return 0;
}

int api_json_reader_next(struct api_json_reader *r, struct api_unit *ret, struct error *err) {
    json_compact(r);
    struct api_unit unit = {API_UNIT_END, NULL};
    int c, rc;
    while (unit.type == API_UNIT_END && r->state != J_DONE) {
        if ((rc = json_skip_ws(r, &c, err)) < 0)
            return rc;
        size_t line = r->line, col = r->col;
        switch (r->state) {
        case J_START:
            if (c != '[' && c != '{')
                return json_fail(r, line, col, "expected '[' or '{'", err);
            json_advance(r, 1);
            if (c == '{' && !(r->fields = json_object()))
                return error_oom(err);
            r->state = c == '[' ? J_ARRAY_FIRST : J_OBJECT_FIRST;
            break;
        case J_ARRAY_FIRST:
        case J_ARRAY_MORE:
        case J_ITEMS_FIRST:
        case J_ITEMS_MORE: {
            bool items = r->state == J_ITEMS_FIRST || r->state == J_ITEMS_MORE;
            bool first = r->state == J_ARRAY_FIRST || r->state == J_ITEMS_FIRST;
            if (c == ']') {
                json_advance(r, 1);
                r->state = items ? J_OBJECT_MORE : J_TAIL;
                break;
            }
            if (!first) {
                if (c != ',')
                    return json_fail(r, line, col,
                                     c < 0 ? "unexpected end of input: expected ',' or ']'"
                                           : "expected ',' or ']'",
                                     err);
                json_advance(r, 1);
                if ((rc = json_skip_ws(r, &c, err)) < 0)
                    return rc;
            }
            if ((rc = json_value(r, &unit.value, err)) < 0)
                return rc;
            unit.type = items ? API_UNIT_ITEM : API_UNIT_DOC;
            r->state = items ? J_ITEMS_MORE : J_ARRAY_MORE;
            break;
        }
        case J_OBJECT_FIRST:
        case J_OBJECT_MORE:
            if (c == '}') {
                json_advance(r, 1);
                unit.type = r->listed ? API_UNIT_LIST_END : API_UNIT_DOC;
                unit.value = steal_ptr(&r->fields);
                r->state = J_TAIL;
                break;
            }
            if (r->state == J_OBJECT_MORE) {
                if (c != ',')
                    return json_fail(r, line, col,
                                     c < 0 ? "unexpected end of input: expected ',' or '}'"
                                           : "expected ',' or '}'",
                                     err);
                json_advance(r, 1);
                if ((rc = json_skip_ws(r, &c, err)) < 0)
                    return rc;
            }
            if ((rc = json_field(r, &unit, err)) < 0)
                return rc;
            break;
        case J_TAIL:
            if (c >= 0)
                return json_fail(r, line, col, "end of file expected", err);
            r->state = J_DONE;
            break;
        case J_DONE:
            break;
        }
    }
    *ret = unit;
    return 0;
}
