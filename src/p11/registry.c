/*
 * registry.c - a registered p11-kit module's file, from p11-kit's
 * configuration, with no module loaded (registry.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "p11/registry.h"

/* As p11-kit was built; the Makefile passes what pkg-config p11-kit-1 says. */
#ifndef P11S_P11_MODULE_PATH
#define P11S_P11_MODULE_PATH "/usr/lib/x86_64-linux-gnu/pkcs11"
#endif
#ifndef P11S_P11_PACKAGE_MODULES
#define P11S_P11_PACKAGE_MODULES "/usr/share/p11-kit/modules"
#endif
#ifndef P11S_P11_SYSCONFDIR
#define P11S_P11_SYSCONFDIR "/etc"
#endif

const struct p11_registry_paths p11_registry_default = {
	.system_conf = P11S_P11_SYSCONFDIR "/pkcs11/pkcs11.conf",
	.user_conf = "~/.config/pkcs11/pkcs11.conf",
	.user_modules = "~/.config/pkcs11/modules",
	.system_modules = P11S_P11_SYSCONFDIR "/pkcs11/modules",
	.package_modules = P11S_P11_PACKAGE_MODULES,
	.module_path = P11S_P11_MODULE_PATH,
	.user_config = -1,
	.progname = NULL,
};

#define NAME_MAX_BYTES	255

/* The settings read; each NULL until a file sets it. */
enum conf_key { K_MODULE, K_REMOTE, K_ENABLE_IN, K_DISABLE_IN, K_USER_CONFIG, K_COUNT };
static const char *const key_names[K_COUNT] = {
	"module", "remote", "enable-in", "disable-in", "user-config",
};

struct conf {
	char *v[K_COUNT];
	char from[K_COUNT][PATH_MAX];	/* the file each came from, for why */
};

enum { USER_NONE, USER_MERGE, USER_ONLY, USER_INVALID };

static void
say(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
}

static void
conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < K_COUNT; i++) {
		free(c->v[i]);
		c->v[i] = NULL;
	}
}

static int
name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > NAME_MAX_BYTES || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-' &&
		    name[i] != '.')
			return 0;
	return 1;
}

/* "~/..." as p11-kit expands it (registry.h); other paths copied.  NULL: no home, or memory. */
static char *
expand(const char *path)
{
	const char *rest, *base;
	struct passwd pw, *pwp = NULL;
	char buf[1024], *out = NULL;

	if (path[0] != '~' || (path[1] != '/' && path[1] != '\0'))
		return strdup(path);
	rest = path + 1;
	while (*rest == '/')
		rest++;
	base = NULL;
	if (strncmp(rest, ".config", 7) == 0 && (rest[7] == '/' || rest[7] == '\0') &&
	    (base = getenv("XDG_CONFIG_HOME")) != NULL && base[0] != '\0') {
		rest += 7;
		while (*rest == '/')
			rest++;
	} else if ((base = getenv("HOME")) == NULL || base[0] == '\0') {
		if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
			return NULL;
		base = pwp->pw_dir;
	}
	if (asprintf(&out, "%s%s%s", base, rest[0] != '\0' ? "/" : "", rest) < 0)
		out = NULL;
	return out;
}

