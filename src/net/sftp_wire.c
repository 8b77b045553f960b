/*
 * net sftp wire: SFTP version 3 packets (draft-ietf-secsh-filexfer-02)
 * built into a fixed buffer and read back with every length checked
 * against what the packet holds, and STATUS codes as errnos and words.
 * Nothing here does I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/sftp_priv.h"

static void put_bytes(struct sftp_out *o, const void *p, size_t n) {
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    if (n)
        memcpy(o->p + o->len, p, n);
    o->len += n;
}

void sftp_put_u8(struct sftp_out *o, uint8_t v) {
    put_bytes(o, &v, 1);
}

void sftp_put_u32(struct sftp_out *o, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put_bytes(o, b, 4);
}

void sftp_put_u64(struct sftp_out *o, uint64_t v) {
    sftp_put_u32(o, (uint32_t)(v >> 32));
    sftp_put_u32(o, (uint32_t)v);
}

void sftp_put_str(struct sftp_out *o, const void *s, size_t n) {
    if (n > UINT32_MAX) {
        o->overflow = true;
        return;
    }
    sftp_put_u32(o, (uint32_t)n);
    put_bytes(o, s, n);
}

void sftp_put_cstr(struct sftp_out *o, const char *s) {
    sftp_put_str(o, s, strlen(s));
}

void sftp_put_attrs(struct sftp_out *o, const struct sftp_attrs *a) {
    uint32_t f = a->flags &
                 (SFTP_ATTR_SIZE | SFTP_ATTR_UIDGID | SFTP_ATTR_PERMISSIONS | SFTP_ATTR_ACMODTIME);
    sftp_put_u32(o, f);
    if (f & SFTP_ATTR_SIZE)
        sftp_put_u64(o, a->size);
    if (f & SFTP_ATTR_UIDGID) {
        sftp_put_u32(o, a->uid);
        sftp_put_u32(o, a->gid);
    }
    if (f & SFTP_ATTR_PERMISSIONS)
        sftp_put_u32(o, a->perm);
    if (f & SFTP_ATTR_ACMODTIME) {
        sftp_put_u32(o, a->atime);
        sftp_put_u32(o, a->mtime);
    }
}

void sftp_begin(struct sftp_out *o, uint8_t type, uint32_t id) {
    sftp_put_u32(o, 0); /* the length, filled by sftp_end */
    sftp_put_u8(o, type);
    if (type != SFTP_INIT)
        sftp_put_u32(o, id);
}

bool sftp_end(struct sftp_out *o, size_t start) {
    if (o->overflow || o->len < start + 5 || o->len - start - 4 > SFTP_PACKET_MAX)
        return false;
    uint32_t n = (uint32_t)(o->len - start - 4);
    unsigned char *p = o->p + start;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    return true;
}

static const unsigned char *get_bytes(struct sftp_in *in, size_t n) {
    if (in->bad || n > in->len) {
        in->bad = true;
        return NULL;
    }
    const unsigned char *p = in->p;
    in->p += n;
    in->len -= n;
    return p;
}

uint8_t sftp_get_u8(struct sftp_in *in) {
    const unsigned char *p = get_bytes(in, 1);
    return p ? p[0] : 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint32_t sftp_get_u32(struct sftp_in *in) {
    const unsigned char *p = get_bytes(in, 4);
    return p ? be32(p) : 0;
}

uint64_t sftp_get_u64(struct sftp_in *in) {
    uint64_t hi = sftp_get_u32(in);
    return hi << 32 | sftp_get_u32(in);
}

void sftp_get_str(struct sftp_in *in, const unsigned char **ret, size_t *ret_n) {
    uint32_t n = sftp_get_u32(in);
    const unsigned char *p = get_bytes(in, n);
    *ret = p ? p : (const unsigned char *)"";
    *ret_n = p ? n : 0;
}

void sftp_get_attrs(struct sftp_in *in, struct sftp_attrs *ret) {
    struct sftp_attrs a = {.flags = sftp_get_u32(in)};
    if (a.flags & SFTP_ATTR_SIZE)
        a.size = sftp_get_u64(in);
    if (a.flags & SFTP_ATTR_UIDGID) {
        a.uid = sftp_get_u32(in);
        a.gid = sftp_get_u32(in);
    }
    if (a.flags & SFTP_ATTR_PERMISSIONS)
        a.perm = sftp_get_u32(in);
    if (a.flags & SFTP_ATTR_ACMODTIME) {
        a.atime = sftp_get_u32(in);
        a.mtime = sftp_get_u32(in);
    }
    if (a.flags & SFTP_ATTR_EXTENDED) {
        uint32_t n = sftp_get_u32(in);
        if (n > SFTP_EXT_MAX)
            in->bad = true;
        for (uint32_t i = 0; i < n && !in->bad; i++) {
            const unsigned char *s;
            size_t len;
            sftp_get_str(in, &s, &len); /* type */
            sftp_get_str(in, &s, &len); /* data */
        }
    }
    *ret = a;
}

int sftp_msg_parse(const unsigned char *p, size_t n, struct sftp_msg *m, size_t *ret_need) {
    if (n < 4) {
        *ret_need = 0;
        return 1;
    }
    uint32_t len = be32(p);
    if (len < 1 || len > SFTP_PACKET_MAX)
        return -EBADMSG;
    *ret_need = (size_t)len + 4;
    if (n < (size_t)len + 4)
        return 1;
    struct sftp_in in = {.p = p + 4, .len = len};
    m->type = sftp_get_u8(&in);
    m->id = 0;
    if (m->type != SFTP_VERSION) {
        m->id = sftp_get_u32(&in);
        if (in.bad)
            return -EBADMSG;
    }
    m->body = in;
    return 0;
}

int sftp_status_errno(uint32_t code) {
    switch (code) {
    case SFTP_EOF:
        return ENODATA;
    case SFTP_NO_SUCH_FILE:
        return ENOENT;
    case SFTP_PERMISSION_DENIED:
        return EACCES;
    case SFTP_FAILURE:
        return EIO;
    case SFTP_BAD_MESSAGE:
        return EBADMSG;
    case SFTP_NO_CONNECTION:
        return ENOTCONN;
    case SFTP_CONNECTION_LOST:
        return ECONNRESET;
    case SFTP_OP_UNSUPPORTED:
        return ENOTSUP;
    default:
        return EPROTO;
    }
}

void sftp_status_text(uint32_t code, const char *server_msg, char *buf, size_t size) {
    bool said = server_msg && *server_msg && strcmp(server_msg, "Failure") != 0;
    if (code == SFTP_FAILURE)
        snprintf(buf, size, "failed%s%s%s", said ? " (" : "", said ? server_msg : "",
                 said ? ")" : "");
    else if (sftp_status_errno(code) == EPROTO)
        snprintf(buf, size, "status %u%s%s%s", code, said ? " (" : "", said ? server_msg : "",
                 said ? ")" : "");
    else
        snprintf(buf, size, "%s", strerror(sftp_status_errno(code)));
}
