/*
 * windows.c - p11signer-approve's windows: a question (transaction, data,
 * listing, new account), a token PIN, a notice, each built from what the
 * daemon decoded and shown escaped (approve/text.h).  Reject is the
 * default: Enter, Escape, closing and the countdown all reject; Approve
 * takes a deliberate click after APPROVE_ARM_MS.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gtk/gtk.h>
#include <jansson.h>

#include "approve/approve-int.h"
#include "approve/text.h"
#include "core/log.h"

/* Values longer than this are cut; the whole value is behind an expander. */
#define SHOW_MAX_CHARS 120

GtkWidget *
plain_label(const char *text, const char *css_class)
{
	GtkWidget *l = gtk_label_new(text);

	gtk_label_set_xalign(GTK_LABEL(l), 0);
	gtk_label_set_wrap(GTK_LABEL(l), TRUE);
	gtk_label_set_wrap_mode(GTK_LABEL(l), PANGO_WRAP_WORD_CHAR);
	gtk_label_set_selectable(GTK_LABEL(l), FALSE);
	/*
	 * A wrapping label asks for its height at its narrowest width; a floor
	 * on that width keeps the window from opening with a tall blank space.
	 */
	gtk_label_set_width_chars(GTK_LABEL(l), 44);
	if (css_class != NULL)
		gtk_widget_add_css_class(l, css_class);
	return l;
}

/*
 * A value from the request: escaped, in a frame of its own style so that it
 * cannot be read as the window's words, cut at SHOW_MAX_CHARS with the whole
 * behind an expander.
 */
static GtkWidget *
value_widget(const char *untrusted, size_t len)
{
	char *esc = approve_text_escape(untrusted, len);
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2), *l;
	glong chars;

	if (esc == NULL)
		esc = strdup("(out of memory)");
	chars = g_utf8_strlen(esc, -1);
	if (chars <= SHOW_MAX_CHARS) {
		l = plain_label(esc, "value");
		gtk_label_set_selectable(GTK_LABEL(l), TRUE);
		gtk_box_append(GTK_BOX(box), l);
	} else {
		char *cut = g_utf8_substring(esc, 0, SHOW_MAX_CHARS);
		char *head = g_strdup_printf("%s…", cut);
		char *title = g_strdup_printf("all %ld characters", chars);
		GtkWidget *exp = gtk_expander_new(title), *all = plain_label(esc, "value");

		gtk_box_append(GTK_BOX(box), plain_label(head, "value"));
		gtk_label_set_selectable(GTK_LABEL(all), TRUE);
		gtk_expander_set_child(GTK_EXPANDER(exp), all);
		gtk_box_append(GTK_BOX(box), exp);
		g_free(cut);
		g_free(head);
		g_free(title);
	}
	free(esc);
	return box;
}

static void
grid_row(GtkWidget *grid, int *row, const char *name, GtkWidget *value)
{
	GtkWidget *k = plain_label(name, "key");

	gtk_label_set_wrap(GTK_LABEL(k), FALSE);
	gtk_label_set_width_chars(GTK_LABEL(k), -1);
	gtk_widget_set_valign(k, GTK_ALIGN_START);
	gtk_widget_set_hexpand(value, TRUE);
	gtk_grid_attach(GTK_GRID(grid), k, 0, *row, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), value, 1, *row, 1, 1);
	(*row)++;
}

static void
grid_text(GtkWidget *grid, int *row, const char *name, const char *untrusted)
{
	if (untrusted != NULL)
		grid_row(grid, row, name, value_widget(untrusted, strlen(untrusted)));
}

/* A JSON value as text (strings as they are); caller frees with free(). */
static char *
json_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		char b[32];
		snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
		return strdup(b);
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void
grid_json(GtkWidget *grid, int *row, const char *name, const json_t *v)
{
	char *s;

	if (v == NULL || json_is_null(v))
		return;
	s = json_text(v);
	if (s != NULL)
		grid_row(grid, row, name, value_widget(s, strlen(s)));
	free(s);
}

/* A decimal wei amount (decoded's *_wei members) in gwei. */
static void
grid_gwei(GtkWidget *grid, int *row, const char *name, const json_t *wei)
{
	char *g = approve_text_units(json_string_value(wei), 9), *s;

	if (g == NULL)
		return;
	s = g_strdup_printf("%s gwei", g);
	grid_text(grid, row, name, s);
	g_free(s);
	free(g);
}

