/*
 * ui_pin.c - asking a person for a token's PIN: on the terminal with echo
 * off, or through a Clef UI (ui_onInputRequired) on stdio or the UI socket.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "core/limits.h"
#include "signer/ui_pin.h"
#include "signer/ui_socket.h"
#include "signer/ui_stdio.h"

/* A Clef UI call on whichever transport serves the protocol (params stolen). */
static int
clef_ui_call(struct signer_ui_pin_ctx *u, const char *method, json_t *params, int timeout_ms,
    json_t **resultp)
{
	if (u->socket_ui != NULL)
		return signer_ui_socket_call(u->socket_ui, method, params, timeout_ms, resultp);
	return signer_ui_stdio_call(u->stdio_ui, method, params, timeout_ms, resultp);
}

static int
clef_ui_notify(struct signer_ui_pin_ctx *u, const char *method, json_t *params)
{
	if (u->socket_ui != NULL)
		return signer_ui_socket_notify(u->socket_ui, method, params);
	return signer_ui_stdio_notify(u->stdio_ui, method, params);
}

int
signer_ui_pin_tty_ask(void *ctx, const char *token, const char *note, uint8_t *pin, size_t max,
    size_t *lenp)
{
	struct signer_ui_pin_ctx *u = ctx;
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

void
signer_ui_pin_tty_notice(void *ctx, const char *text)
{
	struct signer_ui_pin_ctx *u = ctx;

	dprintf(u->tty_fd, "\n%s\n", text);
}

/* Clef's ui_onInputRequired: {title, prompt, isPassword} -> {text}. */
int
signer_ui_pin_clef_ask(void *ctx, const char *token, const char *note, uint8_t *pin, size_t max,
    size_t *lenp)
{
	struct signer_ui_pin_ctx *u = ctx;
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

void
signer_ui_pin_clef_notice(void *ctx, const char *text)
{
	struct signer_ui_pin_ctx *u = ctx;

	(void)clef_ui_notify(u, "ui_showInfo", json_pack("[{s:s}]", "text", text));
}
