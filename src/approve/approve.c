/*
 * p11signer-approve - the GTK 4 approver: connects to the daemon's UI socket
 * (`p11signer serve --ui socket`), speaks Clef's UI protocol 7.0.1 on it, and
 * shows each question in a window of its own (docs/p11signer-approve.1).
 *
 * What it shows is what the daemon decoded, escaped (approve/text.h); who
 * asks is the daemon's trusted caller, never a name from the request.
 * Reject is the default: Enter, Escape, closing the window and the
 * countdown reaching zero all reject, and Approve takes a deliberate click
 * after APPROVE_ARM_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gtk/gtk.h>
#include <jansson.h>

#include "approve/approve-int.h"
#include "approve/text.h"
#include "core/log.h"
#include "core/parse.h"

/* The most one message from the daemon may take (LIMIT_JSON_BODY and room). */
#define APPROVE_LINE_MAX (2 * 1024 * 1024 + 8192)
#define RECONNECT_S 1

static struct {
	const char *socket_path;
	int timeout_s;
	int fd;
	guint watch;
	GString *in;
	GList *questions;
	GtkWidget *status_win, *status;
	GMainLoop *loop;
} app = { NULL, 120, -1, 0, NULL, NULL, NULL, NULL, NULL };

static void connect_later(void);

int
approve_timeout_s(void)
{
	return app.timeout_s;
}

/* ---- talking to the daemon ---- */