/* Clef's name/type/value list (typed data, sign data), nested as a tree. */
static void
grid_messages(GtkWidget *grid, int *row, const json_t *messages, int depth)
{
	const json_t *m;
	size_t i;

	json_array_foreach(messages, i, m) {
		const json_t *v = json_object_get(m, "value");
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *type = json_string_value(json_object_get(m, "type"));
		char *esc = approve_text_escape(name != NULL ? name : "", name != NULL ? strlen(name) : 0);
		char *key = g_strdup_printf("%*s%s%s%s%s", depth * 3, "", esc != NULL ? esc : "",
		    type != NULL ? " (" : "", type != NULL ? type : "", type != NULL ? ")" : "");

		free(esc);
		if (json_is_array(v) && json_array_size(v) > 0 &&
		    json_is_object(json_array_get(v, 0)) &&
		    json_object_get(json_array_get(v, 0), "name") != NULL) {
			grid_row(grid, row, key, plain_label("", NULL));
			grid_messages(grid, row, v, depth + 1);
		} else
			grid_json(grid, row, key, v);
		g_free(key);
	}
}

static gboolean
countdown_tick(gpointer data)
{
	struct question *q = data;
	char *s;

	if (--q->seconds_left <= 0) {
		q->tick = 0;
		log_msg("timed out %s id %lld", q->method, (long long)q->id);
		reject(q);
		return G_SOURCE_REMOVE;
	}
	s = g_strdup_printf("Rejected automatically in %d s", q->seconds_left);
	gtk_label_set_text(GTK_LABEL(q->countdown), s);
	g_free(s);
	return G_SOURCE_CONTINUE;
}

static gboolean
arm_approve(gpointer data)
{
	struct question *q = data;

	q->arm = 0;
	gtk_widget_set_sensitive(q->approve, TRUE);
	log_msg("ready %s id %lld", q->method, (long long)q->id);
	return G_SOURCE_REMOVE;
}

static void on_approve(GtkButton *b, gpointer data) { (void)b; approve(data); }
static void on_reject(GtkButton *b, gpointer data) { (void)b; reject(data); }

static gboolean
on_close(GtkWindow *w, gpointer data)
{
	(void)w;
	reject(data);
	return TRUE;
}

static void
on_pin_ok(GtkWidget *w, gpointer data)
{
	struct question *q = data;
	const char *pin = gtk_editable_get_text(GTK_EDITABLE(q->pin));
	json_t *res = json_pack("{s:s}", "text", pin != NULL ? pin : "");

	(void)w;
	log_msg("PIN given for id %lld", (long long)q->id);
	/* Wipe jansson's copy once it is sent (send_json wipes the line). */
	if (res != NULL) {
		json_t *t = json_incref(json_object_get(res, "text"));
		answer(q, res);		/* destroys the window and the entry's secure buffer */
		explicit_bzero((char *)(uintptr_t)json_string_value(t), json_string_length(t));
		json_decref(t);
	}
}

/* The trusted caller, big, with the profile and how it came. */
static GtkWidget *
caller_header(const json_t *req, const char *asks)
{
	const json_t *meta = json_object_get(req, "meta");
	const char *caller = json_string_value(json_object_get(meta, "caller"));
	const char *kind = json_string_value(json_object_get(meta, "caller_kind"));
	const char *profile = json_string_value(json_object_get(meta, "profile"));
	const char *tls = json_string_value(json_object_get(meta, "tls_client"));
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
	char *esc = approve_text_escape(caller != NULL ? caller : "(unknown)",
	    caller != NULL ? strlen(caller) : 9);
	const char *how = kind == NULL ? "" : strcmp(kind, "qube") == 0 ? "qube" :
	    strcmp(kind, "unix") == 0 ? "local program" : strcmp(kind, "tcp") == 0 ?
	    "network peer" : kind;
	char *line = g_strdup_printf("%s %s", how, esc != NULL ? esc : "");
	char *sub;

	gtk_box_append(GTK_BOX(box), plain_label(line, "caller"));
	sub = g_strdup_printf("%s%s%s%s%s", asks, profile != NULL && *profile ? " · profile " : "",
	    profile != NULL ? profile : "", tls != NULL && *tls ? " · TLS client " : "",
	    tls != NULL ? tls : "");
	gtk_box_append(GTK_BOX(box), plain_label(sub, "asks"));
	g_free(line);
	g_free(sub);
	free(esc);
	return box;
}

