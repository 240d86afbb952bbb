/*
 * serve.c - p11signer serve: the approver, the token helpers, the keystore
 * and the API, then each transport (HTTP, IPC, qrexec, stdio) until a signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "eth/calldata.h"
#include "p11/client.h"
#include "rpc/caller.h"
#include "rpc/http.h"
#include "rpc/ipc.h"
#include "rpc/qrexec.h"
#include "signer/api.h"
#include "signer/audit.h"
#include "signer/keystore.h"
#include "signer/policy.h"
#include "signer/ui_pin.h"
#include "signer/ui_socket.h"
#include "signer/ui_stdio.h"
#include "signer/ui_tty.h"
#include "cmd/p11signer-int.h"

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
	char errmsg[ERR_WHY_MAX], *text = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd = -1, r;

	if ((r = eth_calldata_db_new(&db)) != 0)
		log_die("%s", err_str(r));
	if (path == NULL)
		return db;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
		log_die("--4bytedb %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > LIMIT_4BYTEDB_BYTES)
		log_die("--4bytedb %s: not a regular file of at most %d bytes", path,
		    LIMIT_4BYTEDB_BYTES);
	if ((text = malloc((size_t)st.st_size + 1)) == NULL)
		log_die("--4bytedb %s: out of memory", path);
	while (got < (size_t)st.st_size &&
	    ((n = read(fd, text + got, (size_t)st.st_size - got)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	close(fd);
	if (got != (size_t)st.st_size)
		log_die("--4bytedb %s: read %zu of %lld bytes", path, got, (long long)st.st_size);
	if ((r = eth_calldata_db_load_4byte(db, text, got, errmsg)) != 0)
		log_die("--4bytedb %s: %s: %s", path, err_str(r), errmsg);
	free(text);
	log_msg("%zu function signatures known (--4bytedb %s)",
	    eth_calldata_db_size(db), path);
	return db;
}

int
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
	struct signer_ui_pin_ctx uctx = { NULL, -1, NULL };
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
		log_die("--stdio and --stdio-ui both want stdin/stdout");
	/* Refuse a configuration that could not ask anyone before touching a token. */
	if (o.ui == NULL)
		o.ui = o.stdio_ui ? "none" : isatty(STDIN_FILENO) ? "tty" : "none";
	if (o.stdio_ui && strcmp(o.ui, "none") != 0)
		log_die("--stdio-ui and --ui %s: choose one approver", o.ui);
	if (o.ui_socket != NULL && strcmp(o.ui, "socket") != 0)
		log_die("--ui.socket is for --ui socket");

	if (o.rules != NULL) {
		if ((r = signer_policy_load(o.rules, o.rules_state, &policy, why, sizeof(why))) != 0)
			log_die("%s", why);
	}
	if (o.auditlog == NULL && (o.auditlog_checkpoint != NULL || o.auditlog_key != NULL))
		log_die("--auditlog.checkpoint and --auditlog.key need --auditlog");
	if (o.auditlog != NULL) {
		struct signer_audit_config ac = { o.auditlog, o.auditlog_checkpoint, o.auditlog_key };

		if ((r = signer_audit_open_cfg(&ac, &audit)) != 0)
			log_die("%s: %s%s", o.auditlog, err_str(r), r == ERR_AUDIT_BROKEN ?
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
			log_die("--stdio-ui: %s", err_str(r));
		cfg.approver = (struct signer_approver){ .ctx = uctx.stdio_ui,
		    .ask = signer_ui_stdio_ask, .notify = signer_ui_stdio_notify_approver,
		    .ask_watched = signer_ui_stdio_ask_watched };
		pins = (struct signer_pin_source){ &uctx, signer_ui_pin_clef_ask, signer_ui_pin_clef_notice };
	} else if (strcmp(o.ui, "tty") == 0) {
		if ((uctx.tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
			log_die("--ui tty: cannot open /dev/tty: %s", strerror(errno));
		if ((r = signer_ui_tty_open(uctx.tty_fd, uctx.tty_fd, &tty)) != 0)
			log_die("--ui tty: %s", err_str(r));
		cfg.approver = (struct signer_approver){ .ctx = tty, .ask = signer_ui_tty_ask,
		    .notify = signer_ui_tty_notify, .ask_watched = signer_ui_tty_ask_watched };
		pins = (struct signer_pin_source){ &uctx, signer_ui_pin_tty_ask, signer_ui_pin_tty_notice };
	} else if (strcmp(o.ui, "socket") == 0) {
		if (o.ui_socket != NULL)
			snprintf(uipath, sizeof(uipath), "%s", o.ui_socket);
		else if (default_ui_socket_path(uipath, sizeof(uipath)) != 0)
			log_die("--ui socket: no --ui.socket and no usable $XDG_RUNTIME_DIR or $HOME");
		if ((r = signer_ui_socket_start(uipath, o.ui_socket_uid < 0 ? getuid() :
		    (uid_t)o.ui_socket_uid, &uctx.socket_ui)) != 0)
			log_die("--ui.socket %s: %s", uipath, err_str(r));
		cfg.approver = (struct signer_approver){ .ctx = uctx.socket_ui,
		    .ask = signer_ui_socket_ask, .notify = signer_ui_socket_notify_approver,
		    .ask_watched = signer_ui_socket_ask_watched };
		pins = (struct signer_pin_source){ &uctx, signer_ui_pin_clef_ask, signer_ui_pin_clef_notice };
		log_msg("approvers connect to %s", uipath);
	}

	nclients = start_clients(&o, clients, 1);
	warn_unmatched_tokens(&o, clients, nclients);
	(void)check_pin_sources(&o);
	if (cfg.approver.ask == NULL && policy == NULL)
		log_msg("warning: --ui none and no --rules: every request that "
		    "needs approval (listing, signing, new keys) is refused; give --rules FILE "
		    "(docs/policy.md), --ui tty or --stdio-ui");
	else if (cfg.approver.ask == NULL)
		log_msg("--ui none: what the policy file would ask about is "
		    "refused");
	if ((r = signer_keystore_new(clients, nclients, &pins, &ks)) != 0)
		log_die("%s", err_str(r));
	event_keystore = ks;
	if (o.keygen_token != NULL)
		signer_keystore_set_keygen(ks, o.keygen_token, o.label);
	cfg.keys = signer_keystore_keys(ks);
	if ((r = signer_api_new(&cfg, &api)) != 0)
		log_die("%s", err_str(r));

	if (o.stdio) {
		struct rpc_caller caller;

		/*
		 * Under qrexec the caller is the qube it names, or nobody: a bad
		 * name or profile must not fall back to an anonymous caller.
		 */
		if (getenv("QREXEC_REMOTE_DOMAIN") != NULL) {
			if (rpc_qrexec_caller_from_env(&caller) != 0)
				log_die("--stdio: QREXEC_REMOTE_DOMAIN or the service argument "
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
			log_die("--http on %s:%u: %s", o.http_addr, o.http_port, r == ERR_IO ?
			    http_bind_problem(o.http_addr, o.http_port) : err_str(r));
		log_msg("HTTP listening on %s:%u", o.http_addr,
		    rpc_http_port(http));
	}
	if (!o.ipcdisable) {
		if (o.ipcpath != NULL)
			snprintf(ipcpath, sizeof(ipcpath), "%s", o.ipcpath);
		else if (default_ipc_path(ipcpath, sizeof(ipcpath)) != 0)
			log_die("no --ipcpath and no usable $HOME");
		if ((r = rpc_ipc_start(ipcpath, NULL, 0, signer_api_table(api), &ipc)) != 0)
			log_die("--ipcpath %s: %s", ipcpath, err_str(r));
		log_msg("IPC listening on %s", ipcpath);
	}
	if (o.qrexec_socket != NULL) {
		if ((r = rpc_qrexec_start(o.qrexec_socket, NULL, 0, signer_api_table(api),
		    &qrexec)) != 0)
			log_die("--qrexec.socket %s: %s", o.qrexec_socket, err_str(r));
		log_msg("qrexec service on %s", o.qrexec_socket);
	}
	if (http == NULL && ipc == NULL && qrexec == NULL)
		log_die("nothing to serve: give --http, --qrexec.socket or --stdio, or drop --ipcdisable");
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
	log_msg("ready");
	for (;;) {
		if (sigwait(&set, &sig) == 0 && sig != SIGHUP)
			break;
	}
	log_msg("stopping");
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