/* Whitespace at both ends off, in place. */
static char *
trim(char *s, char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/*
 * Read one config file into c, each key only where c has none yet (the
 * first file read wins); within the file the last line for a key wins, as
 * in p11-kit.  A missing file is no error (*foundp 0); with quiet_access,
 * nor is one we may not read.  ERR_P11_MODULE_LOAD when it does not parse.
 */
static int
conf_read(const char *path, int quiet_access, struct conf *c, int *foundp, char *why,
    size_t whysz)
{
	struct conf f;
	FILE *fp = NULL;
	char *data = NULL, *line, *next, *colon, *name, *value;
	size_t n, i;
	int r;

	*foundp = 0;
	memset(&f, 0, sizeof(f));
	if ((fp = fopen(path, "rbe")) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR ||
		    (quiet_access && (errno == EACCES || errno == EPERM))) {
			r = 0;
			goto out;
		}
		say(why, whysz, "cannot read %.200s: %s", path, strerror(errno));
		r = ERR_P11_MODULE_LOAD;
		goto out;
	}
	*foundp = 1;
	if ((data = malloc(LIMIT_P11_CONF_BYTES + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	n = fread(data, 1, LIMIT_P11_CONF_BYTES + 1, fp);
	if (ferror(fp) || n > LIMIT_P11_CONF_BYTES || memchr(data, '\0', n) != NULL) {
		say(why, whysz, "%.200s: unreadable, over %d bytes, or not text", path,
		    LIMIT_P11_CONF_BYTES);
		r = ERR_P11_MODULE_LOAD;
		goto out;
	}
	data[n] = '\0';
	for (line = data; line != NULL && *line != '\0'; line = next) {
		char *eol = strchr(line, '\n');

		next = eol != NULL ? eol + 1 : NULL;
		line = trim(line, eol != NULL ? eol : line + strlen(line));
		if (line[0] == '\0' || line[0] == '#')
			continue;
		/* p11-kit's lexer: sections and PEM blocks are errors in these files. */
		if (line[0] == '[' || strncmp(line, "-----BEGIN ", 11) == 0 ||
		    (colon = strchr(line, ':')) == NULL) {
			say(why, whysz, "%.200s: not a \"name: value\" line", path);
			r = ERR_P11_MODULE_LOAD;
			goto out;
		}
		name = trim(line, colon);
		value = trim(colon + 1, colon + 1 + strlen(colon + 1));
		for (i = 0; i < K_COUNT; i++) {
			if (strcmp(name, key_names[i]) != 0)
				continue;
			free(f.v[i]);
			if ((f.v[i] = strdup(value)) == NULL) {
				r = ERR_NOMEM;
				goto out;
			}
		}
	}
	for (i = 0; i < K_COUNT; i++) {
		if (c->v[i] != NULL || f.v[i] == NULL)
			continue;
		c->v[i] = f.v[i];
		f.v[i] = NULL;
		snprintf(c->from[i], sizeof(c->from[i]), "%s", path);
	}
	r = 0;
 out:
	if (fp != NULL)
		fclose(fp);
	free(data);
	conf_free(&f);
	return r;
}

static int
user_mode(const char *v, int def)
{
	if (v == NULL)
		return def;
	if (strcmp(v, "none") == 0)
		return USER_NONE;
	if (strcmp(v, "merge") == 0)
		return USER_MERGE;
	if (strcmp(v, "only") == 0 || strcmp(v, "override") == 0)
		return USER_ONLY;
	return USER_INVALID;
}

/* The global configuration's user-config mode, as p11-kit settles it. */
static int
global_mode(const struct p11_registry_paths *p, int *modep, char *why, size_t whysz)
{
	struct conf sys, usr;
	char *upath = NULL;
	int r, found, mode, allowed;

	memset(&sys, 0, sizeof(sys));
	memset(&usr, 0, sizeof(usr));
	if ((r = conf_read(p->system_conf, 0, &sys, &found, why, whysz)) != 0)
		goto out;
	mode = user_mode(sys.v[K_USER_CONFIG], USER_MERGE);
	allowed = p->user_config >= 0 ? p->user_config :
	    getuid() != 0 && getauxval(AT_SECURE) == 0;
	if (mode == USER_INVALID) {
		say(why, whysz, "%.200s: user-config is not none, merge, only or override",
		    p->system_conf);
		r = ERR_P11_MODULE_LOAD;
		goto out;
	}
	if (!allowed)
		mode = USER_NONE;
	if (mode != USER_NONE) {
		if ((upath = expand(p->user_conf)) == NULL) {
			say(why, whysz, "cannot find the home directory for %.100s", p->user_conf);
			r = ERR_P11_MODULE_LOAD;
			goto out;
		}
		if ((r = conf_read(upath, 1, &usr, &found, why, whysz)) != 0)
			goto out;
		if ((mode = user_mode(usr.v[K_USER_CONFIG], mode)) == USER_INVALID) {
			say(why, whysz, "%.200s: user-config is not none, merge, only or override",
			    upath);
			r = ERR_P11_MODULE_LOAD;
			goto out;
		}
	}
	*modep = mode;
	r = 0;
 out:
	free(upath);
	conf_free(&sys);
	conf_free(&usr);
	return r;
}

/* 1 when word is one of list's comma- or space-separated items. */
static int
listed(const char *list, const char *word)
{
	size_t n = strlen(word), k;
	const char *s = list;

	while (*s != '\0') {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		k = strcspn(s, ", \t\r\n\v\f");
		if (k == n && k > 0 && strncmp(s, word, n) == 0)
			return 1;
		s += k;
	}
	return 0;
}

int
p11_registry_resolve(const char *name, const struct p11_registry_paths *paths,
    char **pathp, char *why, size_t whysz)
{
	const char *dirs[3], *prog;
	struct conf c;
	char *dir = NULL, *file = NULL, *out = NULL;
	size_t i, ndirs = 0;
	int r, mode = USER_NONE, found, any = 0;

	memset(&c, 0, sizeof(c));
	if (pathp != NULL)
		*pathp = NULL;
	if (name == NULL || paths == NULL || pathp == NULL) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if (!name_ok(name)) {
		say(why, whysz, "not a p11-kit module name (letters, digits, _ - .)");
		r = ERR_P11_MODULE_NOT_REGISTERED;
		goto out;
	}
	if ((r = global_mode(paths, &mode, why, whysz)) != 0)
		goto out;
	if (mode != USER_NONE)
		dirs[ndirs++] = paths->user_modules;
	if (mode != USER_ONLY) {
		dirs[ndirs++] = paths->system_modules;
		dirs[ndirs++] = paths->package_modules;
	}
	for (i = 0; i < ndirs; i++) {
		free(dir);
		free(file);
		file = NULL;
		if ((dir = expand(dirs[i])) == NULL) {
			/* No home: p11-kit fails there too. */
			say(why, whysz, "cannot find the home directory for %.100s", dirs[i]);
			r = ERR_P11_MODULE_LOAD;
			goto out;
		}
		if (asprintf(&file, "%s/%s.module", dir, name) < 0) {
			file = NULL;
			r = ERR_NOMEM;
			goto out;
		}
		if (strlen(file) >= PATH_MAX) {
			r = ERR_TOO_LONG;
			goto out;
		}
		/* The user's directory may be unreadable to us (SELinux): p11-kit skips it. */
		if ((r = conf_read(file, i == 0 && mode != USER_NONE, &c, &found, why, whysz)) != 0)
			goto out;
		any |= found;
	}
	if (!any) {
		say(why, whysz, "no %.60s.module in p11-kit's module directories", name);
		r = ERR_P11_MODULE_NOT_REGISTERED;
		goto out;
	}
	prog = paths->progname != NULL ? paths->progname : program_invocation_short_name;
	if ((c.v[K_ENABLE_IN] != NULL && !listed(c.v[K_ENABLE_IN], prog)) ||
	    (c.v[K_DISABLE_IN] != NULL && listed(c.v[K_DISABLE_IN], prog))) {
		say(why, whysz, "%.200s: not enabled for %.60s", c.from[c.v[K_ENABLE_IN] != NULL ?
		    K_ENABLE_IN : K_DISABLE_IN], prog);
		r = ERR_P11_MODULE_NOT_REGISTERED;
		goto out;
	}
	if (c.v[K_MODULE] == NULL || c.v[K_MODULE][0] == '\0') {
		if (c.v[K_REMOTE] != NULL && c.v[K_REMOTE][0] != '\0') {
			say(why, whysz, "%.200s: a remote module has no file to check",
			    c.from[K_REMOTE]);
			r = ERR_P11_MODULE_PATH;
		} else {
			if (c.v[K_MODULE] != NULL)
				say(why, whysz, "%.200s: its module: is empty", c.from[K_MODULE]);
			r = ERR_P11_MODULE_NOT_REGISTERED;
		}
		goto out;
	}
	if (c.v[K_MODULE][0] == '/')
		out = strdup(c.v[K_MODULE]);
	else if (asprintf(&out, "%s/%s", paths->module_path, c.v[K_MODULE]) < 0)
		out = NULL;
	if (out == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (strlen(out) >= PATH_MAX) {
		r = ERR_TOO_LONG;
		goto out;
	}
	say(why, whysz, "registered in %.200s", c.from[K_MODULE]);
	*pathp = out;
	out = NULL;
	r = 0;
 out:
	free(out);
	free(dir);
	free(file);
	conf_free(&c);
	return r;
}
