/*
 * ui_pin.h - asking a person for a token's PIN, for struct
 * signer_pin_source (signer/keystore.h): on a terminal, or through the
 * Clef UI protocol's ui_onInputRequired on whichever transport serves it.
 *
 * The PIN is written only to the caller's buffer; every copy made on the
 * way (the line read, jansson's string) is wiped with explicit_bzero().
 */
#ifndef SIGNER_UI_PIN_H
#define SIGNER_UI_PIN_H

#include <stddef.h>
#include <stdint.h>

struct signer_ui_stdio;
struct signer_ui_socket;

/* The ctx of the functions below (borrowed, all of it). */
struct signer_ui_pin_ctx {
	struct signer_ui_stdio *stdio_ui;	/* --stdio-ui's Clef UI */
	int tty_fd;				/* the terminal; -1: none */
	struct signer_ui_socket *socket_ui;	/* --ui socket, instead of stdio_ui */
};

/*
 * The PIN typed on ctx->tty_fd, echo off (type-ahead discarded first), up
 * to max bytes, into pin and *lenp.  note (may be "") is shown above the
 * prompt.  Errors: ERR_IO (not a terminal, nothing typed, too long).
 */
int signer_ui_pin_tty_ask(void *ctx, const char *token, const char *note, uint8_t *pin,
    size_t max, size_t *lenp);

/* text on the terminal. */
void signer_ui_pin_tty_notice(void *ctx, const char *text);

/*
 * The PIN from the Clef UI (ctx->socket_ui when set, else ctx->stdio_ui):
 * ui_onInputRequired {title, prompt, isPassword} -> {text}, waiting up to
 * 120 s.  Errors: the UI call's, ERR_NOMEM, ERR_IO (no text, or too long).
 */
int signer_ui_pin_clef_ask(void *ctx, const char *token, const char *note, uint8_t *pin,
    size_t max, size_t *lenp);

/* text as the Clef UI's ui_showInfo. */
void signer_ui_pin_clef_notice(void *ctx, const char *text);

#endif /* SIGNER_UI_PIN_H */