static void
untrusted_claims(GtkWidget *grid, int *row, const json_t *meta)
{
	static const char *const keys[] = { "Origin", "User-Agent", "remote", "X-Forwarded-For" };
	size_t i;
	char name[64];

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(meta, keys[i]));
		if (v != NULL && *v != '\0' && strcmp(v, "NA") != 0) {
			snprintf(name, sizeof(name), "%s (claimed)", keys[i]);
			grid_text(grid, row, name, v);
		}
	}
}

/*
 * The daemon's decoded call (docs/api.md, "call_info and the decoded call"):
 * the function and each argument, the summary, an unlimited approval as a
 * warning, what could not be decoded and why, inner calls of a batch.
 */
static void
call_rows(GtkWidget *grid, int *row, const json_t *call, int depth)
{
	const char *status = json_string_value(json_object_get(call, "status"));
	const json_t *a, *inner;
	char key[96];
	size_t i;

	snprintf(key, sizeof(key), "%*sCalls", depth * 3, "");
	if (status != NULL && strcmp(status, "decoded") == 0) {
		grid_json(grid, row, key, json_object_get(call, "signature"));
		json_array_foreach(json_object_get(call, "args"), i, a) {
			const char *name = json_string_value(json_object_get(a, "name"));
			const char *type = json_string_value(json_object_get(a, "type"));
			const json_t *v = json_object_get(a, "value");
			char *esc = approve_text_escape(name != NULL ? name : "",
			    name != NULL ? strlen(name) : 0);

			snprintf(key, sizeof(key), "%*s  %s (%s)", depth * 3, "",
			    esc != NULL && *esc ? esc : "argument", type != NULL ? type : "?");
			free(esc);
			grid_json(grid, row, key, v != NULL ? v : json_object_get(a, "value_hex"));
		}
		snprintf(key, sizeof(key), "%*sIn short", depth * 3, "");
		grid_json(grid, row, key, json_object_get(call, "summary"));
	} else {
		char *line = g_strdup_printf("%s call, selector %s%s%s", status != NULL ? status : "unknown",
		    json_string_value(json_object_get(call, "selector")) != NULL ?
		    json_string_value(json_object_get(call, "selector")) : "?",
		    json_string_value(json_object_get(call, "error")) != NULL ? ": " : "",
		    json_string_value(json_object_get(call, "error")) != NULL ?
		    json_string_value(json_object_get(call, "error")) : "");
		grid_text(grid, row, key, line);
		g_free(line);
		snprintf(key, sizeof(key), "%*sCandidates", depth * 3, "");
		grid_json(grid, row, key, json_object_get(call, "candidates"));
	}
	if (json_is_true(json_object_get(call, "unlimited")))
		grid_row(grid, row, "", plain_label("UNLIMITED APPROVAL: everything the holder has, "
		    "now and later", "warning"));
	json_array_foreach(json_object_get(call, "calls"), i, inner) {
		int op = (int)json_integer_value(json_object_get(inner, "operation"));
		snprintf(key, sizeof(key), "%*sInner call %zu%s", depth * 3, "", i + 1,
		    op == 1 ? " (DELEGATECALL)" : "");
		grid_json(grid, row, key, json_object_get(inner, "to"));
		if (json_object_get(inner, "call") != NULL && depth < 3)
			call_rows(grid, row, json_object_get(inner, "call"), depth + 1);
	}
}

