/*
 * api_priv.h: what the api module's own files share and its tests may use,
 * but other modules must not: release helpers for the parts of an object,
 * the label-key grammar, the JSON-path buffer used in error messages, and
 * the pieces that read a document stream one unit at a time.
 */
#ifndef HEARTH_API_PRIV_H
#define HEARTH_API_PRIV_H

#include <sys/types.h>

#include "api/api.h"

/* Releases what a part owns and zeroes it. Each accepts a zeroed part. */
void api_meta_release(struct api_meta *m);
void api_oci_claim_release(struct api_oci_claim *c);
void api_oci_source_release(struct api_oci_source *s);

/* Frees an array of n strings and the array. */
void api_strv_free(char **v, size_t n);

/* True if s is a Kubernetes-style label key: [prefix/]name, prefix a DNS-1123
 * subdomain of at most 253, name at most 63 of [A-Za-z0-9-_.] with alnum ends. */
bool api_label_key_is_valid(const char *s);
/* True if s is a label value: empty, or a label name as above. */
bool api_label_value_is_valid(const char *s);
/* True if s is an IPv4 or IPv6 address. */
bool api_ip_is_valid(const char *s);

/* A field path being built while walking a document ("spec.ports[2].vmPort").
 * Appending past the end truncates; the path is only ever used in messages. */
struct api_path {
    char buf[512];
    size_t len;
};

/* Appends ".key" (or "key" at the start) and returns the old length, which
 * api_path_pop takes to restore the path. */
size_t api_path_push(struct api_path *p, const char *key);
/* Appends "[index]" and returns the old length. */
size_t api_path_push_index(struct api_path *p, size_t index);
void api_path_pop(struct api_path *p, size_t old_len);
/* The path, or "(document)" when empty. */
const char *api_path_str(const struct api_path *p);

/* api_object_from_json with a path prefix for messages ("items[3]"), used for
 * the items of a List. prefix may be NULL. */
int api_object_decode(const json_t *doc, const char *prefix, struct api_object **ret,
                      struct error *err) WUR;

/* ---- reading a document stream (stream.c, yaml.c, docs.c) ---------------- */

/*
 * The bytes of one input: a buffer, or a file descriptor read in blocks as
 * the parser needs them. A file may hold at most API_INPUT_MAX bytes.
 */
struct api_input {
    const char *name; /* what errors call the input */
    int fd;           /* -1: the buffer */
    const char *data; /* the buffer */
    size_t len;       /* its length */
    size_t off;       /* buffer: bytes handed out; fd: bytes read */
    char *head;       /* fd: bytes read ahead by api_input_peek, handed out first */
    size_t head_len, head_off;
};

void api_input_init_buffer(struct api_input *in, const char *data, size_t len, const char *name);
void api_input_init_fd(struct api_input *in, int fd, const char *name);
void api_input_release(struct api_input *in);
/* Copies up to size bytes into buf: how many (0 at the end), or -errno with
 * err set naming the input (-EFBIG past API_INPUT_MAX). */
ssize_t api_input_read(struct api_input *in, void *buf, size_t size, struct error *err) WUR;
/* The first byte that is not white space, after a UTF-8 byte order mark if
 * there is one (*ret_bom), or -1 for an input of white space only. Nothing
 * is consumed. Returns 0 or -errno. */
int api_input_peek(struct api_input *in, int *ret_c, bool *ret_bom, struct error *err) WUR;
/* Drops the next n bytes, which api_input_peek has read ahead. */
void api_input_skip(struct api_input *in, size_t n);

/*
 * What a reader hands out, one at a time:
 * - DOC: a whole document (JSON null for an empty YAML document);
 * - LIST_BEGIN: a List whose items follow one at a time: its fields seen so
 *   far (kind is "List"; no items);
 * - ITEM: one item of that List;
 * - LIST_END: the List's fields, all of them (items, if there, empty);
 * - END: the input is exhausted.
 * The value is the caller's (json_decref).
 */
enum api_unit_type {
    API_UNIT_END,
    API_UNIT_DOC,
    API_UNIT_LIST_BEGIN,
    API_UNIT_ITEM,
    API_UNIT_LIST_END
};

struct api_unit {
    enum api_unit_type type;
    json_t *value;
};

/* A YAML stream read with libyaml's event parser, one unit at a time. With
 * stream_lists, the items of a document that is a List (kind: List before
 * items) are handed out one by one; otherwise each document is whole. */
struct api_yaml_reader;
int api_yaml_reader_new(struct api_input *in, bool stream_lists, struct api_yaml_reader **ret,
                        struct error *err) WUR;
int api_yaml_reader_next(struct api_yaml_reader *r, struct api_unit *ret, struct error *err) WUR;
void api_yaml_reader_free(struct api_yaml_reader *r);

/*
 * JSON read one unit at a time: the elements of a top-level array are
 * documents; a top-level object is one document, whose items are handed out
 * one by one when it is a List ("kind": "List" before "items"). Only the
 * unit being read is in memory. Syntax errors name the input, line and
 * column ("vm.json:3:7: ...").
 */
struct api_json_reader;
int api_json_reader_new(struct api_input *in, struct api_json_reader **ret, struct error *err) WUR;
int api_json_reader_next(struct api_json_reader *r, struct api_unit *ret, struct error *err) WUR;
void api_json_reader_free(struct api_json_reader *r);

#endif
