/*
 * token_clients.c - starting one token helper per --module for a command,
 * and what is said at start about --token URIs and their pin-sources.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "p11/client.h"
#include "signer/keystore.h"
#include "cmd/p11signer-int.h"

struct signer_keystore *event_keystore;

static void
on_token_event(void *ctx, const struct proto_event *ev)
{
	(void)ev;
	if (event_keystore != NULL)
		signer_keystore_invalidate(event_keystore);
}

static void die_bad_token_uri(const struct opts *o) __attribute__((noreturn));

size_t
start_clients(const struct opts *o, struct p11_client **clients, int with_events)
{
	char why[P11_CLIENT_WHY_MAX];
	size_t i;
	int r;

	if (o->nmodules == 0)
		log_die("no --module given (a PKCS#11 module path, or a name registered with p11-kit)");
	for (i = 0; i < o->nmodules; i++) {
		struct p11_client_config cc;

		memset(&cc, 0, sizeof(cc));
		cc.helper_path = opts_helper_path(o);
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
			log_die("module %s: %s", o->modules[i], why[0] != '\0' ? why : err_str(r));
		}
	}
	return o->nmodules;
}

/*
 * A --token URI as it may be shown: up to its query, where a pin-value
 * would be.  Borrowed static storage: one call at a time.
 */
const char *
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

	log_msg("--token: invalid PKCS#11 URI (RFC 7512: "
	    "pkcs11:token=LABEL;object=KEY, %%XX escapes):");
	for (i = 0; i < o->ntokens; i++)
		log_msg("  %s", uri_shown(o->tokens[i]));
	exit(1);
}

/*
 * --token URIs that match no token still serve, with no key: say so at
 * start, and name the tokens each module has, so a typo is seen at once.
 */
void
warn_unmatched_tokens(const struct opts *o, struct p11_client **clients, size_t n)
{
	char uris[LIMIT_LOG_LINE] = "";
	size_t i, t, matched = 0, used = 0;

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
	/* One line, however many URIs: cut where the logger would cut it. */
	for (i = 0; i < o->ntokens && used < sizeof(uris); i++)
		used += (size_t)snprintf(uris + used, sizeof(uris) - used, " %s",
		    uri_shown(o->tokens[i]));
	log_msg("warning: no token matches --token%s; no key will be offered", uris);
	for (i = 0; i < n; i++) {
		struct p11_client_config cc;
		struct p11_client *all = NULL;
		struct proto_msg *list = NULL;
		char why[P11_CLIENT_WHY_MAX] = "";

		memset(&cc, 0, sizeof(cc));
		cc.helper_path = opts_helper_path(o);
		cc.module = o->modules[i];
		cc.allowed_dirs = o->nallow > 0 ? o->allow : NULL;
		cc.nallowed = o->nallow;
		if (p11_client_start(&cc, &all, why) == 0 && p11_client_list(all, &list, why) == 0) {
			log_msg("module %s has %zu token(s)%s", o->modules[i],
			    list->key_list.ntokens, list->key_list.ntokens > 0 ? ":" : "");
			for (t = 0; t < list->key_list.ntokens; t++)
				log_msg("  \"%s\"  %s",
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
size_t
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
				log_msg("warning: --token %s: pin-source %s is open "
				    "to group or others (mode %03o): chmod 600 it",
				    uri_shown(o->tokens[i]), path, (unsigned)(st.st_mode & 0777));
		}
		if (problem != NULL) {
			log_msg("warning: --token %s: pin-source %s cannot be used: "
			    "%s; that token will not be logged in automatically",
			    uri_shown(o->tokens[i]), path, problem);
			bad++;
		}
	}
	return bad;
}
