/*
 * net cni, inside the module: what the configuration reader (cni_conf.c)
 * and the plugin runner (cni_exec.c) share.
 */
#ifndef HEARTH_NET_CNI_PRIV_H
#define HEARTH_NET_CNI_PRIV_H

#include <jansson.h>

#include "net/net.h"

#define CNI_CONF_MAX (1u << 20) /* bytes of a configuration file */
#define CNI_PLUGINS_MAX 64      /* plugins in one list */
#define CNI_NAME_MAX 255        /* a network's name, a plugin's type, a container id */

/*
 * Whether list (a parsed network configuration list) is one the CNI spec
 * allows and hearth can run: "name" (the spec's grammar), "cniVersion"
 * (optional, a version), "disableCheck" (optional, a boolean), "plugins" (1
 * to CNI_PLUGINS_MAX objects, each with a "type" that is a file name and
 * "capabilities", if any, of booleans). -EINVAL naming file and the field
 * ("'plugins[1].type' is missing").
 */
int net_cni_list_check(const char *file, const json_t *list, struct error *err) WUR;

/* Whether version (1 to 3 numbers; "" is 0.1.0, as plugins read it) is at least a.b.c. */
bool net_cni_version_at_least(const char *version, unsigned a, unsigned b, unsigned c);

/* Whether s matches the spec's grammar for names and container ids: [A-Za-z0-9][A-Za-z0-9_.-]*. */
bool net_cni_name_is_valid(const char *s);

#endif
