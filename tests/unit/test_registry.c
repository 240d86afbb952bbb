/*
 * p11/registry: a registered module's file from p11-kit's configuration,
 * table-driven over registries laid out in a temporary directory: p11-kit's
 * precedence (user, system, package; the first file that sets a setting
 * wins), user-config none/merge/only, relative module paths, empty and
 * remote modules, enable-in/disable-in, names that are not names, files that
 * do not parse, and "~/.config" under $XDG_CONFIG_HOME or $HOME.  Nothing
 * is loaded, so nothing here needs a module.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "p11/registry.h"

static char root[256];	/* short: every path built from it fits PATH_MAX */

/* Write root/rel (its directory made), or remove it when text is NULL. */
static void
put(const char *rel, const char *text)
{
	char path[PATH_MAX], dir[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (text == NULL) {
		unlink(path);
		return;
	}
	memcpy(dir, path, sizeof(dir));
	for (slash = dir + strlen(root) + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(dir, 0755);
		*slash = '/';
	}
	if ((f = fopen(path, "w")) == NULL)
		fail_msg("cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

struct layout {
	const char *file;	/* under root */
	const char *text;
};

struct rcase {
	const char *what;
	struct layout files[4];
	const char *name;
	int user_config;	/* as in p11_registry_paths */
	const char *progname;
	int want;		/* 0 or an ERR_* */
	const char *want_path;	/* with root for "@" */
};

static const struct rcase cases[] = {
	{ "package registration", { { "pkg/a.module", "module: /opt/a.so\n" } },
	  "a", 1, NULL, 0, "/opt/a.so" },
	{ "relative module: in p11-kit's module directory", { { "pkg/rel.module", "module: rel.so" } },
	  "rel", 1, NULL, 0, "@/modpath/rel.so" },
	{ "user over system over package",
	  { { "user/p.module", "module: /u.so\n" }, { "sys/p.module", "module: /s.so\n" },
	    { "pkg/p.module", "module: /p.so\n" } }, "p", 1, NULL, 0, "/u.so" },
	{ "system over package", { { "sys/p.module", "module: /s.so\n" },
	    { "pkg/p.module", "module: /p.so\n" } }, "p", 1, NULL, 0, "/s.so" },
	{ "no user config (root, setuid): the user's file is not read",
	  { { "user/p.module", "module: /u.so\n" }, { "pkg/p.module", "module: /p.so\n" } },
	  "p", 0, NULL, 0, "/p.so" },
	{ "user-config: none in the system file",
	  { { "sys.conf", "user-config: none\n" }, { "user/p.module", "module: /u.so\n" },
	    { "pkg/p.module", "module: /p.so\n" } }, "p", 1, NULL, 0, "/p.so" },
	{ "user-config: only in the user's file: the system's modules are not read",
	  { { "user.conf", "user-config: only\n" }, { "pkg/p.module", "module: /p.so\n" } },
	  "p", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "user-config: override is only",
	  { { "user.conf", "# mine\nuser-config: override\n" }, { "user/p.module", "module: /u.so" },
	    { "pkg/p.module", "module: /p.so\n" } }, "p", 1, NULL, 0, "/u.so" },
	{ "user-config of another value: p11-kit loads nothing",
	  { { "sys.conf", "user-config: sometimes\n" }, { "pkg/p.module", "module: /p.so\n" } },
	  "p", 1, NULL, ERR_P11_MODULE_LOAD, NULL },
	{ "an empty module: in the user's file hides the package's",
	  { { "user/p.module", "module:\n" }, { "pkg/p.module", "module: /p.so\n" } },
	  "p", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "settings merge: the user's disable-in over the package's module",
	  { { "user/p.module", "disable-in: p11signer-token\n" }, { "pkg/p.module", "module: /p.so\n" } },
	  "p", 1, "p11signer-token", ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "enable-in that lists us", { { "pkg/p.module", "module: /p.so\nenable-in: seahorse, p11signer-token\n" } },
	  "p", 1, "p11signer-token", 0, "/p.so" },
	{ "enable-in that does not", { { "pkg/p.module", "module: /p.so\nenable-in: seahorse ssh\n" } },
	  "p", 1, "p11signer-token", ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "disable-in that lists another program", { { "pkg/p.module", "module: /p.so\ndisable-in: firefox\n" } },
	  "p", 1, "p11signer-token", 0, "/p.so" },
	{ "a remote module has no file", { { "pkg/r.module", "remote: |ssh host p11-kit remote m.so\n" } },
	  "r", 1, NULL, ERR_P11_MODULE_PATH, NULL },
	{ "blanks and comments", { { "pkg/b.module", "\n# a comment\n   module  :   /b.so   \n\n" } },
	  "b", 1, NULL, 0, "/b.so" },
	{ "the last line for a key in one file wins", { { "pkg/l.module", "module: /one.so\nmodule: /two.so\n" } },
	  "l", 1, NULL, 0, "/two.so" },
	{ "a section does not parse", { { "pkg/s.module", "[section]\nmodule: /s.so\n" } },
	  "s", 1, NULL, ERR_P11_MODULE_LOAD, NULL },
	{ "a line without a colon does not parse", { { "pkg/c.module", "module /c.so\n" } },
	  "c", 1, NULL, ERR_P11_MODULE_LOAD, NULL },
	{ "no such name", { { "pkg/a.module", "module: /a.so\n" } },
	  "nothere", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "a path is not a name", { { "pkg/a.module", "module: /a.so\n" } },
	  "../pkg/a", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "a name starting with a dot is not a name", { { "pkg/.a.module", "module: /a.so\n" } },
	  ".a", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "an empty name", { { "pkg/a.module", "module: /a.so\n" } },
	  "", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
	{ "a file without .module is not looked at", { { "pkg/bare", "module: /bare.so\n" } },
	  "bare", 1, NULL, ERR_P11_MODULE_NOT_REGISTERED, NULL },
};

static void
paths_for(struct p11_registry_paths *p, char bufs[6][PATH_MAX], int user_config,
    const char *progname)
{
	static const char *const rel[6] = { "sys.conf", "user.conf", "user", "sys", "pkg", "modpath" };
	int i;

	for (i = 0; i < 6; i++)
		snprintf(bufs[i], PATH_MAX, "%s/%s", root, rel[i]);
	memset(p, 0, sizeof(*p));
	p->system_conf = bufs[0];
	p->user_conf = bufs[1];
	p->user_modules = bufs[2];
	p->system_modules = bufs[3];
	p->package_modules = bufs[4];
	p->module_path = bufs[5];
	p->user_config = user_config;
	p->progname = progname;
}

static void
clean_root(void)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", root);
	if (system(cmd) != 0)
		fail_msg("cannot remove %s", root);
}

static void
test_cases(void **state)
{
	struct p11_registry_paths p;
	char bufs[6][PATH_MAX], want[PATH_MAX], why[256], *got;
	size_t i, j;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];

		snprintf(root, sizeof(root), "%s/p11s-registry.XXXXXX", getenv("TMPDIR") != NULL ?
		    getenv("TMPDIR") : "/tmp");
		if (mkdtemp(root) == NULL)
			fail_msg("mkdtemp");
		for (j = 0; j < 4 && c->files[j].file != NULL; j++)
			put(c->files[j].file, c->files[j].text);
		paths_for(&p, bufs, c->user_config, c->progname);
		got = (char *)1;
		r = p11_registry_resolve(c->name, &p, &got, why, sizeof(why));
		if (r != c->want)
			fail_msg("%s: got %s (%s), want %s", c->what, err_name(r), why, err_name(c->want));
		if (c->want == 0) {
			snprintf(want, sizeof(want), "%s%s", c->want_path[0] == '@' ? root : "",
			    c->want_path + (c->want_path[0] == '@'));
			if (got == NULL || strcmp(got, want) != 0)
				fail_msg("%s: got %s, want %s", c->what, got != NULL ? got : "NULL", want);
			assert_non_null(strstr(why, "registered in "));
			free(got);
		} else if (got != NULL) {
			fail_msg("%s: *pathp set on failure", c->what);
		}
		clean_root();
	}
}

/* "~/.config/..." is $XDG_CONFIG_HOME/... when set, else $HOME/.config/... */
static void
test_home_expansion(void **state)
{
	struct p11_registry_paths p;
	char bufs[6][PATH_MAX], xdg[PATH_MAX], home[PATH_MAX], *got = NULL;
	int r;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/p11s-registry.XXXXXX");
	if (mkdtemp(root) == NULL)
		fail_msg("mkdtemp");
	put("xdg/pkcs11/modules/x.module", "module: /from-xdg.so\n");
	put("home/.config/pkcs11/modules/x.module", "module: /from-home.so\n");
	snprintf(xdg, sizeof(xdg), "%s/xdg", root);
	snprintf(home, sizeof(home), "%s/home", root);
	paths_for(&p, bufs, 1, NULL);
	p.user_conf = "~/.config/pkcs11/pkcs11.conf";
	p.user_modules = "~/.config/pkcs11/modules";
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	r = p11_registry_resolve("x", &p, &got, NULL, 0);
	assert_int_equal(r, 0);
	assert_string_equal(got, "/from-xdg.so");
	free(got);
	setenv("XDG_CONFIG_HOME", "", 1);
	r = p11_registry_resolve("x", &p, &got, NULL, 0);
	assert_int_equal(r, 0);
	assert_string_equal(got, "/from-home.so");
	free(got);
	unsetenv("XDG_CONFIG_HOME");
	clean_root();
}

/* A file over the cap is not read, and is an error (as one p11-kit cannot parse). */
static void
test_file_cap(void **state)
{
	struct p11_registry_paths p;
	char bufs[6][PATH_MAX], *big, *got = NULL;
	size_t n = 70000;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/p11s-registry.XXXXXX");
	if (mkdtemp(root) == NULL)
		fail_msg("mkdtemp");
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, '#', n);
	big[n] = '\0';
	memcpy(big, "module: /x.so\n", 14);
	put("pkg/big.module", big);
	free(big);
	paths_for(&p, bufs, 1, NULL);
	assert_int_equal(p11_registry_resolve("big", &p, &got, NULL, 0), ERR_P11_MODULE_LOAD);
	assert_null(got);
	clean_root();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_home_expansion),
		cmocka_unit_test(test_file_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
