/*
 * p11signer - the signer daemon and its commands.  See docs/p11signer.1.
 *
 *   p11signer serve [options]     Clef's external API on the token layer
 *   p11signer list [options]      modules, tokens, keys and addresses
 *   p11signer keygen options      a new secp256k1 key on a token
 *   p11signer doctor [--module M] what is wrong with the token set-up, and the fix
 *   p11signer audit verify FILE   check the audit log's hash chain
 *   p11signer version
 *
 * PKCS#11 code is loaded only by p11signer-token, which this program starts
 * (one per --module) and speaks to over a socketpair (docs/token-protocol.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <termios.h>
#include <unistd.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"
#include "eth/u256.h"
#include "p11/client.h"
#include "rpc/caller.h"
#include "rpc/http.h"
#include "rpc/ipc.h"
#include "rpc/qrexec.h"
#include "rpc/tls.h"
#include "signer/api.h"
#include "signer/audit.h"
#include "signer/harden.h"
#include "signer/keystore.h"
#include "signer/policy.h"
#include "signer/ui_socket.h"
#include "signer/ui_stdio.h"
#include "signer/ui_tty.h"

#ifndef P11S_LIBEXECDIR
#define P11S_LIBEXECDIR "/usr/local/libexec/p11signer"
#endif
#define P11S_VERSION "0.1.0"
#define MAX_LIST 32		/* --module, --token, --allow, vhosts, cors */

struct opts {
	const char *modules[MAX_LIST];
	size_t nmodules;
	const char *tokens[MAX_LIST];
	size_t ntokens;
	const char *allow[MAX_LIST];
	size_t nallow;
	const char *helper;
	int http;
	const char *http_addr;
	unsigned http_port;
	const char *vhosts[MAX_LIST];
	size_t nvhosts;
	const char *cors[MAX_LIST];
	size_t ncors;
	const char *ipcpath;
	int ipcdisable;
	const char *qrexec_socket;
	int stdio;
	int stdio_ui;
	const char *ui;
	const char *ui_socket;		/* --ui socket: --ui.socket PATH */
	long ui_socket_uid;		/* --ui.socket.uid; -1: ours */
	const char *rules;
	const char *rules_state;
	struct eth_u256 chain_id;
	const char *auditlog;
	const char *auditlog_checkpoint;
	const char *auditlog_key;
	int advanced;
	unsigned approval_timeout;
	const char *keygen_token;
	const char *label;
	unsigned sessions;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_pins[MAX_LIST];
	size_t ntls_pins;
	const char *fourbytedb;	/* --4bytedb: Clef's 4byte.json format */
	char *owned[256];	/* strings this program allocated (config file values) */
	size_t nowned;
};

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("p11signer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: p11signer serve [options]\n"
	    "       p11signer list [--module M]... [--token URI]...\n"
	    "       p11signer keygen --module M --token URI --label L\n"
	    "       p11signer login --module M --token URI\n"
	    "       p11signer doctor [--module M]...\n"
	    "       p11signer tls init DIR NAME\n"
	    "       p11signer audit verify FILE [--head HASH[@SEQ]] [--checkpoints FILE] [--key FILE]\n"
	    "       p11signer version\n"
	    "p11signer COMMAND --help shows that command's options; see p11signer(1).\n");
}

/* The options every command that starts token helpers takes. */
static void
usage_token_opts(FILE *f)
{
	fprintf(f,
	    "  --module PATH|NAME     PKCS#11 module (repeatable)\n"
	    "  --token URI            offer only keys of these tokens/keys (repeatable)\n"
	    "  --allow DIR            allowed module directory (repeatable; default /usr/lib*/, /usr/local/lib*/)\n"
	    "  --helper PATH          the token helper (default: next to p11signer, else "
	    P11S_LIBEXECDIR "/p11signer-token)\n"
	    "  --sessions N           PKCS#11 sessions per token (1 to 16)\n"
	    "  --config FILE          JSON object of these options\n");
}

/* `p11signer CMD --help`: that command's usage, on stdout. */
static void
usage_command(FILE *f, const char *cmd)
{
	if (strcmp(cmd, "serve") == 0) {
		fprintf(f, "usage: p11signer serve [options]\n"
		    "options (see p11signer(1)):\n");
		usage_token_opts(f);
		fprintf(f,
		    "  --http                 serve HTTP on --http.addr:--http.port\n"
		    "  --http.addr ADDR       (127.0.0.1)   --http.port PORT (8550)\n"
		    "  --http.vhosts LIST     accepted Host names (localhost)\n"
		    "  --http.corsdomain LIST origins sent CORS headers (none)\n"
		    "  --ipcpath PATH         IPC socket (~/.p11signer/p11signer.ipc)  --ipcdisable\n"
		    "  --qrexec.socket PATH   serve a qrexec socket service (Qubes vault)\n"
		    "  --stdio                answer one request on stdin/stdout (qrexec executable service)\n"
		    "  --stdio-ui             approve through a Clef UI on stdin/stdout\n"
		    "  --ui tty|none          built-in approver (tty when a terminal is there, else none)\n"
		    "  --ui socket            approvers (p11signer-approve) connect to --ui.socket PATH\n"
		    "                         ($XDG_RUNTIME_DIR/p11signer/ui.sock); --ui.socket.uid N (ours)\n"
		    "  --rules FILE           policy file (docs/policy.md)\n"
		    "  --rules-state FILE     where the policy's windows are kept across restarts\n"
		    "  --chainid N            chain id (1)\n"
		    "  --auditlog FILE        hash-chained audit log\n"
		    "  --auditlog.checkpoint FILE  append each head (HASH@SEQ) here too; checked at start\n"
		    "  --auditlog.key FILE    key the chain (HMAC-SHA256; file mode 0600 or stricter)\n"
		    "  --advanced             validation warnings do not refuse a transaction\n"
		    "  --4bytedb FILE         function signatures for call data (Clef's 4byte.json)\n"
		    "  --approval-timeout S   seconds to wait for an approval (120)\n"
		    "  --keygen-token URI     token for account_new   --label PREFIX\n"
		    "  --http.tls.cert FILE --http.tls.key FILE --http.tls.client-fingerprint sha256:HEX\n"
		    "                         mutual TLS on --http: only pinned client certificates (docs/tls.md)\n");
	} else if (strcmp(cmd, "keygen") == 0) {
		fprintf(f, "usage: p11signer keygen --module M --token URI --label L\n"
		    "options (see p11signer(1)):\n");
		usage_token_opts(f);
		fprintf(f, "  --label L              the new key's label (CKA_LABEL)\n");
	} else if (strcmp(cmd, "login") == 0) {
		fprintf(f, "usage: p11signer login --module M --token URI\n"
		    "  log in once, typing the PIN on the terminal, after the token's tries are\n"
		    "  shown: the way out when failed tries stop p11signer from using a PIN\n"
		    "options (see p11signer(1)):\n");
		usage_token_opts(f);
	} else {
		fprintf(f, "usage: p11signer %s [--module M]... [--token URI]...\n"
		    "options (see p11signer(1)):\n", cmd);
		usage_token_opts(f);
	}
}

static void
split_into(char *s, const char **out, size_t *n, const char *what)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST)
			die("too many %s", what);
		out[(*n)++] = tok;
	}
}

