/*
 * registry.h - the file of a PKCS#11 module registered with p11-kit, found by
 * reading p11-kit's configuration the way p11-kit reads it, without loading
 * any module.
 *
 * Why: p11_kit_modules_load() dlopen()s every registered module to find one
 * by name, so a module registered in ~/.config/pkcs11/modules would run its
 * constructors inside the token helper before the allowlist is checked.
 * Here the name becomes a path; token.c then checks that path (realpath,
 * allowlist, C_GetFunctionList) and loads that one file only.
 *
 * What p11-kit does, and so this (pkcs11.conf(5); p11-kit's conf.c):
 *  - The global config is the system file (/etc/pkcs11/pkcs11.conf), its
 *    "user-config:" none, merge (the default), only or override; then, when
 *    user config is allowed, the user file (~/.config/pkcs11/pkcs11.conf),
 *    whose "user-config:" wins.  User config is never read by root or by a
 *    setuid/setgid program (getauxval(AT_SECURE)).
 *  - "~/.config/..." is $XDG_CONFIG_HOME/... when that is set and not
 *    empty, else $HOME/.config/..., else the passwd entry's home.
 *  - Module NAME is the file NAME.module.  The user's modules directory is
 *    read first (unless user-config is none), then, unless it is only or
 *    override, the system directory (/etc/pkcs11/modules) and the package
 *    directory (/usr/share/p11-kit/modules).  Of the files found, each
 *    setting is taken from the first that has it: so a user's "module:"
 *    wins over the system's, which wins over the package's.
 *  - An empty "module:" means not registered (a user's way to hide a system
 *    module); a "remote:" module has no file and is refused; "enable-in" /
 *    "disable-in" (program names, comma or space separated) are honoured
 *    for this program's name; a relative "module:" is in p11-kit's module
 *    directory (pkg-config p11-kit-1 --variable p11_module_path).
 *  - A config file that does not parse (a line that is not "name: value",
 *    a section or PEM block, over LIMIT_P11_CONF_BYTES) fails, as p11-kit
 *    fails to load any module then.
 * Names are letters, digits, '_', '-', '.', starting with a letter or digit
 * (p11-kit's rule for the file names), at most 255 bytes: anything else is
 * not a registered name and touches no file.
 *
 * Returns 0 or a negative ERR_* code (core/err.h); *pathp is set only on
 * success (caller frees).  why (may be NULL) gets a line naming the file
 * that decided, or what failed.
 */
#ifndef P11_REGISTRY_H
#define P11_REGISTRY_H

#include <stddef.h>

/* Where p11-kit looks.  "~/" paths are expanded as above. */
struct p11_registry_paths {
	const char *system_conf;	/* /etc/pkcs11/pkcs11.conf */
	const char *user_conf;		/* ~/.config/pkcs11/pkcs11.conf */
	const char *user_modules;	/* ~/.config/pkcs11/modules */
	const char *system_modules;	/* /etc/pkcs11/modules */
	const char *package_modules;	/* /usr/share/p11-kit/modules */
	const char *module_path;	/* the directory of relative "module:" values */
	int user_config;		/* -1: as p11-kit (not root, not setuid); 0: never; 1: always */
	const char *progname;		/* for enable-in / disable-in; NULL: this program's */
};

/* p11-kit's own paths, as it was built (see the Makefile). */
extern const struct p11_registry_paths p11_registry_default;

/*
 * The module file registered as name.  Errors:
 * ERR_P11_MODULE_NOT_REGISTERED (no such name, an empty "module:", or
 * disabled for this program), ERR_P11_MODULE_PATH (a remote module: no file),
 * ERR_P11_MODULE_LOAD (a config that does not parse, or a user-config value
 * p11-kit refuses), ERR_TOO_LONG, ERR_NOMEM.
 */
int p11_registry_resolve(const char *name, const struct p11_registry_paths *paths,
    char **pathp, char *why, size_t whysz);

#endif /* P11_REGISTRY_H */
