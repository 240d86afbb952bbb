/*
 * doctor.c - p11signer doctor: what is wrong with the token set-up (the
 * helper, pcscd, USB readers and their permissions, each module's tokens
 * and keys), each problem with its fix.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/err.h"
#include "p11/client.h"
#include "cmd/p11signer-int.h"

static int doctor_problems;

static void
doctor_say(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
doctor_say(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok:     " : "PROBLEM:");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		doctor_problems++;
}

static int
read_small(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got;

	if (f == NULL)
		return -1;
	got = fread(out, 1, n - 1, f);
	fclose(f);
	out[got] = '\0';
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' '))
		out[--got] = '\0';
	return 0;
}

/* A sysfs bus or device number: 1 to 3 decimal digits. */
static int
sysfs_number(const char *s, unsigned *out)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 3 || s[n] != '\0')
		return -1;
	*out = (unsigned)strtoul(s, NULL, 10);
	return 0;
}

/* pcscd's socket accepts a connection. */
static void
doctor_pcscd(void)
{
	const char *path = getenv("P11S_DOCTOR_PCSCD_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ok;

	if (path == NULL)
		path = "/run/pcscd/pcscd.comm";
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	if (fd >= 0)
		close(fd);
	if (ok)
		doctor_say(1, "pcscd is running (%s)", path);
	else
		doctor_say(0, "pcscd is not running (no %s): smartcards and most USB tokens need it; "
		    "fix: apt-get install pcscd && systemctl enable --now pcscd.socket "
		    "(HSMs with their own module, SoftHSM2 and YubiHSM 2, do not)", path);
}

/*
 * USB devices: smart card readers (interface class 0x0b, CCID) and the
 * devices of tokens/devices.tsv, and whether this user may open them.
 */
/* snprintf that says when it cut: 0, or -1 when out was too small. */
static int
pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	return r >= 0 && (size_t)r < n ? 0 : -1;
}

static void
doctor_usb(void)
{
	const char *sysfs = getenv("P11S_DOCTOR_SYSFS"), *devroot = getenv("P11S_DOCTOR_DEV");
	char base[PATH_MAX], path[PATH_MAX + 64], cls[16], busnum[16], devnum[16], prod[128];
	struct dirent *de, *ie;
	DIR *d, *id;
	int readers = 0;

	if (sysfs == NULL)
		sysfs = "/sys";
	if (devroot == NULL)
		devroot = "/dev";
	if (pathf(base, sizeof(base), "%s/bus/usb/devices", sysfs) != 0)
		return;
	if ((d = opendir(base)) == NULL) {
		doctor_say(0, "no USB bus is visible (%s): in Qubes, attach the token to this "
		    "qube from sys-usb (dom0: qvm-usb attach VAULT sys-usb:BUS-PORT)", base);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		int ccid = 0;

		if (de->d_name[0] == '.' || strchr(de->d_name, ':') != NULL)
			continue;
		if (pathf(path, sizeof(path), "%s/%s", base, de->d_name) != 0)
			continue;
		if ((id = opendir(path)) == NULL)
			continue;
		while ((ie = readdir(id)) != NULL) {
			char ipath[PATH_MAX + 400];

			if (strchr(ie->d_name, ':') == NULL)
				continue;
			if (pathf(ipath, sizeof(ipath), "%s/%s/bInterfaceClass", path, ie->d_name) == 0 &&
			    read_small(ipath, cls, sizeof(cls)) == 0 && strcmp(cls, "0b") == 0)
				ccid = 1;
		}
		closedir(id);
		if (!ccid)
			continue;
		readers++;
		(void)pathf(prod, sizeof(prod), "USB device %s", de->d_name);
		{
			char p2[PATH_MAX + 80];
			unsigned bus, dev;

			if (pathf(p2, sizeof(p2), "%s/product", path) == 0)
				(void)read_small(p2, prod, sizeof(prod));
			if (pathf(p2, sizeof(p2), "%s/busnum", path) != 0 || read_small(p2, busnum, sizeof(busnum)) != 0)
				continue;
			if (pathf(p2, sizeof(p2), "%s/devnum", path) != 0 || read_small(p2, devnum, sizeof(devnum)) != 0)
				continue;
			if (sysfs_number(busnum, &bus) != 0 || sysfs_number(devnum, &dev) != 0 ||
			    pathf(p2, sizeof(p2), "%s/bus/usb/%03u/%03u", devroot, bus, dev) != 0)
				continue;
			if (access(p2, R_OK | W_OK) == 0)
				doctor_say(1, "smart card reader \"%s\" (%s), and this user may open it",
				    prod, p2);
			else
				doctor_say(0, "smart card reader \"%s\": this user may not open %s; fix: "
				    "install udev/60-p11signer.rules (make install) and add the user to "
				    "group p11signer, or run pcscd (which opens it as root)", prod, p2);
		}
	}
	closedir(d);
	if (readers == 0)
		doctor_say(0, "no smart card reader (USB CCID) is seen: plug the token in; in Qubes "
		    "attach it from sys-usb (qvm-usb attach VAULT sys-usb:BUS-PORT, or "
		    "qvm-device assign on Qubes 4.3); HSMs that are not CCID devices are checked "
		    "through their module below");
}