static void
push(const char **list, size_t *n, const char *v, const char *what)
{
	if (*n == MAX_LIST)
		die("too many %s (at most %d)", what, MAX_LIST);
	list[(*n)++] = v;
}

static unsigned
parse_unsigned(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9' || (v = strtoul(s, &end, 10), *end != '\0') ||
	    errno != 0 || v > max)
		die("%s: not a number from 0 to %lu: %s", what, max, s);
	return (unsigned)v;
}

enum {
	O_MODULE = 256, O_TOKEN, O_ALLOW, O_HELPER, O_HTTP, O_HTTP_ADDR, O_HTTP_PORT,
	O_VHOSTS, O_CORS, O_IPCPATH, O_IPCDISABLE, O_QREXEC, O_STDIO, O_STDIO_UI, O_UI,
	O_RULES, O_RULES_STATE, O_CHAINID, O_AUDITLOG, O_ADVANCED, O_TIMEOUT,
	O_KEYGEN_TOKEN, O_LABEL, O_SESSIONS, O_CONFIG, O_TLS_CERT, O_TLS_KEY, O_TLS_PIN,
	O_AUDIT_CHECKPOINT, O_AUDIT_KEY,
	O_UI_SOCKET, O_UI_SOCKET_UID,
	O_4BYTEDB,
};

static const struct option long_opts[] = {
	{ "module", required_argument, NULL, O_MODULE },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "allow", required_argument, NULL, O_ALLOW },
	{ "helper", required_argument, NULL, O_HELPER },
	{ "http", no_argument, NULL, O_HTTP },
	{ "http.addr", required_argument, NULL, O_HTTP_ADDR },
	{ "http.port", required_argument, NULL, O_HTTP_PORT },
	{ "http.vhosts", required_argument, NULL, O_VHOSTS },
	{ "http.corsdomain", required_argument, NULL, O_CORS },
	{ "ipcpath", required_argument, NULL, O_IPCPATH },
	{ "ipcdisable", no_argument, NULL, O_IPCDISABLE },
	{ "qrexec.socket", required_argument, NULL, O_QREXEC },
	{ "stdio", no_argument, NULL, O_STDIO },
	{ "stdio-ui", no_argument, NULL, O_STDIO_UI },
	{ "ui", required_argument, NULL, O_UI },
	{ "rules", required_argument, NULL, O_RULES },
	{ "rules-state", required_argument, NULL, O_RULES_STATE },
	{ "chainid", required_argument, NULL, O_CHAINID },
	{ "auditlog", required_argument, NULL, O_AUDITLOG },
	{ "auditlog.checkpoint", required_argument, NULL, O_AUDIT_CHECKPOINT },
	{ "auditlog.key", required_argument, NULL, O_AUDIT_KEY },
	{ "advanced", no_argument, NULL, O_ADVANCED },
	{ "approval-timeout", required_argument, NULL, O_TIMEOUT },
	{ "keygen-token", required_argument, NULL, O_KEYGEN_TOKEN },
	{ "label", required_argument, NULL, O_LABEL },
	{ "sessions", required_argument, NULL, O_SESSIONS },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "http.tls.cert", required_argument, NULL, O_TLS_CERT },
	{ "http.tls.key", required_argument, NULL, O_TLS_KEY },
	{ "http.tls.client-fingerprint", required_argument, NULL, O_TLS_PIN },
	{ "ui.socket", required_argument, NULL, O_UI_SOCKET },
	{ "ui.socket.uid", required_argument, NULL, O_UI_SOCKET_UID },
	{ "4bytedb", required_argument, NULL, O_4BYTEDB },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void load_config(struct opts *o, const char *path);

/* One option; value is NULL for flags.  Shared by argv and the config file. */
static void
apply(struct opts *o, int opt, char *value)
{
	switch (opt) {
	case O_MODULE: push(o->modules, &o->nmodules, value, "--module"); break;
	case O_TOKEN: push(o->tokens, &o->ntokens, value, "--token"); break;
	case O_ALLOW: push(o->allow, &o->nallow, value, "--allow"); break;
	case O_HELPER: o->helper = value; break;
	case O_HTTP: o->http = 1; break;
	case O_HTTP_ADDR: o->http_addr = value; break;
	case O_HTTP_PORT: o->http_port = parse_unsigned(value, 65535, "--http.port"); break;
	case O_VHOSTS: o->nvhosts = 0; split_into(value, o->vhosts, &o->nvhosts, "vhosts"); break;
	case O_CORS: o->ncors = 0; split_into(value, o->cors, &o->ncors, "CORS domains"); break;
	case O_IPCPATH: o->ipcpath = value; break;
	case O_IPCDISABLE: o->ipcdisable = 1; break;
	case O_QREXEC: o->qrexec_socket = value; break;
	case O_STDIO: o->stdio = 1; break;
	case O_STDIO_UI: o->stdio_ui = 1; break;
	case O_UI:
		if (strcmp(value, "tty") != 0 && strcmp(value, "none") != 0 &&
		    strcmp(value, "socket") != 0)
			die("--ui: want tty, socket or none, not %s", value);
		o->ui = value;
		break;
	case O_RULES: o->rules = value; break;
	case O_RULES_STATE: o->rules_state = value; break;
	case O_CHAINID:
		if ((strncmp(value, "0x", 2) == 0 ?
		    eth_u256_parse_quantity(value, strlen(value), &o->chain_id) :
		    eth_u256_parse_decimal(value, strlen(value), &o->chain_id)) != 0 ||
		    eth_u256_is_zero(&o->chain_id))
			die("--chainid: not a chain id: %s", value);
		break;
	case O_AUDITLOG: o->auditlog = value; break;
	case O_AUDIT_CHECKPOINT: o->auditlog_checkpoint = value; break;
	case O_AUDIT_KEY: o->auditlog_key = value; break;
	case O_ADVANCED: o->advanced = 1; break;
	case O_TIMEOUT: o->approval_timeout = parse_unsigned(value, 86400, "--approval-timeout"); break;
	case O_KEYGEN_TOKEN: o->keygen_token = value; break;
	case O_LABEL: o->label = value; break;
	case O_SESSIONS: o->sessions = parse_unsigned(value, LIMIT_P11_SESSIONS, "--sessions"); break;
	case O_CONFIG: load_config(o, value); break;
	case O_TLS_CERT: o->tls_cert = value; break;
	case O_TLS_KEY: o->tls_key = value; break;
	case O_TLS_PIN: split_into(value, o->tls_pins, &o->ntls_pins, "client fingerprints"); break;
	case O_UI_SOCKET: o->ui_socket = value; break;
	case O_UI_SOCKET_UID:
		o->ui_socket_uid = (long)parse_unsigned(value, 0x7fffffff, "--ui.socket.uid");
		break;
	case O_4BYTEDB: o->fourbytedb = value; break;
	default:
		/* getopt_long has said which option it did not know. */
		fputs("p11signer: see --help for the options\n", stderr);
		exit(2);
	}
}

static char *
keep(struct opts *o, char *s)
{
	if (s == NULL || o->nowned == sizeof(o->owned) / sizeof(o->owned[0]))
		die("config file: too many values");
	return o->owned[o->nowned++] = s;
}

