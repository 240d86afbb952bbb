/*
 * options.c - p11signer's options: --help texts, argv and the --config file
 * (one table, long_opts, for both), and where the token helper is.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/parse.h"
#include "eth/u256.h"
#include "cmd/p11signer-int.h"

#ifndef P11S_LIBEXECDIR
#define P11S_LIBEXECDIR "/usr/local/libexec/p11signer"
#endif

void
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
			log_die("too many %s", what);
		out[(*n)++] = tok;
	}
}

static void
push(const char **list, size_t *n, const char *v, const char *what)
{
	if (*n == MAX_LIST)
		log_die("too many %s (at most %d)", what, MAX_LIST);
	list[(*n)++] = v;
}

/* A number option's value from 0 to max, or die naming the option. */
static unsigned
option_unsigned(const char *s, unsigned long max, const char *what)
{
	unsigned long v;

	if (parse_unsigned(s, max, &v) != 0)
		log_die("%s: not a number from 0 to %lu: %s", what, max, s);
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
	case O_HTTP_PORT: o->http_port = option_unsigned(value, 65535, "--http.port"); break;
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
			log_die("--ui: want tty, socket or none, not %s", value);
		o->ui = value;
		break;
	case O_RULES: o->rules = value; break;
	case O_RULES_STATE: o->rules_state = value; break;
	case O_CHAINID:
		if ((strncmp(value, "0x", 2) == 0 ?
		    eth_u256_parse_quantity(value, strlen(value), &o->chain_id) :
		    eth_u256_parse_decimal(value, strlen(value), &o->chain_id)) != 0 ||
		    eth_u256_is_zero(&o->chain_id))
			log_die("--chainid: not a chain id: %s", value);
		break;
	case O_AUDITLOG: o->auditlog = value; break;
	case O_AUDIT_CHECKPOINT: o->auditlog_checkpoint = value; break;
	case O_AUDIT_KEY: o->auditlog_key = value; break;
	case O_ADVANCED: o->advanced = 1; break;
	case O_TIMEOUT: o->approval_timeout = option_unsigned(value, 86400, "--approval-timeout"); break;
	case O_KEYGEN_TOKEN: o->keygen_token = value; break;
	case O_LABEL: o->label = value; break;
	case O_SESSIONS: o->sessions = option_unsigned(value, LIMIT_P11_SESSIONS, "--sessions"); break;
	case O_CONFIG: load_config(o, value); break;
	case O_TLS_CERT: o->tls_cert = value; break;
	case O_TLS_KEY: o->tls_key = value; break;
	case O_TLS_PIN: split_into(value, o->tls_pins, &o->ntls_pins, "client fingerprints"); break;
	case O_UI_SOCKET: o->ui_socket = value; break;
	case O_UI_SOCKET_UID:
		o->ui_socket_uid = (long)option_unsigned(value, 0x7fffffff, "--ui.socket.uid");
		break;
	case O_4BYTEDB: o->fourbytedb = value; break;
	default:
		/* getopt_long has said which option it did not know. */
		log_msg("see --help for the options");
		exit(2);
	}
}

static char *
keep(struct opts *o, char *s)
{
	if (s == NULL || o->nowned == sizeof(o->owned) / sizeof(o->owned[0]))
		log_die("config file: too many values");
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
		log_die("%s:%d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(cfg))
		log_die("%s: want a JSON object of options", path);
	json_object_foreach(cfg, key, v) {
		const struct option *lo;

		for (lo = long_opts; lo->name != NULL; lo++)
			if (strcmp(lo->name, key) == 0)
				break;
		if (lo->name == NULL || lo->val == O_CONFIG || lo->val == 'h')
			log_die("%s: unknown option \"%s\"", path, key);
		if (lo->has_arg == no_argument) {
			if (!json_is_boolean(v))
				log_die("%s: %s wants true or false", path, key);
			if (json_is_true(v))
				apply(o, lo->val, NULL);
			continue;
		}
		if (json_is_array(v)) {
			json_array_foreach(v, i, item) {
				if (!json_is_string(item))
					log_die("%s: %s wants strings", path, key);
				apply(o, lo->val, keep(o, strdup(json_string_value(item))));
			}
		} else if (json_is_string(v))
			apply(o, lo->val, keep(o, strdup(json_string_value(v))));
		else if (json_is_integer(v)) {
			char num[32];

			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			apply(o, lo->val, keep(o, strdup(num)));
		} else
			log_die("%s: %s wants a string or a number", path, key);
	}
	json_decref(cfg);
}

/* Release what the config file gave; a --token value may carry a pin-value. */
void
opts_free(struct opts *o)
{
	size_t i;

	for (i = 0; i < o->nowned; i++) {
		explicit_bzero(o->owned[i], strlen(o->owned[i]));
		free(o->owned[i]);
	}
	o->nowned = 0;
}

void
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
		log_die("unexpected argument: %s", argv[optind]);
}

/* The token helper: --helper, $P11SIGNER_TOKEN_HELPER, next to us, or LIBEXECDIR. */
const char *
opts_helper_path(const struct opts *o)
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
