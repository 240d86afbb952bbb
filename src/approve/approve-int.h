/*
 * approve-int.h - what p11signer-approve's two parts share: approve.c (the
 * connection to the daemon, its messages, main) and windows.c (the windows
 * that show them).  Private to the program.
 */
#ifndef APPROVE_INT_H
#define APPROVE_INT_H

#include <gtk/gtk.h>
#include <jansson.h>

/* Approve is insensitive this long after a window appears: no approval by a stray click. */
#define APPROVE_ARM_MS 1000

/* One request of the daemon's, from its arrival until it is answered. */
struct question {
	json_int_t id;
	char *method;
	json_t *request;	/* params[0] */
	GtkWidget *win, *approve, *reject, *countdown, *pin;
	int seconds_left;
	guint tick, arm;
	int answered;
};

/* ---- approve.c ---- */

/* Seconds a question waits before it is rejected (--approval-timeout). */
int approve_timeout_s(void);

/* Send q's answer (result stolen) once, then close q's window and free q. */
void answer(struct question *q, json_t *result);

/* The answer that refuses q / accepts q as asked, through answer(). */
void reject(struct question *q);
void approve(struct question *q);

/* ---- windows.c ---- */

/* A label that wraps and can be selected, with css_class when not NULL. */
GtkWidget *plain_label(const char *text, const char *css_class);

/* q's window: a request to approve (ui_approve*), or a token PIN (ui_onInputRequired). */
void show_question(struct question *q);
void show_pin(struct question *q);

/* ui_showInfo / ui_showError: a notice that asks nothing and blocks nothing. */
void show_notice(const char *method, const json_t *params);

#endif /* APPROVE_INT_H */
