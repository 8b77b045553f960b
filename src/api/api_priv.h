/*
 * api_priv.h: what the api module's own files share and its tests may use,
 * but other modules must not: release helpers for the parts of an object,
 * the label-key grammar and the JSON-path buffer used in error messages.
 */
#ifndef HEARTH_API_PRIV_H
#define HEARTH_API_PRIV_H

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

/* Writes s into buf as a double-quoted string for messages: control
 * characters and quotes escaped, cut at 80 characters with "...". NULL
 * gives `""`. buf should hold at least 128 bytes. Returns buf. */
const char *api_quote(const char *s, char *buf, size_t size);
#define API_QUOTE_MAX 400

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

#endif