static void
tx_fields(GtkWidget *grid, int *row, const json_t *req)
{
	const json_t *d = json_object_get(req, "decoded"), *tx = json_object_get(req, "transaction");
	const json_t *to = json_object_get(d, "to"), *v, *a;
	const char *chain = json_string_value(json_object_get(d, "chainId"));
	/* The daemon's name for the chain; this program's short table when it has none. */
	const char *cname = json_string_value(json_object_get(d, "chain_name")) != NULL ?
	    json_string_value(json_object_get(d, "chain_name")) : approve_text_chain_name(chain);
	char *s;
	size_t i;

	s = g_strdup_printf("%s (chain id %s)", cname != NULL ? cname : "unknown chain",
	    chain != NULL ? chain : "?");
	grid_text(grid, row, "Chain", s);
	g_free(s);
	grid_json(grid, row, "From", json_object_get(d, "from"));
	if (json_is_string(to))
		grid_json(grid, row, "To", to);
	else
		/* The window's own words, in its own style: no request can write them. */
		grid_row(grid, row, "To", plain_label("contract creation: no recipient; the call "
		    "data is deployed as a new contract", "info"));
	s = g_strdup_printf("%s ETH", json_string_value(json_object_get(d, "value_eth")) != NULL ?
	    json_string_value(json_object_get(d, "value_eth")) : "?");
	grid_text(grid, row, "Value", s);
	g_free(s);
	if ((v = json_object_get(d, "call")) != NULL)
		call_rows(grid, row, v, 0);
	else if ((v = json_object_get(d, "method")) != NULL)
		grid_json(grid, row, "Calls", v);
	grid_json(grid, row, "Gas limit", json_object_get(d, "gas"));
	if ((v = json_object_get(d, "gasPrice_wei")) != NULL)
		grid_gwei(grid, row, "Gas price", v);
	if ((v = json_object_get(d, "maxFeePerGas_wei")) != NULL)
		grid_gwei(grid, row, "Max fee per gas", v);
	if ((v = json_object_get(d, "maxPriorityFeePerGas_wei")) != NULL)
		grid_gwei(grid, row, "Max priority fee", v);
	if ((v = json_object_get(d, "maxFeePerBlobGas_wei")) != NULL)
		grid_gwei(grid, row, "Max fee per blob gas", v);
	if ((v = json_object_get(d, "max_cost_wei")) != NULL) {
		char *eth = approve_text_units(json_string_value(v), 18);
		if (eth != NULL) {
			s = g_strdup_printf("%s ETH (value + gas × the highest fee)", eth);
			grid_text(grid, row, "Costs at most", s);
			g_free(s);
		}
		free(eth);
	} else if ((v = json_object_get(d, "max_cost_eth")) != NULL)
		grid_json(grid, row, "Costs at most", v);
	grid_json(grid, row, "Nonce", json_object_get(d, "nonce"));
	grid_json(grid, row, "Type", json_object_get(d, "type"));
	grid_json(grid, row, "Access list entries", json_object_get(d, "access_list_entries"));
	json_array_foreach(json_object_get(d, "authorizations"), i, a) {
		const char *to_addr = json_string_value(json_object_get(a, "delegate_to"));
		const char *cid = json_string_value(json_object_get(a, "chainId"));
		const char *nonce = json_string_value(json_object_get(a, "nonce"));
		const char *cn = cid != NULL && strcmp(cid, "0") == 0 ? "any chain" :
		    approve_text_chain_name(cid);
		char *k = g_strdup_printf("Delegation %zu", i + 1);

		if (i == 0)
			grid_row(grid, row, "", plain_label("EIP-7702: the account's code becomes the "
			    "delegate's, which can then move everything the account holds", "warning"));
		s = g_strdup_printf("account code → %s, chain %s%s%s%s, authorization nonce %s",
		    to_addr != NULL ? to_addr : "?", cid != NULL ? cid : "?",
		    cn != NULL ? " (" : "", cn != NULL ? cn : "", cn != NULL ? ")" : "",
		    nonce != NULL ? nonce : "?");
		grid_text(grid, row, k, s);
		g_free(s);
		g_free(k);
	}
	if ((v = json_object_get(tx, "blobVersionedHashes")) != NULL)
		json_array_foreach(v, i, a) {
			s = g_strdup_printf("Blob hash %zu", i + 1);
			grid_json(grid, row, s, a);
			g_free(s);
		}
	v = json_object_get(tx, "data");
	if (v == NULL || json_is_null(v))
		v = json_object_get(tx, "input");
	if (json_is_string(v)) {
		GtkWidget *exp = gtk_expander_new("raw call data (hex)");
		gtk_expander_set_child(GTK_EXPANDER(exp), value_widget(json_string_value(v),
		    json_string_length(v)));
		grid_row(grid, row, "Call data", exp);
	}
}

static void
sign_data_fields(GtkWidget *grid, int *row, const json_t *req)
{
	grid_json(grid, row, "Content type", json_object_get(req, "content_type"));
	grid_json(grid, row, "Key", json_object_get(req, "address"));
	grid_messages(grid, row, json_object_get(req, "messages"), 0);
	grid_json(grid, row, "Hash", json_object_get(req, "hash"));
}

static gboolean
on_escape(GtkWidget *w, GVariant *args, gpointer data)
{
	(void)w;
	(void)args;
	reject(data);
	return TRUE;
}

/* A question's window: closing it or Escape rejects. */
static GtkWidget *
window_for(struct question *q, const char *title)
{
	GtkWidget *w = gtk_window_new();
	GtkEventController *keys = gtk_shortcut_controller_new();

	gtk_window_set_title(GTK_WINDOW(w), title);
	gtk_window_set_default_size(GTK_WINDOW(w), 720, -1);
	g_signal_connect(w, "close-request", G_CALLBACK(on_close), q);
	gtk_shortcut_controller_add_shortcut(GTK_SHORTCUT_CONTROLLER(keys),
	    gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, 0),
	    gtk_callback_action_new(on_escape, q, NULL)));
	gtk_widget_add_controller(w, keys);
	return w;
}