/* Each module: loadable and allowed, its tokens, their secp256k1 keys. */
static void
doctor_modules(const struct opts *o)
{
	size_t i, t;

	for (i = 0; i < o->nmodules; i++) {
		struct p11_client_config cc;
		struct p11_client *c = NULL;
		struct proto_msg *list = NULL;
		char why[P11_CLIENT_WHY_MAX] = "";
		int r;

		memset(&cc, 0, sizeof(cc));
		cc.helper_path = opts_helper_path(o);
		cc.module = o->modules[i];
		cc.allowed_dirs = o->nallow > 0 ? o->allow : NULL;
		cc.nallowed = o->nallow;
		if ((r = p11_client_start(&cc, &c, why)) != 0 ||
		    (r = p11_client_list(c, &list, why)) != 0) {
			doctor_say(0, "module %s cannot be used: %s; fix: %s", o->modules[i],
			    why[0] != '\0' ? why : err_str(r),
			    r == ERR_P11_MODULE_NOT_ALLOWED ? "install it under /usr/lib or pass --allow DIR" :
			    r == ERR_P11_MODULE_PATH ? "check the path (apt-get install opensc-pkcs11 for OpenSC)" :
			    r == ERR_P11_MODULE_NOT_PKCS11 ? "this file is not a PKCS#11 module" :
			    "see the message; p11signer list --module M shows more");
			p11_client_stop(c);
			continue;
		}
		doctor_say(1, "module %s loads (%s %s)", o->modules[i],
		    list->key_list.manufacturer, list->key_list.description);
		if (list->key_list.ntokens == 0)
			doctor_say(0, "module %s sees no slot: is the reader attached and pcscd running?",
			    o->modules[i]);
		for (t = 0; t < list->key_list.ntokens; t++) {
			const struct proto_token *tok = &list->key_list.tokens[t];

			if (!(tok->flags & PROTO_TOKEN_PRESENT))
				doctor_say(0, "slot %llu of %s: no token in it",
				    (unsigned long long)tok->slot_id, o->modules[i]);
			else if (tok->flags & PROTO_TOKEN_PIN_LOCKED)
				doctor_say(0, "token \"%s\": its user PIN is locked; unlock it with the "
				    "token's tools (SO PIN / PUK)", tok->label);
			else if (tok->nkeys == 0)
				doctor_say(0, "token \"%s\": no secp256k1 key is visible (keys may be "
				    "private objects: give a PIN with --token '%s?pin-source=file:...'); "
				    "make one with: p11signer keygen --module %s --token '%s' --label eth0; "
				    "a token that cannot do secp256k1 says so there", tok->label, tok->uri,
				    o->modules[i], tok->uri);
			else
				doctor_say(1, "token \"%s\": %zu secp256k1 key(s)%s", tok->label,
				    tok->nkeys, (tok->flags & (PROTO_TOKEN_PIN_COUNT_LOW |
				    PROTO_TOKEN_PIN_FINAL_TRY)) ? "; WARNING: failed PIN tries" : "");
		}
		proto_msg_free(list);
		p11_client_stop(c);
	}
}

/*
 * Whether a module reaches its token through pcscd and a USB smart card
 * reader.  SoftHSM2 keeps its keys in files and YubiHSM 2's module speaks
 * to yubihsm-connector: neither needs pcscd nor a CCID reader, and saying
 * those are missing would send the user after the wrong problem.  Every
 * other module (OpenSC, vendor smartcard modules, p11-kit-proxy) may.
 */
static int
module_needs_pcscd(const char *module)
{
	static const char *const own_transport[] = { "softhsm", "yubihsm" };
	const char *base = strrchr(module, '/');
	size_t i;

	base = base != NULL ? base + 1 : module;
	for (i = 0; i < sizeof(own_transport) / sizeof(own_transport[0]); i++)
		if (strstr(base, own_transport[i]) != NULL)
			return 0;
	return 1;
}

int
cmd_doctor(int argc, char **argv)
{
	struct opts o;
	const char *helper;
	size_t i;
	int need_pcscd = 0;

	parse_opts(&o, argc, argv);
	helper = opts_helper_path(&o);
	if (access(helper, X_OK) == 0)
		doctor_say(1, "token helper %s", helper);
	else
		doctor_say(0, "token helper %s is missing: reinstall p11signer, or pass --helper", helper);
	if (o.nmodules == 0) {
		static const char *const known[] = {
			"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
			"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
			"/usr/lib/arm-linux-gnueabihf/opensc-pkcs11.so",
		};

		need_pcscd = 1;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (access(known[i], R_OK) == 0)
				o.modules[o.nmodules++] = known[i];
		if (o.nmodules == 0)
			doctor_say(0, "no --module given and OpenSC's module is not installed; fix: "
			    "apt-get install opensc-pkcs11, or name your HSM's module with --module");
	}
	for (i = 0; i < o.nmodules; i++)
		need_pcscd |= module_needs_pcscd(o.modules[i]);
	if (need_pcscd) {
		doctor_pcscd();
		doctor_usb();
	} else
		doctor_say(1, "pcscd and a USB smart card reader: not needed by %s%s (its module "
		    "reaches its keys without them)", o.modules[0], o.nmodules > 1 ? " and the others" : "");
	doctor_modules(&o);
	opts_free(&o);
	printf("%d problem%s found\n", doctor_problems, doctor_problems == 1 ? "" : "s");
	return doctor_problems > 0;
}
