/*
 * token_cmds.c - p11signer list, keygen and login: one request each to the
 * token helpers, and what a person is told of the token's PIN tries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "eth/addr.h"
#include "p11/client.h"
#include "signer/ui_pin.h"
#include "cmd/p11signer-int.h"

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

int
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
static void die_low_tries(const struct opts *o, const char *what, uint32_t flags) __attribute__((noreturn));

static void
die_low_tries(const struct opts *o, const char *what, uint32_t flags)
{
	log_die("%s: %s; no PIN is tried on its own then. To go on, log in once by hand: "
	    "p11signer login --module %s --token '%s' (asks the PIN once, showing the tries "
	    "left; a good PIN resets the count on most tokens), or use the token's own tool "
	    "(pkcs11-tool --module %s --login --test)", what, tries_said(flags), o->modules[0],
	    uri_shown(o->tokens[0]), o->modules[0]);
}

int
cmd_keygen(int argc, char **argv)
{
	struct opts o;
	struct p11_client *clients[MAX_LIST] = { NULL };
	struct proto_msg *gen = NULL;
	char why[P11_CLIENT_WHY_MAX] = "", a[ETH_ADDR_STR];
	int r;

	parse_opts(&o, argc, argv);
	if (o.nmodules != 1 || o.ntokens != 1 || o.label == NULL)
		log_die("keygen wants one --module, one --token URI and a --label");
	start_clients(&o, clients, 0);
	r = p11_client_generate(clients[0], o.tokens[0], o.label, NULL, 0, &gen, why);
	if (r == ERR_P11_NOT_LOGGED_IN && isatty(STDIN_FILENO)) {
		struct signer_ui_pin_ctx u = { NULL, STDIN_FILENO, NULL };
		struct proto_login_result lr;
		uint8_t pin[LIMIT_P11_PIN];
		size_t pinlen = 0;

		if (signer_ui_pin_tty_ask(&u, o.tokens[0], "", pin, sizeof(pin), &pinlen) == 0) {
			r = p11_client_login(clients[0], o.tokens[0], 0, pin, pinlen, &lr, why);
			explicit_bzero(pin, sizeof(pin));
			if (r == 0 && lr.status == PROTO_LOGIN_LOW_TRIES)
				die_low_tries(&o, "keygen: the PIN was not tried", lr.token_flags);
			if (r == 0 && lr.status != PROTO_LOGIN_OK && lr.status != PROTO_LOGIN_ALREADY)
				log_die("log-in refused (status %u); nothing was tried again", lr.status);
			if (r == 0)
				r = p11_client_generate(clients[0], o.tokens[0], o.label, NULL, 0,
				    &gen, why);
		}
	}
	if (r != 0) {
		uint32_t flags = first_token_flags(clients[0]);

		if (flags & (PROTO_TOKEN_PIN_COUNT_LOW | PROTO_TOKEN_PIN_FINAL_TRY))
			die_low_tries(&o, "keygen: the token is not logged in", flags);
		log_die("keygen: %s", why[0] != '\0' ? why : err_str(r));
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
int
cmd_login(int argc, char **argv)
{
	struct opts o;
	struct p11_client *clients[MAX_LIST] = { NULL };
	struct proto_login_result lr;
	struct signer_ui_pin_ctx u = { .stdio_ui = NULL, .tty_fd = STDIN_FILENO };
	uint8_t pin[LIMIT_P11_PIN];
	char why[P11_CLIENT_WHY_MAX] = "", note[256];
	size_t pinlen = 0;
	uint32_t flags;
	int r;

	parse_opts(&o, argc, argv);
	if (o.nmodules != 1 || o.ntokens != 1)
		log_die("login wants one --module and one --token URI");
	if (!isatty(STDIN_FILENO))
		log_die("login asks the PIN on the terminal, and standard input is not one");
	start_clients(&o, clients, 0);
	flags = first_token_flags(clients[0]);
	if (flags == 0)
		log_die("login: no token matches --token %s", uri_shown(o.tokens[0]));
	if (flags & PROTO_TOKEN_PIN_LOCKED)
		log_die("login: %s", tries_said(flags));
	if (flags & PROTO_TOKEN_LOGGED_IN) {
		printf("token %s: already logged in\n", uri_shown(o.tokens[0]));
		goto done;
	}
	snprintf(note, sizeof(note), "%s.", tries_said(flags));
	if (signer_ui_pin_tty_ask(&u, o.tokens[0], note, pin, sizeof(pin), &pinlen) != 0)
		log_die("login: no PIN read; nothing was tried");
	r = p11_client_login(clients[0], o.tokens[0], PROTO_LOGIN_LOW_TRIES_CONFIRMED, pin, pinlen,
	    &lr, why);
	explicit_bzero(pin, sizeof(pin));
	if (r != 0)
		log_die("login: %s", why[0] != '\0' ? why : err_str(r));
	switch (lr.status) {
	case PROTO_LOGIN_OK:
	case PROTO_LOGIN_ALREADY:
		printf("logged in; %s\n", tries_said(first_token_flags(clients[0])));
		break;
	case PROTO_LOGIN_PIN_INCORRECT:
		log_die("login: the PIN is incorrect (one try spent); %s; nothing was tried again",
		    tries_said(lr.token_flags));
	case PROTO_LOGIN_PIN_LOCKED:
		log_die("login: %s", tries_said(PROTO_TOKEN_PIN_LOCKED));
	case PROTO_LOGIN_PIN_INVALID:
		log_die("login: the token refuses the PIN's length or characters (no try spent)");
	case PROTO_LOGIN_TOKEN_ABSENT:
		log_die("login: no token in the slot");
	default:
		log_die("login: refused (status %u); nothing was tried again", lr.status);
	}
 done:
	p11_client_stop(clients[0]);
	opts_free(&o);
	return 0;
}