/* The countdown line of a question, from the approval timeout down. */
static void
append_countdown(struct question *q, GtkWidget *outer)
{
	q->countdown = plain_label("", "countdown");
	q->seconds_left = approve_timeout_s() + 1;
	countdown_tick(q);
	gtk_box_append(GTK_BOX(outer), q->countdown);
}

/* Two buttons at the window's end edge, the one that refuses first. */
static GtkWidget *
button_row(GtkWidget **refusep, const char *refuse_label, GtkWidget **acceptp,
    const char *accept_label)
{
	GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);

	gtk_widget_set_halign(row, GTK_ALIGN_END);
	*refusep = gtk_button_new_with_label(refuse_label);
	*acceptp = gtk_button_new_with_label(accept_label);
	gtk_widget_set_size_request(*refusep, 140, 40);
	gtk_widget_set_size_request(*acceptp, 140, 40);
	gtk_box_append(GTK_BOX(row), *refusep);
	gtk_box_append(GTK_BOX(row), *acceptp);
	return row;
}

void
show_question(struct question *q)
{
	const json_t *r = q->request;
	const char *m = q->method, *title, *asks;
	GtkWidget *outer, *grid, *scroll, *buttons, *warn;
	const json_t *ci;
	size_t i;
	int row = 0;

	if (strcmp(m, "ui_approveTx") == 0)
		title = "p11signer: sign a transaction?", asks = "asks to sign a transaction";
	else if (strcmp(m, "ui_approveSignData") == 0) {
		const char *ct = json_string_value(json_object_get(r, "content_type"));
		title = ct != NULL && strcmp(ct, "data/typed") == 0 ?
		    "p11signer: sign typed data?" : "p11signer: sign a message?";
		asks = ct != NULL && strcmp(ct, "data/typed") == 0 ?
		    "asks to sign typed data (EIP-712)" : "asks to sign a message";
	} else if (strcmp(m, "ui_approveListing") == 0)
		title = "p11signer: show accounts?", asks = "asks to see the accounts";
	else
		title = "p11signer: make a new key?", asks = "asks for a new key on the token";

	q->win = window_for(q, title);
	outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10);
	gtk_widget_set_margin_start(outer, 16);
	gtk_widget_set_margin_end(outer, 16);
	gtk_widget_set_margin_top(outer, 14);
	gtk_widget_set_margin_bottom(outer, 14);
	gtk_box_append(GTK_BOX(outer), caller_header(r, asks));

	json_array_foreach(json_object_get(r, "call_info"), i, ci) {
		const char *type = json_string_value(json_object_get(ci, "type"));
		const char *msg = json_string_value(json_object_get(ci, "message"));
		char *esc = approve_text_escape(msg != NULL ? msg : "", msg != NULL ? strlen(msg) : 0);
		char *line = g_strdup_printf("%s: %s", type != NULL ? type : "?", esc);
		warn = plain_label(line, type != NULL && strcmp(type, "Info") == 0 ? "info" : "warning");
		gtk_box_append(GTK_BOX(outer), warn);
		g_free(line);
		free(esc);
	}

	grid = gtk_grid_new();
	gtk_grid_set_column_spacing(GTK_GRID(grid), 14);
	gtk_grid_set_row_spacing(GTK_GRID(grid), 4);
	if (strcmp(m, "ui_approveTx") == 0)
		tx_fields(grid, &row, r);
	else if (strcmp(m, "ui_approveSignData") == 0)
		sign_data_fields(grid, &row, r);
	else if (strcmp(m, "ui_approveListing") == 0) {
		const json_t *a;
		json_array_foreach(json_object_get(r, "accounts"), i, a) {
			grid_json(grid, &row, "Account", json_object_get(a, "address"));
			grid_json(grid, &row, "  on", json_object_get(a, "url"));
		}
	}
	untrusted_claims(grid, &row, json_object_get(r, "meta"));
	scroll = gtk_scrolled_window_new();
	gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroll), GTK_POLICY_NEVER,
	    GTK_POLICY_AUTOMATIC);
	gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(scroll), TRUE);
	gtk_scrolled_window_set_max_content_height(GTK_SCROLLED_WINDOW(scroll), 560);
	gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), grid);
	gtk_box_append(GTK_BOX(outer), scroll);

	append_countdown(q, outer);

	buttons = button_row(&q->reject, "Reject", &q->approve, "Approve");
	gtk_widget_add_css_class(q->approve, "suggested-action");
	gtk_widget_set_sensitive(q->approve, FALSE);
	/* Enter activates the focused button; only Reject can hold focus at first. */
	gtk_widget_set_focus_on_click(q->approve, FALSE);
	g_signal_connect(q->approve, "clicked", G_CALLBACK(on_approve), q);
	g_signal_connect(q->reject, "clicked", G_CALLBACK(on_reject), q);
	gtk_box_append(GTK_BOX(outer), buttons);

	gtk_window_set_child(GTK_WINDOW(q->win), outer);
	gtk_window_set_default_widget(GTK_WINDOW(q->win), q->reject);
	gtk_window_set_focus(GTK_WINDOW(q->win), q->reject);
	q->tick = g_timeout_add_seconds(1, countdown_tick, q);
	q->arm = g_timeout_add(APPROVE_ARM_MS, arm_approve, q);
	gtk_window_present(GTK_WINDOW(q->win));
}

