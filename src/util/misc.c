/*
 * Small helpers without a better home: string and path predicates, strict number
 * parsing, RFC 3339 times, Docker-style durations, and the log level.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

bool str_starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_control(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

bool path_is_clean(const char *s) {
    if (!s || s[0] != '/')
        return false;
    const char *p = s;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p = e;
    }
    return true;
}

bool path_is_host_clean(const char *s) {
    return path_is_clean(s) && strlen(s) < PATH_MAX && !str_has_control(s);
}

int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
    if (!s || !*s)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

void time_format_rfc3339(int64_t t, char buf[32]) {
    time_t tt = (time_t)t;
    struct tm tm;
    char rest[24];
    /* Four digits of year, as RFC 3339 has them (%Y would write "265"); a
     * time outside the years 0000-9999 has no RFC 3339 form: its number. */
    if (!gmtime_r(&tt, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
        strftime(rest, sizeof(rest), "-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "%lld", (long long)t);
    else
        snprintf(buf, 32, "%04hu%s", (unsigned short)(tm.tm_year + 1900), rest);
}

static int parse_digits(const char **p, int n, int *ret) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -EINVAL;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *ret = v;
    return 0;
}

static int expect(const char **p, char c) {
    if (**p != c)
        return -EINVAL;
    (*p)++;
    return 0;
}

int time_parse_rfc3339(const char *s, int64_t *ret) {
    struct tm tm = {0};
    const char *p = s;
    int year, mon, day, hour, min, sec;
    if (parse_digits(&p, 4, &year) || expect(&p, '-') || parse_digits(&p, 2, &mon) ||
        expect(&p, '-') || parse_digits(&p, 2, &day))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (parse_digits(&p, 2, &hour) || expect(&p, ':') || parse_digits(&p, 2, &min) ||
        expect(&p, ':') || parse_digits(&p, 2, &sec))
        return -EINVAL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || expect(&p, ':') || parse_digits(&p, 2, &om))
            return -EINVAL;
        if (oh > 23 || om > 59)
            return -EINVAL;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -EINVAL;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm normalises Feb 30 to Mar 2: refuse days the month does not have. */
    struct tm back;
    if (!gmtime_r(&t, &back) || back.tm_mday != day)
        return -EINVAL;
    /* The time in UTC must still have a year of four digits, to be written back. */
    time_t utc = t - offset;
    if (!gmtime_r(&utc, &back) || back.tm_year + 1900 < 0 || back.tm_year + 1900 > 9999)
        return -EINVAL;
    *ret = (int64_t)utc;
    return 0;
}

int64_t time_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void time_format_ago(int64_t t, int64_t now, char *buf, size_t size) {
    int64_t d = now - t;
    if (d < 0)
        d = 0;
    if (d < 60)
        snprintf(buf, size, "%llds", (long long)d);
    else if (d < 3600)
        snprintf(buf, size, "%lldm", (long long)(d / 60));
    else if (d < 48 * 3600)
        snprintf(buf, size, "%lldh", (long long)(d / 3600));
    else if (d < 2 * 365 * 86400LL)
        snprintf(buf, size, "%lldd", (long long)(d / 86400));
    else
        snprintf(buf, size, "%lldy", (long long)(d / (365 * 86400LL)));
}

void size_format_human(uint64_t bytes, char *buf, size_t size) {
    static const char prefixes[] = "KMGTPE";
    for (int i = 5; i >= 0; i--) {
        unsigned shift = 10u * (unsigned)(i + 1);
        if (bytes >= (1ull << shift)) {
            snprintf(buf, size, "%.1f %cB", (double)bytes / (double)(1ull << shift), prefixes[i]);
            return;
        }
    }
    snprintf(buf, size, "%llu B", (unsigned long long)bytes);
}

/* The process-wide log level, set once by the front end from --log-level. */
static enum log_level current_level = LOG_WARN;

int log_level_parse(const char *s, enum log_level *ret) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_set_level(enum log_level level) {
    current_level = level;
}

enum log_level log_get_level(void) {
    return current_level;
}

void log_msg(enum log_level level, const char *fmt, ...) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > current_level)
        return;
    char msg[ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hearth: %s: %s\n", names[level], msg);
}
