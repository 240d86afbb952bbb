/*
 * p11signer-int.h - what the parts of p11signer (src/cmd/p11signer.c's
 * main and the files of its commands) share: the options, starting the
 * token helpers, and each command.  Private to the program.
 *
 * Commands that cannot go on say why with log_die() (core/log.h), which
 * exits 1; a command's function returns the program's exit status.
 */
#ifndef CMD_P11SIGNER_INT_H
#define CMD_P11SIGNER_INT_H

#include <stddef.h>
#include <stdio.h>

#include "eth/u256.h"

struct p11_client;
struct signer_keystore;

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

/* ---- options.c ---- */

/* The program's usage, for `p11signer --help` (stdout) or a mistake (stderr). */
void usage(FILE *f);

/*
 * Options of argv (argv[0] is the command) and of any --config FILE, into
 * *o (defaults first); `CMD --help` prints that command's usage and exits 0,
 * a bad option exits 2, a bad value dies.  Release with opts_free().
 */
void parse_opts(struct opts *o, int argc, char **argv);

/* Release what the config file gave; a --token value may carry a pin-value. */
void opts_free(struct opts *o);

/* The token helper: --helper, $P11SIGNER_TOKEN_HELPER, next to us, or LIBEXECDIR.
 * Borrowed (static storage). */
const char *opts_helper_path(const struct opts *o);

/* ---- token_clients.c ---- */

/*
 * The keystore whose keys a token event (insertion, removal) makes stale,
 * for the clients started with_events; NULL: none (serve sets and clears it).
 */
extern struct signer_keystore *event_keystore;

/* One client per --module into clients (MAX_LIST); dies when one cannot
 * start.  Returns how many (o->nmodules). */
size_t start_clients(const struct opts *o, struct p11_client **clients, int with_events);

/*
 * A --token URI as it may be shown: up to its query, where a pin-value
 * would be.  Borrowed static storage: one call at a time.
 */
const char *uri_shown(const char *uri);

/* --token URIs that match no token: say so, naming each module's tokens. */
void warn_unmatched_tokens(const struct opts *o, struct p11_client **clients, size_t n);

/* Say what is wrong with each --token's pin-source; returns how many cannot be used. */
size_t check_pin_sources(const struct opts *o);

/* ---- the commands (serve.c, token_cmds.c, doctor.c, tls_init.c, audit_verify.c) ---- */

int cmd_serve(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_tls(int argc, char **argv);
int cmd_audit(int argc, char **argv);

#endif /* CMD_P11SIGNER_INT_H */