void
show_pin(struct question *q)
{
	const json_t *r = q->request;
	const char *title = json_string_value(json_object_get(r, "title"));
	const char *prompt = json_string_value(json_object_get(r, "prompt"));
	GtkWidget *outer, *buttons, *ok, *cancel;

	q->win = window_for(q, "p11signer: token PIN");
	gtk_window_set_default_size(GTK_WINDOW(q->win), 480, -1);
	outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10);
	gtk_widget_set_margin_start(outer, 16);
	gtk_widget_set_margin_end(outer, 16);
	gtk_widget_set_margin_top(outer, 14);
	gtk_widget_set_margin_bottom(outer, 14);
	gtk_box_append(GTK_BOX(outer), plain_label(title != NULL ? title : "PIN", "caller"));
	/* The daemon's prompt: the token's label and what it says of the tries left. */
	gtk_box_append(GTK_BOX(outer), value_widget(prompt != NULL ? prompt : "",
	    prompt != NULL ? strlen(prompt) : 0));
	q->pin = gtk_password_entry_new();
	gtk_password_entry_set_show_peek_icon(GTK_PASSWORD_ENTRY(q->pin), FALSE);
	g_signal_connect(q->pin, "activate", G_CALLBACK(on_pin_ok), q);
	gtk_box_append(GTK_BOX(outer), q->pin);
	append_countdown(q, outer);
	buttons = button_row(&cancel, "Cancel", &ok, "Log in");
	g_signal_connect(cancel, "clicked", G_CALLBACK(on_reject), q);
	g_signal_connect(ok, "clicked", G_CALLBACK(on_pin_ok), q);
	gtk_box_append(GTK_BOX(outer), buttons);
	gtk_window_set_child(GTK_WINDOW(q->win), outer);
	gtk_window_set_focus(GTK_WINDOW(q->win), q->pin);
	q->tick = g_timeout_add_seconds(1, countdown_tick, q);
	gtk_window_present(GTK_WINDOW(q->win));
	log_msg("ready %s id %lld", q->method, (long long)q->id);
}

/* ui_showInfo / ui_showError: a notice that asks nothing and blocks nothing. */
void
show_notice(const char *method, const json_t *params)
{
	const char *text = json_string_value(json_object_get(json_array_get(params, 0), "text"));
	int is_error = strcmp(method, "ui_showError") == 0;
	GtkWidget *w = gtk_window_new(), *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10), *b;

	gtk_window_set_title(GTK_WINDOW(w), is_error ? "p11signer: error" : "p11signer: notice");
	gtk_widget_set_margin_start(box, 16);
	gtk_widget_set_margin_end(box, 16);
	gtk_widget_set_margin_top(box, 14);
	gtk_widget_set_margin_bottom(box, 14);
	gtk_box_append(GTK_BOX(box), value_widget(text != NULL ? text : "",
	    text != NULL ? strlen(text) : 0));
	b = gtk_button_new_with_label("Close");
	gtk_widget_set_halign(b, GTK_ALIGN_END);
	g_signal_connect_swapped(b, "clicked", G_CALLBACK(gtk_window_destroy), w);
	gtk_box_append(GTK_BOX(box), b);
	gtk_window_set_child(GTK_WINDOW(w), box);
	gtk_window_present(GTK_WINDOW(w));
	log_msg("notice %s", method);
}