static void
send_json(json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n, off = 0;

	if (s == NULL || app.fd < 0) {
		free(s);
		return;
	}
	n = strlen(s);
	while (off < n) {
		ssize_t w = send(app.fd, s + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	(void)send(app.fd, "\n", 1, MSG_NOSIGNAL);
	/* May have held a PIN. */
	explicit_bzero(s, n);
	free(s);
}

static void question_free(struct question *q);

void
answer(struct question *q, json_t *result)
{
	json_t *msg;

	if (q->answered) {
		json_decref(result);
		return;
	}
	q->answered = 1;
	msg = json_pack("{s:s,s:I,s:o}", "jsonrpc", "2.0", "id", q->id, "result", result);
	send_json(msg);
	json_decref(msg);
	app.questions = g_list_remove(app.questions, q);
	if (q->win != NULL)
		gtk_window_destroy(GTK_WINDOW(q->win));
	question_free(q);
}

void
reject(struct question *q)
{
	log_msg("rejected %s id %lld", q->method, (long long)q->id);
	if (strcmp(q->method, "ui_approveListing") == 0)
		answer(q, json_pack("{s:[]}", "accounts"));
	else if (strcmp(q->method, "ui_onInputRequired") == 0)
		answer(q, json_pack("{s:s}", "text", ""));
	else
		answer(q, json_pack("{s:b}", "approved", 0));
}

void
approve(struct question *q)
{
	const json_t *r = q->request;

	log_msg("approved %s id %lld", q->method, (long long)q->id);
	if (strcmp(q->method, "ui_approveTx") == 0)
		/* The transaction as asked: p11signer refuses any change anyway. */
		answer(q, json_pack("{s:b,s:O}", "approved", 1, "transaction",
		    json_object_get(r, "transaction")));
	else if (strcmp(q->method, "ui_approveListing") == 0)
		answer(q, json_pack("{s:O}", "accounts", json_object_get(r, "accounts")));
	else
		answer(q, json_pack("{s:b}", "approved", 1));
}

static void
question_free(struct question *q)
{
	if (q->tick != 0)
		g_source_remove(q->tick);
	if (q->arm != 0)
		g_source_remove(q->arm);
	g_free(q->method);
	json_decref(q->request);
	g_free(q);
}

static void
disconnected(void)
{
	GList *l;

	if (app.watch != 0)
		g_source_remove(app.watch);
	app.watch = 0;
	if (app.fd >= 0)
		close(app.fd);
	app.fd = -1;
	g_string_truncate(app.in, 0);
	/* The daemon took the hang-up as a refusal: close what it asked. */
	while ((l = app.questions) != NULL) {
		struct question *q = l->data;
		q->answered = 1;
		app.questions = g_list_remove(app.questions, q);
		if (q->win != NULL)
			gtk_window_destroy(GTK_WINDOW(q->win));
		question_free(q);
	}
	gtk_label_set_text(GTK_LABEL(app.status), "Not connected to the signer; retrying.");
	log_msg("disconnected");
	connect_later();
}

static void
handle_message(json_t *msg)
{
	const char *method = json_string_value(json_object_get(msg, "method"));
	const json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
	struct question *q;

	if (method == NULL) {
		const json_t *e = json_object_get(json_object_get(msg, "error"), "message");
		/* The daemon refused us (another approver, peer check): say so and keep trying. */
		if (json_is_string(e)) {
			char *esc = approve_text_escape(json_string_value(e), json_string_length(e));
			char *s = g_strdup_printf("The signer refused this approver: %s", esc);
			gtk_label_set_text(GTK_LABEL(app.status), s);
			log_msg("refused: %s", esc);
			g_free(s);
			free(esc);
		}
		return;
	}
	if (!json_is_integer(id)) {
		if (strcmp(method, "ui_showInfo") == 0 || strcmp(method, "ui_showError") == 0)
			show_notice(method, params);
		else if (strcmp(method, "ui_onSignerStartup") == 0) {
			gtk_label_set_text(GTK_LABEL(app.status), "Connected to the signer; waiting for requests.");
			log_msg("connected to %s", app.socket_path);
		} else if (strcmp(method, "ui_onApprovedTx") == 0)
			log_msg("signed a transaction");
		return;
	}
	q = g_new0(struct question, 1);
	q->id = json_integer_value(id);
	q->method = g_strdup(method);
	q->request = json_incref(json_array_get(params, 0));
	app.questions = g_list_append(app.questions, q);
	log_msg("asked %s id %lld", method, (long long)q->id);
	if (!json_is_object(q->request))
		reject(q);
	else if (strcmp(method, "ui_onInputRequired") == 0)
		show_pin(q);
	else if (strcmp(method, "ui_approveTx") == 0 || strcmp(method, "ui_approveSignData") == 0 ||
	    strcmp(method, "ui_approveListing") == 0 || strcmp(method, "ui_approveNewAccount") == 0)
		show_question(q);
	else {
		/* Not a question this approver knows: an error, so the daemon refuses. */
		json_t *e = json_pack("{s:s,s:I,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", q->id,
		    "error", "code", -32601, "message", "method not supported by p11signer-approve");
		q->answered = 1;
		send_json(e);
		json_decref(e);
		app.questions = g_list_remove(app.questions, q);
		question_free(q);
	}
}

static gboolean
readable(gint fd, GIOCondition cond, gpointer data)
{
	char chunk[8192];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *nl;

	(void)cond;
	(void)data;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n <= 0 || app.in->len + (size_t)n > APPROVE_LINE_MAX) {
		app.watch = 0;
		disconnected();
		return G_SOURCE_REMOVE;
	}
	g_string_append_len(app.in, chunk, n);
	while ((nl = memchr(app.in->str, '\n', app.in->len)) != NULL) {
		size_t len = (size_t)(nl - app.in->str);
		json_t *msg = json_loadb(app.in->str, len, JSON_REJECT_DUPLICATES, NULL);
		g_string_erase(app.in, 0, (gssize)len + 1);
		if (msg != NULL)
			handle_message(msg);
		json_decref(msg);
		if (app.fd < 0)
			return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
try_connect(gpointer data)
{
	struct sockaddr_un sun;
	int fd;

	(void)data;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(app.socket_path) >= sizeof(sun.sun_path)) {
		log_msg("socket path too long: %s", app.socket_path);
		g_main_loop_quit(app.loop);
		return G_SOURCE_REMOVE;
	}
	memcpy(sun.sun_path, app.socket_path, strlen(app.socket_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return G_SOURCE_CONTINUE;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return G_SOURCE_CONTINUE;	/* the daemon is not (yet) there: try again */
	}
	app.fd = fd;
	app.watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, readable, NULL);
	return G_SOURCE_REMOVE;
}

static void
connect_later(void)
{
	g_timeout_add_seconds(RECONNECT_S, try_connect, NULL);
}

static const char css[] =
    ".caller { font-size: 20pt; font-weight: bold; }\n"
    ".asks { font-size: 12pt; }\n"
    ".key { color: #555555; }\n"
    ".value { font-family: monospace; background-color: #f2f2ec; padding: 1px 4px; }\n"
    ".warning { background-color: #b00020; color: white; font-weight: bold; padding: 6px; }\n"
    ".info { background-color: #dde8f5; padding: 6px; }\n"
    ".countdown { color: #8a4b00; }\n";

static void
usage(void)
{
	fprintf(stderr, "usage: p11signer-approve [--socket PATH] [--approval-timeout S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	GtkCssProvider *prov;
	char def[PATH_MAX];
	const char *run = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	int i;

	log_init("p11signer-approve");
	/* What this process holds (a PIN while it is typed) is not for core files or ptrace. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			app.socket_path = argv[++i];
		else if (strcmp(argv[i], "--approval-timeout") == 0 && i + 1 < argc) {
			unsigned long v;

			if (parse_unsigned(argv[++i], 86400, &v) != 0 || v < 1)
				usage();
			app.timeout_s = (int)v;
		} else
			usage();
	}
	if (app.socket_path == NULL) {
		if (run != NULL && *run == '/')
			snprintf(def, sizeof(def), "%s/p11signer/ui.sock", run);
		else if (home != NULL && *home == '/')
			snprintf(def, sizeof(def), "%s/.p11signer/ui.sock", home);
		else
			usage();
		app.socket_path = def;
	}
	gtk_init();
	prov = gtk_css_provider_new();
	gtk_css_provider_load_from_data(prov, css, -1);
	gtk_style_context_add_provider_for_display(gdk_display_get_default(),
	    GTK_STYLE_PROVIDER(prov), GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
	app.in = g_string_new(NULL);
	app.loop = g_main_loop_new(NULL, FALSE);

	app.status_win = gtk_window_new();
	gtk_window_set_title(GTK_WINDOW(app.status_win), "p11signer approver");
	app.status = plain_label("Connecting to the signer…", NULL);
	gtk_widget_set_margin_start(app.status, 16);
	gtk_widget_set_margin_end(app.status, 16);
	gtk_widget_set_margin_top(app.status, 10);
	gtk_widget_set_margin_bottom(app.status, 10);
	gtk_window_set_child(GTK_WINDOW(app.status_win), app.status);
	g_signal_connect_swapped(app.status_win, "close-request", G_CALLBACK(g_main_loop_quit),
	    app.loop);
	gtk_window_present(GTK_WINDOW(app.status_win));

	if (try_connect(NULL) == G_SOURCE_CONTINUE)
		connect_later();
	g_main_loop_run(app.loop);
	if (app.fd >= 0)
		close(app.fd);
	return 0;
}
