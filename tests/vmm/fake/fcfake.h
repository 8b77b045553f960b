/*
 * fcfake's judge (check.c), shared by the fake's server (fcfake.c) and the
 * fuzz target tests/fuzz/fcfake.c: the state of one fake Firecracker, the
 * parsing of a request's head, and the verdict on a whole request.
 */
#ifndef HEARTH_FCFAKE_H
#define HEARTH_FCFAKE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "api/api.h"
#include "util/util.h"

#define FAKE_HEAD_MAX 8192        /* bytes of request line + headers */
#define FAKE_BODY_MAX (64u << 10) /* bytes of a request body */

struct fake {
    json_t *spec; /* the spec document */
    FILE *log;
    const char *id;
    const char *refuse;
    bool logger, metrics, boot_source, started;
    bool exit_after; /* answered SendCtrlAltDel: exit once the answer is out */
    char *kernel;    /* boot-source's kernel_image_path (owned) */
    char *boot_args; /* boot-source's boot_args (owned) */
    int tap_fd;      /* the tap network-interfaces named, held open as Firecracker holds it; -1 */
    bool no_taps;    /* check the request only, open no tap (the fuzz target: no links made) */
    char tail[64];   /* the console input's last bytes, to see a reboot line */
    size_t tail_len;
};

struct req {
    char method[16];
    char path[512];
    struct strbuf body;
};

/* Loads the spec (YAML) into a fresh f; err says what is wrong with it. */
int fake_init(struct fake *f, const char *spec_path, struct error *err);
/* Forgets the requests seen (a new instance), keeping the spec. */
void fake_reset(struct fake *f);
void fake_release(struct fake *f);

/*
 * Parses a request's head (NUL-terminated, without the blank line): the
 * method, the path without its query, Content-Length (at most
 * FAKE_BODY_MAX: else -EFBIG) and whether the client expects 100 Continue.
 * -EPROTO for a malformed request line.
 */
int fake_parse_head(char *head, struct req *rq, uint64_t *ret_clen, bool *ret_expect);

/*
 * Judges one whole request as Firecracker would, recording what it changed
 * in f: 0 with the answer's body in out (may stay empty), or -EINVAL with
 * Firecracker's fault_message in err.
 */
int fake_handle(struct fake *f, const struct req *rq, struct strbuf *out, struct error *err);

#endif