/*
 * --config FILE: a JSON object whose members are option names without the
 * dashes; flags take true, repeatable options an array, the rest a string or
 * a number.  Applied where --config stands, so later options win.
 */
static void
load_config(struct opts *o, const char *path)
{
	json_error_t jerr;
	json_t *cfg, *v, *item;
	const char *key;
	size_t i;

	if ((cfg = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		die("%s:%d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(cfg))
		die("%s: want a JSON object of options", path);
	json_object_foreach(cfg, key, v) {
		const struct option *lo;

		for (lo = long_opts; lo->name != NULL; lo++)
			if (strcmp(lo->name, key) == 0)
				break;
		if (lo->name == NULL || lo->val == O_CONFIG || lo->val == 'h')
			die("%s: unknown option \"%s\"", path, key);
		if (lo->has_arg == no_argument) {
			if (!json_is_boolean(v))
				die("%s: %s wants true or false", path, key);
			if (json_is_true(v))
				apply(o, lo->val, NULL);
			continue;
		}
		if (json_is_array(v)) {
			json_array_foreach(v, i, item) {
				if (!json_is_string(item))
					die("%s: %s wants strings", path, key);
				apply(o, lo->val, keep(o, strdup(json_string_value(item))));
			}
		} else if (json_is_string(v))
			apply(o, lo->val, keep(o, strdup(json_string_value(v))));
		else if (json_is_integer(v)) {
			char num[32];

			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			apply(o, lo->val, keep(o, strdup(num)));
		} else
			die("%s: %s wants a string or a number", path, key);
	}
	json_decref(cfg);
}

/* Release what the config file gave; a --token value may carry a pin-value. */
static void
opts_free(struct opts *o)
{
	size_t i;

	for (i = 0; i < o->nowned; i++) {
		explicit_bzero(o->owned[i], strlen(o->owned[i]));
		free(o->owned[i]);
	}
	o->nowned = 0;
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	const char *cmd = argv[0];
	int c;

	memset(o, 0, sizeof(*o));
	o->http_addr = "127.0.0.1";
	o->http_port = 8550;
	o->vhosts[0] = "localhost";
	o->nvhosts = 1;
	o->approval_timeout = 120;
	o->ui_socket_uid = -1;
	eth_u256_from_u64(&o->chain_id, 1);
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage_command(stdout, cmd);
			exit(0);
		}
		apply(o, c, optarg);
	}
	if (optind != argc)
		die("unexpected argument: %s", argv[optind]);
}

/* The token helper: --helper, $P11SIGNER_TOKEN_HELPER, next to us, or LIBEXECDIR. */
static const char *
helper_path(const struct opts *o)
{
	static char buf[PATH_MAX];
	const char *env = getenv("P11SIGNER_TOKEN_HELPER");
	ssize_t n;
	char *slash;

	if (o->helper != NULL)
		return o->helper;
	if (env != NULL && *env != '\0')
		return env;
	if ((n = readlink("/proc/self/exe", buf, sizeof(buf) - 32)) > 0) {
		buf[n] = '\0';
		if ((slash = strrchr(buf, '/')) != NULL) {
			snprintf(slash + 1, 32, "p11signer-token");	/* room kept above */
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	return P11S_LIBEXECDIR "/p11signer-token";
}

static struct signer_keystore *event_keystore;

static void
on_token_event(void *ctx, const struct proto_event *ev)
{
	(void)ev;
	if (event_keystore != NULL)
		signer_keystore_invalidate(event_keystore);
}

static void die_bad_token_uri(const struct opts *o) __attribute__((noreturn));

static size_t
start_clients(const struct opts *o, struct p11_client **clients, int with_events)
{
	char why[P11_CLIENT_WHY_MAX];
	size_t i;
	int r;

	if (o->nmodules == 0)
		die("no --module given (a PKCS#11 module path, or a name registered with p11-kit)");
	for (i = 0; i < o->nmodules; i++) {
		struct p11_client_config cc;

		memset(&cc, 0, sizeof(cc));
		cc.helper_path = helper_path(o);
		cc.module = o->modules[i];
		cc.allowed_dirs = o->nallow > 0 ? o->allow : NULL;
		cc.nallowed = o->nallow;
		cc.token_uris = o->ntokens > 0 ? o->tokens : NULL;
		cc.ntokens = o->ntokens;
		cc.sessions = o->sessions;
		if (with_events)
			cc.on_event = on_token_event;
		why[0] = '\0';
		if ((r = p11_client_start(&cc, &clients[i], why)) != 0) {
			if (strstr(why, err_str(ERR_P11_URI_INVALID)) != NULL)
				die_bad_token_uri(o);
			die("module %s: %s", o->modules[i], why[0] != '\0' ? why : err_str(r));
		}
	}
	return o->nmodules;
}

/*
 * A --token URI as it may be shown: up to its query, where a pin-value
 * would be.  Borrowed static storage: one call at a time.
 */
static const char *
uri_shown(const char *uri)
{
	static char buf[160];
	size_t n = strcspn(uri, "?");

	snprintf(buf, sizeof(buf), "%.*s%s", (int)(n < 120 ? n : 120), uri,
	    uri[n] == '?' ? "?..." : n > 120 ? "..." : "");
	return buf;
}

/*
 * The helper refuses the whole list of --token URIs when one does not parse
 * (RFC 7512), and says only that: name the URIs the user gave, not the module.
 */
static void
die_bad_token_uri(const struct opts *o)
{
	size_t i;

	fprintf(stderr, "p11signer: --token: invalid PKCS#11 URI (RFC 7512: "
	    "pkcs11:token=LABEL;object=KEY, %%XX escapes):\n");
	for (i = 0; i < o->ntokens; i++)
		fprintf(stderr, "p11signer:   %s\n", uri_shown(o->tokens[i]));
	exit(1);
}

/*
 * --token URIs that match no token still serve, with no key: say so at
 * start, and name the tokens each module has, so a typo is seen at once.
 */
static void
warn_unmatched_tokens(const struct opts *o, struct p11_client **clients, size_t n)
{
	size_t i, t, matched = 0;

	if (o->ntokens == 0)
		return;
	for (i = 0; i < n; i++) {
		struct proto_msg *list = NULL;
		char why[P11_CLIENT_WHY_MAX] = "";

		if (p11_client_list(clients[i], &list, why) == 0)
			matched += list->key_list.ntokens;
		proto_msg_free(list);
	}
	if (matched > 0)
		return;
	fprintf(stderr, "p11signer: warning: no token matches --token");
	for (i = 0; i < o->ntokens; i++)
		fprintf(stderr, " %s", uri_shown(o->tokens[i]));
	fprintf(stderr, "; no key will be offered\n");
	for (i = 0; i < n; i++) {
		struct p11_client_config cc;
		struct p11_client *all = NULL;
		struct proto_msg *list = NULL;
		char why[P11_CLIENT_WHY_MAX] = "";

		memset(&cc, 0, sizeof(cc));
		cc.helper_path = helper_path(o);
		cc.module = o->modules[i];
		cc.allowed_dirs = o->nallow > 0 ? o->allow : NULL;
		cc.nallowed = o->nallow;
		if (p11_client_start(&cc, &all, why) == 0 && p11_client_list(all, &list, why) == 0) {
			fprintf(stderr, "p11signer: module %s has %zu token(s)%s\n", o->modules[i],
			    list->key_list.ntokens, list->key_list.ntokens > 0 ? ":" : "");
			for (t = 0; t < list->key_list.ntokens; t++)
				fprintf(stderr, "p11signer:   \"%s\"  %s\n",
				    list->key_list.tokens[t].label, list->key_list.tokens[t].uri);
		}
		proto_msg_free(list);
		p11_client_stop(all);
	}
}

/*
 * The pin-source path of a --token URI (RFC 7512 query attribute,
 * percent-decoded, "file:" as the helper takes it) into out; 0, or -1 when
 * the URI has none or it does not fit.
 */
static int
pin_source_of(const char *uri, char *out, size_t n)
{
	const char *q = strchr(uri, '?'), *v, *end;
	size_t len = 0;

	if (q == NULL)
		return -1;
	for (v = q + 1; v != NULL && *v != '\0'; v = (end = strchr(v, '&')) ? end + 1 : NULL)
		if (strncmp(v, "pin-source=", 11) == 0)
			break;
	if (v == NULL || *v == '\0')
		return -1;
	for (v += 11; *v != '\0' && *v != '&'; v++) {
		unsigned hi, lo;
		char c = *v;

		if (c == '%' && sscanf(v + 1, "%1x%1x", &hi, &lo) == 2) {
			c = (char)(hi << 4 | lo);
			v += 2;
		}
		if (len + 1 >= n)
			return -1;
		out[len++] = c;
	}
	out[len] = '\0';
	if (strncmp(out, "file://localhost/", 17) == 0)
		memmove(out, out + 16, strlen(out + 16) + 1);
	else if (strncmp(out, "file://", 7) == 0)
		memmove(out, out + 7, strlen(out + 7) + 1);
	else if (strncmp(out, "file:", 5) == 0)
		memmove(out, out + 5, strlen(out + 5) + 1);
	return 0;
}

/*
 * The token helper reads a pin-source when it first logs in and says only
 * "cannot read the PIN"; the daemon runs as the same user, so it looks at
 * each one at start and says what is wrong with it, where the operator
 * looks.  Returns how many cannot be used.
 */
static size_t
check_pin_sources(const struct opts *o)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i, bad = 0;
	int fd;

	for (i = 0; i < o->ntokens; i++) {
		const char *problem = NULL;

		if (pin_source_of(o->tokens[i], path, sizeof(path)) != 0)
			continue;
		if (path[0] != '/')
			problem = "not an absolute path (pin-source=file:/PATH)";
		else if (stat(path, &st) != 0)
			problem = errno == ENOENT ? "missing (no such file)" : strerror(errno);
		else if (!S_ISREG(st.st_mode))
			problem = "not a regular file";
		else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
			problem = errno == EACCES ? "unreadable by this user (permission denied)" :
			    strerror(errno);
		else {
			close(fd);
			if (st.st_size == 0)
				problem = "empty";
			else if (st.st_mode & (S_IRWXG | S_IRWXO))
				fprintf(stderr, "p11signer: warning: --token %s: pin-source %s is open "
				    "to group or others (mode %03o): chmod 600 it\n",
				    uri_shown(o->tokens[i]), path, (unsigned)(st.st_mode & 0777));
		}
		if (problem != NULL) {
			fprintf(stderr, "p11signer: warning: --token %s: pin-source %s cannot be used: "
			    "%s; that token will not be logged in automatically\n",
			    uri_shown(o->tokens[i]), path, problem);
			bad++;
		}
	}
	return bad;
}

/*
 * libmicrohttpd says only that it could not start (and logs its own line);
 * find the reason by binding the same address, so the user is told that the
 * port is taken rather than "input/output error".
 */
static const char *
http_bind_problem(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	const char *why = "libmicrohttpd could not start (see the line above)";
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else
		return "not an IPv4 or IPv6 address";
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return why;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		why = errno == EADDRINUSE ? "the port is in use (another p11signer or Clef? "
		    "choose another --http.port)" : strerror(errno);
	close(fd);
	return why;
}

/* ---- PIN entry and notices for serve ---- */

struct ui_ctx {
	struct signer_ui_stdio *stdio_ui;
	int tty_fd;
	struct signer_ui_socket *socket_ui;	/* --ui socket, instead of stdio_ui */
};

/* A Clef UI call on whichever transport serves the protocol (params stolen). */
static int
clef_ui_call(struct ui_ctx *u, const char *method, json_t *params, int timeout_ms,
    json_t **resultp)
{
	if (u->socket_ui != NULL)
		return signer_ui_socket_call(u->socket_ui, method, params, timeout_ms, resultp);
	return signer_ui_stdio_call(u->stdio_ui, method, params, timeout_ms, resultp);
}

static int
clef_ui_notify(struct ui_ctx *u, const char *method, json_t *params)
{
	if (u->socket_ui != NULL)
		return signer_ui_socket_notify(u->socket_ui, method, params);
	return signer_ui_stdio_notify(u->stdio_ui, method, params);
}

static int
tty_ask_pin(void *ctx, const char *token, const char *note, uint8_t *pin, size_t max,
    size_t *lenp)
{
	struct ui_ctx *u = ctx;
	struct termios old, quiet;
	char line[LIMIT_P11_PIN + 2];
	size_t n = 0;
	ssize_t r;
	char c;

	/*
	 * Echo off (and type-ahead discarded) before the prompt is shown: a PIN
	 * typed as soon as the prompt appears must be neither flushed nor echoed.
	 */
	if (tcgetattr(u->tty_fd, &old) != 0)
		return ERR_IO;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(u->tty_fd, TCSAFLUSH, &quiet);
	dprintf(u->tty_fd, "\n%s%sPIN for token \"%.64s\": ", note, *note ? "\n" : "", token);
	while ((r = read(u->tty_fd, &c, 1)) == 1 && c != '\n')
		if (n < sizeof(line))
			line[n++] = c;
	tcsetattr(u->tty_fd, TCSAFLUSH, &old);
	dprintf(u->tty_fd, "\n");
	if (r != 1 || n == 0 || n > max) {
		explicit_bzero(line, sizeof(line));
		return ERR_IO;
	}
	memcpy(pin, line, n);
	*lenp = n;
	explicit_bzero(line, sizeof(line));
	return 0;
}

static void
tty_notice(void *ctx, const char *text)
{
	struct ui_ctx *u = ctx;

	dprintf(u->tty_fd, "\n%s\n", text);
}

/* Clef's ui_onInputRequired: {title, prompt, isPassword} -> {text}. */
static int
stdio_ask_pin(void *ctx, const char *token, const char *note, uint8_t *pin, size_t max,
    size_t *lenp)
{
	struct ui_ctx *u = ctx;
	char prompt[256];
	json_t *res = NULL, *params;
	const json_t *text;
	int r;

	snprintf(prompt, sizeof(prompt), "%s%sPIN for token \"%.64s\"", note, *note ? ". " : "",
	    token);
	params = json_pack("[{s:s,s:s,s:b}]", "title", "Token PIN", "prompt", prompt,
	    "isPassword", 1);
	if (params == NULL)
		return ERR_NOMEM;
	if ((r = clef_ui_call(u, "ui_onInputRequired", params, 120000, &res)) != 0)
		return r;
	text = json_object_get(res, "text");
	if (!json_is_string(text) || json_string_length(text) == 0 ||
	    json_string_length(text) > max) {
		json_decref(res);
		return ERR_IO;
	}
	memcpy(pin, json_string_value(text), json_string_length(text));
	*lenp = json_string_length(text);
	/* jansson keeps its own copy; wipe it before it goes back to the allocator. */
	explicit_bzero((char *)(uintptr_t)json_string_value(text), json_string_length(text));
	json_decref(res);
	return 0;
}

static void
stdio_notice(void *ctx, const char *text)
{
	struct ui_ctx *u = ctx;

	(void)clef_ui_notify(u, "ui_showInfo", json_pack("[{s:s}]", "text", text));
}

static int
default_ipc_path(char *out, size_t n)
{
	const char *home = getenv("HOME");
	char dir[PATH_MAX];

	if (home == NULL || *home == '\0')
		return -1;
	snprintf(dir, sizeof(dir), "%s/.p11signer", home);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if ((size_t)snprintf(out, n, "%s/p11signer.ipc", dir) >= n)
		return -1;
	return 0;
}

/* --ui socket without --ui.socket: $XDG_RUNTIME_DIR/p11signer/ui.sock, else ~/.p11signer/ui.sock. */
static int
default_ui_socket_path(char *out, size_t n)
{
	const char *run = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	char dir[PATH_MAX];

	if (run != NULL && *run == '/')
		snprintf(dir, sizeof(dir), "%s/p11signer", run);
	else if (home != NULL && *home == '/')
		snprintf(dir, sizeof(dir), "%s/.p11signer", home);
	else
		return -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if ((size_t)snprintf(out, n, "%s/ui.sock", dir) >= n)
		return -1;
	return 0;
}

/*
 * The built-in call-data table plus a --4bytedb file (Clef's 4byte.json),
 * read whole; a file with one bad entry is refused, naming it.
 */
static struct eth_calldata_db *
load_calldata(const char *path)
{
	struct eth_calldata_db *db = NULL;
	char errmsg[ETH_CALLDATA_ERRMSG_MAX], *text = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd = -1, r;

	if ((r = eth_calldata_db_new(&db)) != 0)
		die("%s", err_str(r));
	if (path == NULL)
		return db;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
		die("--4bytedb %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > LIMIT_4BYTEDB_BYTES)
		die("--4bytedb %s: not a regular file of at most %d bytes", path,
		    LIMIT_4BYTEDB_BYTES);
	if ((text = malloc((size_t)st.st_size + 1)) == NULL)
		die("--4bytedb %s: out of memory", path);
	while (got < (size_t)st.st_size &&
	    ((n = read(fd, text + got, (size_t)st.st_size - got)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	close(fd);
	if (got != (size_t)st.st_size)
		die("--4bytedb %s: read %zu of %lld bytes", path, got, (long long)st.st_size);
	if ((r = eth_calldata_db_load_4byte(db, text, got, errmsg)) != 0)
		die("--4bytedb %s: %s: %s", path, err_str(r), errmsg);
	free(text);
	fprintf(stderr, "p11signer: %zu function signatures known (--4bytedb %s)\n",
	    eth_calldata_db_size(db), path);
	return db;
}

static int
cmd_serve(int argc, char **argv)
{
	struct opts o;
	struct p11_client *clients[MAX_LIST] = { NULL };
	struct signer_keystore *ks = NULL;
	struct signer_policy *policy = NULL;
	struct signer_audit *audit = NULL;
	struct signer_api *api = NULL;
	struct eth_calldata_db *calldata = NULL;
	struct signer_api_config cfg;
	struct signer_pin_source pins = { NULL, NULL, NULL };
	struct ui_ctx uctx = { NULL, -1, NULL };
	struct signer_ui_tty *tty = NULL;
	struct rpc_http *http = NULL;
	struct rpc_ipc *ipc = NULL;
	struct rpc_qrexec *qrexec = NULL;
	char why[512], ipcpath[PATH_MAX], uipath[PATH_MAX];
	size_t nclients, i;
	sigset_t set;
	int r, sig;

	parse_opts(&o, argc, argv);
	if (o.stdio && o.stdio_ui)
		die("--stdio and --stdio-ui both want stdin/stdout");
	/* Refuse a configuration that could not ask anyone before touching a token. */
	if (o.ui == NULL)
		o.ui = o.stdio_ui ? "none" : isatty(STDIN_FILENO) ? "tty" : "none";
	if (o.stdio_ui && strcmp(o.ui, "none") != 0)
		die("--stdio-ui and --ui %s: choose one approver", o.ui);
	if (o.ui_socket != NULL && strcmp(o.ui, "socket") != 0)
		die("--ui.socket is for --ui socket");

	if (o.rules != NULL) {
		if ((r = signer_policy_load(o.rules, o.rules_state, &policy, why, sizeof(why))) != 0)
			die("%s", why);
	}
	if (o.auditlog == NULL && (o.auditlog_checkpoint != NULL || o.auditlog_key != NULL))
		die("--auditlog.checkpoint and --auditlog.key need --auditlog");
	if (o.auditlog != NULL) {
		struct signer_audit_config ac = { o.auditlog, o.auditlog_checkpoint, o.auditlog_key };

		if ((r = signer_audit_open_cfg(&ac, &audit)) != 0)
			die("%s: %s%s", o.auditlog, err_str(r), r == ERR_AUDIT_BROKEN ?
			    " (p11signer audit verify says where)" :
			    r == ERR_INVALID_ARGUMENT ? " (--auditlog.key: group or others may read it, "
			    "or --auditlog.checkpoint: its last line is not HASH@SEQ)" :
			    r == ERR_TOO_LONG ? " (--auditlog.key: not 16 to 1024 bytes)" : "");
	}

	calldata = load_calldata(o.fourbytedb);
	memset(&cfg, 0, sizeof(cfg));
	cfg.calldata = calldata;
	cfg.chain_id = o.chain_id;
	cfg.advanced = o.advanced;
	cfg.approval_timeout_ms = (int)o.approval_timeout * 1000;
	cfg.policy = policy;
	cfg.audit = audit;
	if (o.stdio_ui) {
		if ((r = signer_ui_stdio_open(STDIN_FILENO, STDOUT_FILENO, &uctx.stdio_ui)) != 0)
			die("--stdio-ui: %s", err_str(r));
		cfg.approver = (struct signer_approver){ .ctx = uctx.stdio_ui,
		    .ask = signer_ui_stdio_ask, .notify = signer_ui_stdio_notify_approver,
		    .ask_watched = signer_ui_stdio_ask_watched };
		pins = (struct signer_pin_source){ &uctx, stdio_ask_pin, stdio_notice };
	} else if (strcmp(o.ui, "tty") == 0) {
		if ((uctx.tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
			die("--ui tty: cannot open /dev/tty: %s", strerror(errno));
		if ((r = signer_ui_tty_open(uctx.tty_fd, uctx.tty_fd, &tty)) != 0)
			die("--ui tty: %s", err_str(r));
		cfg.approver = (struct signer_approver){ .ctx = tty, .ask = signer_ui_tty_ask,
		    .notify = signer_ui_tty_notify, .ask_watched = signer_ui_tty_ask_watched };
		pins = (struct signer_pin_source){ &uctx, tty_ask_pin, tty_notice };
	} else if (strcmp(o.ui, "socket") == 0) {
		if (o.ui_socket != NULL)
			snprintf(uipath, sizeof(uipath), "%s", o.ui_socket);
		else if (default_ui_socket_path(uipath, sizeof(uipath)) != 0)
			die("--ui socket: no --ui.socket and no usable $XDG_RUNTIME_DIR or $HOME");
		if ((r = signer_ui_socket_start(uipath, o.ui_socket_uid < 0 ? getuid() :
		    (uid_t)o.ui_socket_uid, &uctx.socket_ui)) != 0)
			die("--ui.socket %s: %s", uipath, err_str(r));
		cfg.approver = (struct signer_approver){ .ctx = uctx.socket_ui,
		    .ask = signer_ui_socket_ask, .notify = signer_ui_socket_notify_approver,
		    .ask_watched = signer_ui_socket_ask_watched };
		pins = (struct signer_pin_source){ &uctx, stdio_ask_pin, stdio_notice };
		fprintf(stderr, "p11signer: approvers connect to %s\n", uipath);
	}

	nclients = start_clients(&o, clients, 1);
	warn_unmatched_tokens(&o, clients, nclients);
	(void)check_pin_sources(&o);
	if (cfg.approver.ask == NULL && policy == NULL)
		fprintf(stderr, "p11signer: warning: --ui none and no --rules: every request that "
		    "needs approval (listing, signing, new keys) is refused; give --rules FILE "
		    "(docs/policy.md), --ui tty or --stdio-ui\n");
	else if (cfg.approver.ask == NULL)
		fprintf(stderr, "p11signer: --ui none: what the policy file would ask about is "
		    "refused\n");
	if ((r = signer_keystore_new(clients, nclients, &pins, &ks)) != 0)
		die("%s", err_str(r));
	event_keystore = ks;
	if (o.keygen_token != NULL)
		signer_keystore_set_keygen(ks, o.keygen_token, o.label);
	cfg.keys = signer_keystore_keys(ks);
	if ((r = signer_api_new(&cfg, &api)) != 0)
		die("%s", err_str(r));

	if (o.stdio) {
		struct rpc_caller caller;

		/*
		 * Under qrexec the caller is the qube it names, or nobody: a bad
		 * name or profile must not fall back to an anonymous caller.
		 */
		if (getenv("QREXEC_REMOTE_DOMAIN") != NULL) {
			if (rpc_qrexec_caller_from_env(&caller) != 0)
				die("--stdio: QREXEC_REMOTE_DOMAIN or the service argument "
				    "is not a valid qube or profile name");
		} else {
			memset(&caller, 0, sizeof(caller));
			caller.kind = RPC_CALLER_STDIO;
			rpc_caller_set(caller.id, "stdio");
		}
		r = rpc_stdio_serve(STDIN_FILENO, STDOUT_FILENO, signer_api_table(api), &caller);
		goto out;
	}

	/* The serving threads must not take the signals the main thread waits for. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o.http) {
		struct rpc_http_config hc = { .addr = o.http_addr, .port = o.http_port,
		    .vhosts = o.vhosts, .nvhosts = o.nvhosts, .cors = o.cors, .ncors = o.ncors,
		    .idle_timeout_s = 30, .max_connections = 64,
		    .tls_cert_file = o.tls_cert, .tls_key_file = o.tls_key,
		    .tls_client_pins = o.ntls_pins > 0 ? o.tls_pins : NULL,
		    .ntls_client_pins = o.ntls_pins };

		if ((r = rpc_http_start(&hc, signer_api_table(api), &http)) != 0)
			die("--http on %s:%u: %s", o.http_addr, o.http_port, r == ERR_IO ?
			    http_bind_problem(o.http_addr, o.http_port) : err_str(r));
		fprintf(stderr, "p11signer: HTTP listening on %s:%u\n", o.http_addr,
		    rpc_http_port(http));
	}
	if (!o.ipcdisable) {
		if (o.ipcpath != NULL)
			snprintf(ipcpath, sizeof(ipcpath), "%s", o.ipcpath);
		else if (default_ipc_path(ipcpath, sizeof(ipcpath)) != 0)
			die("no --ipcpath and no usable $HOME");
		if ((r = rpc_ipc_start(ipcpath, NULL, 0, signer_api_table(api), &ipc)) != 0)
			die("--ipcpath %s: %s", ipcpath, err_str(r));
		fprintf(stderr, "p11signer: IPC listening on %s\n", ipcpath);
	}
	if (o.qrexec_socket != NULL) {
		if ((r = rpc_qrexec_start(o.qrexec_socket, NULL, 0, signer_api_table(api),
		    &qrexec)) != 0)
			die("--qrexec.socket %s: %s", o.qrexec_socket, err_str(r));
		fprintf(stderr, "p11signer: qrexec service on %s\n", o.qrexec_socket);
	}
	if (http == NULL && ipc == NULL && qrexec == NULL)
		die("nothing to serve: give --http, --qrexec.socket or --stdio, or drop --ipcdisable");
	if (uctx.stdio_ui != NULL || uctx.socket_ui != NULL) {
		/* As Clef: the URLs a client can use, "n/a" for what is off. */
		char url[300] = "n/a";
		json_t *info;

		if (http != NULL)
			snprintf(url, sizeof(url), strchr(o.http_addr, ':') != NULL ?
			    "%s://[%s]:%u/" : "%s://%s:%u/", o.tls_cert != NULL ? "https" : "http",
			    o.http_addr, rpc_http_port(http));
		info = json_pack("{s:s,s:s,s:s,s:s}", "intapi_version", "7.0.1",
		    "extapi_version", SIGNER_API_VERSION, "extapi_http", url,
		    "extapi_ipc", ipc != NULL ? ipcpath : "n/a");
		if (uctx.stdio_ui != NULL)
			(void)signer_ui_stdio_notify(uctx.stdio_ui, "ui_onSignerStartup",
			    json_pack("[{s:o*}]", "info", info));
		else	/* the same message, to each approver as it connects */
			signer_ui_socket_set_startup_info(uctx.socket_ui, info);
	}
	fprintf(stderr, "p11signer: ready\n");
	for (;;) {
		if (sigwait(&set, &sig) == 0 && sig != SIGHUP)
			break;
	}
	fprintf(stderr, "p11signer: stopping\n");
	r = 0;
 out:
	/* Requests waiting for a person are denied now, so the transports can stop. */
	signer_ui_stdio_shutdown(uctx.stdio_ui);
	signer_ui_socket_shutdown(uctx.socket_ui);
	signer_ui_tty_shutdown(tty);
	rpc_http_stop(http);
	rpc_ipc_stop(ipc);
	rpc_qrexec_stop(qrexec);
	signer_api_free(api);
	eth_calldata_db_free(calldata);
	event_keystore = NULL;
	signer_keystore_free(ks);
	for (i = 0; i < MAX_LIST; i++)
		p11_client_stop(clients[i]);
	signer_ui_stdio_close(uctx.stdio_ui);
	signer_ui_socket_stop(uctx.socket_ui);
	signer_ui_tty_close(tty);
	if (uctx.tty_fd >= 0)
		close(uctx.tty_fd);
	signer_policy_free(policy);
	signer_audit_close(audit);
	opts_free(&o);
	return r == 0 ? 0 : 1;
}

static const char *
pin_state(uint32_t f)
{
	if (f & PROTO_TOKEN_PIN_LOCKED)
		return "PIN locked";
	if (f & PROTO_TOKEN_PIN_FINAL_TRY)
		return "PIN: final try";
	if (f & PROTO_TOKEN_PIN_COUNT_LOW)
		return "PIN: failed tries";
	if (f & PROTO_TOKEN_LOGGED_IN)
		return "logged in";
	if (f & PROTO_TOKEN_PROTECTED_AUTH)
		return "PIN pad";
	return "PIN needed to sign";
}

static int
cmd_list(int argc, char **argv)
{
	struct opts o;
	struct p11_client *clients[MAX_LIST] = { NULL };
	size_t n, i, t, k;
	int failed = 0;

	parse_opts(&o, argc, argv);
	n = start_clients(&o, clients, 0);
	for (i = 0; i < n; i++) {
		struct proto_msg *list = NULL;
		char why[P11_CLIENT_WHY_MAX] = "", a[ETH_ADDR_STR];
		int r;

		printf("module %s\n", o.modules[i]);
		if ((r = p11_client_list(clients[i], &list, why)) != 0) {
			printf("  error: %s\n", why[0] != '\0' ? why : err_str(r));
			failed = 1;
			continue;
		}
		printf("  %s %s %u.%u\n", list->key_list.manufacturer, list->key_list.description,
		    list->key_list.version_major, list->key_list.version_minor);
		for (t = 0; t < list->key_list.ntokens; t++) {
			const struct proto_token *tok = &list->key_list.tokens[t];

			printf("  token \"%s\" (%s %s, serial %s), slot %llu: %s, %s\n", tok->label,
			    tok->manufacturer, tok->model, tok->serial,
			    (unsigned long long)tok->slot_id,
			    (tok->flags & PROTO_TOKEN_PRESENT) ? "present" : "removed",
			    pin_state(tok->flags));
			printf("    %s\n", tok->uri);
			if (tok->flags & PROTO_TOKEN_PIN_AUTO_REJECTED)
				printf("    the token rejected the PIN of the URI's pin-source: it is not tried again\n");
			for (k = 0; k < tok->nkeys; k++) {
				eth_addr_to_checksum(tok->keys[k].addr, a);
				printf("    key %s  %s\n", a, tok->keys[k].uri);
			}
			if (tok->nkeys == 0 && (tok->flags & PROTO_TOKEN_PRESENT))
				printf("    no secp256k1 keys\n");
		}
		proto_msg_free(list);
	}
	for (i = 0; i < n; i++)
		p11_client_stop(clients[i]);
	opts_free(&o);
	return failed;
}

/*
 * The PIN flags of the first token c offers (c was started with one
 * --token, so that is the one the user named); 0 when it cannot be listed.
 */
static uint32_t
first_token_flags(struct p11_client *c)
{
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX] = "";
	uint32_t flags = 0;

	if (p11_client_list(c, &list, why) == 0 && list->key_list.ntokens > 0)
		flags = list->key_list.tokens[0].flags;
	proto_msg_free(list);
	return flags;
}

/* What the token says of its PIN tries, for a person about to type a PIN. */
static const char *
tries_said(uint32_t flags)
{
	if (flags & PROTO_TOKEN_PIN_LOCKED)
		return "the user PIN is locked: unlock it with the token's tools (SO PIN / PUK)";
	if (flags & PROTO_TOKEN_PIN_FINAL_TRY)
		return "the token reports ONE try left: a wrong PIN now locks it";
	if (flags & PROTO_TOKEN_PIN_COUNT_LOW)
		return "the token reports failed PIN tries: fewer tries are left (PKCS#11 "
		    "does not say how many)";
	return "the token reports no failed PIN tries";
}

/* The way out when the helper will not try a PIN because tries have failed. */
static void
die_low_tries(const struct opts *o, const char *what, uint32_t flags)
{
	die("%s: %s; no PIN is tried on its own then. To go on, log in once by hand: "
	    "p11signer login --module %s --token '%s' (asks the PIN once, showing the tries "
	    "left; a good PIN resets the count on most tokens), or use the token's own tool "
	    "(pkcs11-tool --module %s --login --test)", what, tries_said(flags), o->modules[0],
	    uri_shown(o->tokens[0]), o->modules[0]);
}

static int
cmd_keygen(int argc, char **argv)
{
	struct opts o;
	struct p11_client *clients[MAX_LIST] = { NULL };
	struct proto_msg *gen = NULL;
	char why[P11_CLIENT_WHY_MAX] = "", a[ETH_ADDR_STR];
	int r;

	parse_opts(&o, argc, argv);
	if (o.nmodules != 1 || o.ntokens != 1 || o.label == NULL)
		die("keygen wants one --module, one --token URI and a --label");
	start_clients(&o, clients, 0);
	r = p11_client_generate(clients[0], o.tokens[0], o.label, NULL, 0, &gen, why);
	if (r == ERR_P11_NOT_LOGGED_IN && isatty(STDIN_FILENO)) {
		struct ui_ctx u = { NULL, STDIN_FILENO, NULL };
		struct proto_login_result lr;
		uint8_t pin[LIMIT_P11_PIN];
		size_t pinlen = 0;

		if (tty_ask_pin(&u, o.tokens[0], "", pin, sizeof(pin), &pinlen) == 0) {
			r = p11_client_login(clients[0], o.tokens[0], 0, pin, pinlen, &lr, why);
			explicit_bzero(pin, sizeof(pin));
			if (r == 0 && lr.status == PROTO_LOGIN_LOW_TRIES)
				die_low_tries(&o, "keygen: the PIN was not tried", lr.token_flags);
			if (r == 0 && lr.status != PROTO_LOGIN_OK && lr.status != PROTO_LOGIN_ALREADY)
				die("log-in refused (status %u); nothing was tried again", lr.status);
			if (r == 0)
				r = p11_client_generate(clients[0], o.tokens[0], o.label, NULL, 0,
				    &gen, why);
		}
	}
	if (r != 0) {
		uint32_t flags = first_token_flags(clients[0]);

		if (flags & (PROTO_TOKEN_PIN_COUNT_LOW | PROTO_TOKEN_PIN_FINAL_TRY))
			die_low_tries(&o, "keygen: the token is not logged in", flags);
		die("keygen: %s", why[0] != '\0' ? why : err_str(r));
	}
	eth_addr_to_checksum(gen->generated.addr, a);
	printf("%s\n%s\n", a, gen->generated.uri);
	proto_msg_free(gen);
	p11_client_stop(clients[0]);
	opts_free(&o);
	return 0;
}


/*
 * p11signer login: one log-in typed by a person who has been told how the
 * token's tries stand.  The helper never tries a PIN on its own once tries
 * have failed (DESIGN.md); this is the way out: the PIN is asked once, on the
 * terminal, and sent with PROTO_LOGIN_LOW_TRIES_CONFIRMED.  Nothing is
 * retried: a wrong PIN is reported with the tries as the token now has them.
 */
static int
cmd_login(int argc, char **argv)
{
	struct opts o;
	struct p11_client *clients[MAX_LIST] = { NULL };
	struct proto_login_result lr;
	struct ui_ctx u = { .stdio_ui = NULL, .tty_fd = STDIN_FILENO };
	uint8_t pin[LIMIT_P11_PIN];
	char why[P11_CLIENT_WHY_MAX] = "", note[256];
	size_t pinlen = 0;
	uint32_t flags;
	int r;

	parse_opts(&o, argc, argv);
	if (o.nmodules != 1 || o.ntokens != 1)
		die("login wants one --module and one --token URI");
	if (!isatty(STDIN_FILENO))
		die("login asks the PIN on the terminal, and standard input is not one");
	start_clients(&o, clients, 0);
	flags = first_token_flags(clients[0]);
	if (flags == 0)
		die("login: no token matches --token %s", uri_shown(o.tokens[0]));
	if (flags & PROTO_TOKEN_PIN_LOCKED)
		die("login: %s", tries_said(flags));
	if (flags & PROTO_TOKEN_LOGGED_IN) {
		printf("token %s: already logged in\n", uri_shown(o.tokens[0]));
		goto done;
	}
	snprintf(note, sizeof(note), "%s.", tries_said(flags));
	if (tty_ask_pin(&u, o.tokens[0], note, pin, sizeof(pin), &pinlen) != 0)
		die("login: no PIN read; nothing was tried");
	r = p11_client_login(clients[0], o.tokens[0], PROTO_LOGIN_LOW_TRIES_CONFIRMED, pin, pinlen,
	    &lr, why);
	explicit_bzero(pin, sizeof(pin));
	if (r != 0)
		die("login: %s", why[0] != '\0' ? why : err_str(r));
	switch (lr.status) {
	case PROTO_LOGIN_OK:
	case PROTO_LOGIN_ALREADY:
		printf("logged in; %s\n", tries_said(first_token_flags(clients[0])));
		break;
	case PROTO_LOGIN_PIN_INCORRECT:
		die("login: the PIN is incorrect (one try spent); %s; nothing was tried again",
		    tries_said(lr.token_flags));
	case PROTO_LOGIN_PIN_LOCKED:
		die("login: %s", tries_said(PROTO_TOKEN_PIN_LOCKED));
	case PROTO_LOGIN_PIN_INVALID:
		die("login: the token refuses the PIN's length or characters (no try spent)");
	case PROTO_LOGIN_TOKEN_ABSENT:
		die("login: no token in the slot");
	default:
		die("login: refused (status %u); nothing was tried again", lr.status);
	}
 done:
	p11_client_stop(clients[0]);
	opts_free(&o);
	return 0;
}

/* ---- doctor ---- */

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
		cc.helper_path = helper_path(o);
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

static int
cmd_doctor(int argc, char **argv)
{
	struct opts o;
	const char *helper;
	size_t i;
	int need_pcscd = 0;

	parse_opts(&o, argc, argv);
	helper = helper_path(&o);
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

static int
cmd_tls(int argc, char **argv)
{
	char fp[RPC_TLS_FP_SIZE];
	int r;

	if (argc != 4 || strcmp(argv[1], "init") != 0) {
		fputs(rpc_tls_init_usage, stderr);
		return 2;
	}
	if ((r = rpc_tls_init(argv[2], argv[3], fp)) != 0) {
		if (r == ERR_IO)
			die("tls init %s %s: %s", argv[2], argv[3], strerror(errno));
		die("tls init: %s", err_str(r));
	}
	printf("%s\n", fp);
	return 0;
}

static int
cmd_audit(int argc, char **argv)
{
	char head[SIGNER_AUDIT_HASH_HEX], why[512];
	const char *want_last = NULL, *key_path = NULL, *cp_path = NULL;
	struct signer_audit_head cp, *cpp = NULL;
	uint8_t *key = NULL;
	size_t keylen = 0;
	unsigned long nlines = 0, bad = 0;
	int i, r;

	if (argc < 3 || strcmp(argv[1], "verify") != 0 || (argc - 3) % 2 != 0)
		die("usage: p11signer audit verify FILE [--head HASH[@SEQ]] [--checkpoints FILE] "
		    "[--key FILE]");
	for (i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--head") == 0 && strchr(argv[i + 1], '@') == NULL)
			want_last = argv[i + 1];	/* the old form: the last line's hash */
		else if (strcmp(argv[i], "--head") == 0) {
			if (signer_audit_head_parse(argv[i + 1], &cp) != 0)
				die("--head: want HASH@SEQ (64 hex digits, a line number), not %s",
				    argv[i + 1]);
			cpp = &cp;
		} else if (strcmp(argv[i], "--checkpoints") == 0)
			cp_path = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key_path = argv[i + 1];
		else
			die("audit verify: unknown option %s", argv[i]);
	}
	if (cp_path != NULL && cpp != NULL)
		die("audit verify: give --head HASH@SEQ or --checkpoints, not both");
	if (cp_path != NULL) {
		if ((r = signer_audit_checkpoint_last(cp_path, &cp)) != 0)
			die("%s: %s", cp_path, r == ERR_AUDIT_IO ? strerror(errno) :
			    "its last line is not a head HASH@SEQ");
		cpp = &cp;
	}
	if (key_path != NULL && (r = signer_audit_key_read(key_path, &key, &keylen)) != 0)
		die("%s: %s", key_path, r == ERR_INVALID_ARGUMENT ?
		    "group or others may read it (chmod 600)" : r == ERR_TOO_LONG ?
		    "a key file has 16 to 1024 bytes" : err_str(r));
	r = signer_audit_verify_ex(argv[2], key, keylen, cpp, head, &nlines, &bad, why,
	    sizeof(why));
	signer_audit_key_free(key, keylen);
	if (r != 0) {
		if (r == ERR_AUDIT_BROKEN)
			die("%s: broken at line %lu: %s", argv[2], bad, why);
		die("%s: %s", argv[2], err_str(r));
	}
	if (want_last != NULL && strcasecmp(want_last, head) != 0)
		die("%s: intact chain of %lu lines, but its head %s is not the recorded %s "
		    "(lines were removed from the end, or it is another log; a head written "
		    "as HASH@SEQ stays checkable after later appends)", argv[2], nlines,
		    head, want_last);
	if (cpp != NULL)
		printf("%s: %lu lines, chain intact, line %lu matches the checkpoint, head %s@%lu\n",
		    argv[2], nlines, cpp->seq, head, nlines);
	else
		printf("%s: %lu lines, chain intact, head %s@%lu\n", argv[2], nlines, head, nlines);
	return 0;
}

int
main(int argc, char **argv)
{
	/* First: PINs may pass through this process (see signer/harden.h). */
	if (signer_harden_process(argc, argv) != 0)
		die("cannot disable core dumps or move token URIs out of argv: %s",
		    strerror(errno));
	if (argc < 2) {
		fputs("p11signer: no command given\n", stderr);
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "login") == 0)
		return cmd_login(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return cmd_audit(argc - 1, argv + 1);
	if (strcmp(argv[1], "doctor") == 0)
		return cmd_doctor(argc - 1, argv + 1);
	if (strcmp(argv[1], "tls") == 0)
		return cmd_tls(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("p11signer %s (Clef external API %s)\n", P11S_VERSION, SIGNER_API_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "p11signer: unknown command \"%.64s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
