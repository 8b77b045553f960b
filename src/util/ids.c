/*
 * Identifiers: object ids are 16 lowercase hex characters (64 bits) from the
 * kernel's random source; VMs without a name get "adjective-noun" names, as
 * Docker and Ignite give them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/util.h"

static int random_bytes(void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom((char *)buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

int id_generate(char ret[ID_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[ID_LEN / 2];
    int r = random_bytes(raw, sizeof(raw));
    if (r < 0)
        return r;
    for (size_t i = 0; i < sizeof(raw); i++) {
        ret[2 * i] = hex[raw[i] >> 4];
        ret[2 * i + 1] = hex[raw[i] & 0xf];
    }
    ret[ID_LEN] = '\0';
    return 0;
}

bool id_is_valid(const char *s) {
    if (!s || strlen(s) != ID_LEN)
        return false;
    for (size_t i = 0; i < ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static const char *const adjectives[] = {
    "admiring", "amber",   "bold",    "brave",    "bright", "calm",     "clever",  "cosy",
    "crisp",    "daring",  "dreamy",  "eager",    "elated", "epic",     "fervent", "festive",
    "fond",     "gallant", "gentle",  "glowing",  "happy",  "hardy",    "hopeful", "humble",
    "jolly",    "keen",    "kind",    "lively",   "loving", "lucid",    "mellow",  "merry",
    "modest",   "nifty",   "noble",   "peaceful", "placid", "plucky",   "proud",   "quiet",
    "quirky",   "radiant", "relaxed", "serene",   "sharp",  "silent",   "smoky",   "snug",
    "sparkly",  "stoic",   "sunny",   "swift",    "tender", "thirsty",  "tidy",    "upbeat",
    "vibrant",  "vivid",   "warm",    "wise",     "witty",  "youthful", "zealous", "zen",
};

static const char *const nouns[] = {
    "anvil",   "ash",    "beacon", "birch",   "bellows",  "brand",  "brazier", "candle",
    "chimney", "cinder", "coal",   "comet",   "crucible", "ember",  "fir",     "flame",
    "flare",   "flint",  "forge",  "furnace", "glow",     "grate",  "hearth",  "heron",
    "kettle",  "kiln",   "lamp",   "lantern", "log",      "maple",  "match",   "oak",
    "oven",    "pine",   "poker",  "pyre",    "quartz",   "rowan",  "smelter", "smoke",
    "spark",   "stack",  "stove",  "taper",   "thistle",  "timber", "torch",   "willow",
    "wick",    "yew",    "acorn",  "badger",  "cedar",    "falcon", "fox",     "hazel",
    "lynx",    "marten", "otter",  "raven",   "sparrow",  "stoat",  "wren",    "alder",
};

int name_generate(char *ret, size_t size) {
    uint16_t pick[2];
    int r = random_bytes(pick, sizeof(pick));
    if (r < 0)
        return r;
    int n = snprintf(ret, size, "%s-%s", adjectives[pick[0] % ARRAY_SIZE(adjectives)],
                     nouns[pick[1] % ARRAY_SIZE(nouns)]);
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return 0;
}
