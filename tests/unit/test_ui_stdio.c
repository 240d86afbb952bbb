/* Clef UI protocol client (src/signer/ui_stdio) against a scripted fake UI. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "signer/ui_stdio.h"
#include "tvec.h"

static int fds[2];		/* fds[0]: ours; fds[1]: the fake UI's */
static struct signer_ui_stdio *ui;

/* The fake UI: reads requests; answers "approve_late" after 1.5 s, "approve" at once
 * (so answers arrive out of order), "fail" with an error object, ignores "never". */
static void *
fake_ui(void *arg)
{
	FILE *in = fdopen(dup(fds[1]), "r");
	char *line = NULL, held[256] = "";
	size_t cap = 0;
	int held_at = -1, n = 0;

	while (getline(&line, &cap, in) > 0) {
		json_t *req = json_loads(line, 0, NULL);
		const char *m = json_string_value(json_object_get(req, "method"));
		json_int_t id = json_integer_value(json_object_get(req, "id"));
		char out[256] = "";

		n++;
		if (m != NULL && strcmp(m, "approve") == 0)
			snprintf(out, sizeof(out), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"approved\":true}}", (long long)id);
		else if (m != NULL && strcmp(m, "fail") == 0)
			snprintf(out, sizeof(out), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-1,\"message\":\"no\"}}", (long long)id);
		else if (m != NULL && strcmp(m, "approve_late") == 0) {
			snprintf(held, sizeof(held), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"approved\":true}}", (long long)id);
			held_at = n;
		} else if (m != NULL && strcmp(m, "hangup") == 0) {
			json_decref(req);
			break;
		}
		/* Split one answer across two writes to exercise framing. */
		if (*out != '\0') {
			size_t half = strlen(out) / 2;
			if (write(fds[1], out, half) < 0 || write(fds[1], out + half, strlen(out) - half) < 0)
				break;
		}
		if (held_at > 0 && n > held_at) {
			if (write(fds[1], held, strlen(held)) < 0)
				break;
			held_at = -1;
		}
		json_decref(req);
	}
	free(line);
	fclose(in);
	shutdown(fds[1], SHUT_RDWR);
	return NULL;
}

static void
test_answer(void **state)
{
	json_t *res;

	assert_int_equal(signer_ui_stdio_call(ui, "approve", json_array(), 5000, &res), 0);
	assert_true(json_is_true(json_object_get(res, "approved")));
	json_decref(res);
}

static void
test_error_object(void **state)
{
	json_t *res;

	assert_int_equal(signer_ui_stdio_call(ui, "fail", json_array(), 5000, &res), ERR_JSON_TYPE);
	assert_null(res);
}

static void
test_timeout_then_late_answer_dropped(void **state)
{
	json_t *res;

	/* The UI holds this answer until its next request: we time out first. */
	assert_int_equal(signer_ui_stdio_call(ui, "approve_late", json_array(), 300, &res), ERR_TIMEOUT);
	assert_null(res);
	/* The late answer now arrives beside this one's and must not be taken for it. */
	assert_int_equal(signer_ui_stdio_call(ui, "approve", json_array(), 5000, &res), 0);
	json_decref(res);
	assert_int_equal(signer_ui_stdio_notify(ui, "ui_showInfo", json_pack("[{s:s}]", "text", "hi")), 0);
}

static void
test_ui_gone(void **state)
{
	json_t *res;

	assert_int_not_equal(signer_ui_stdio_call(ui, "hangup", json_array(), 2000, &res), 0);
	assert_int_equal(signer_ui_stdio_call(ui, "approve", json_array(), 2000, &res), ERR_IO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_error_object),
		cmocka_unit_test(test_timeout_then_late_answer_dropped),
		cmocka_unit_test(test_ui_gone),
	};
	pthread_t t;
	int failed;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0 || signer_ui_stdio_open(fds[0], fds[0], &ui) != 0)
		return 1;
	pthread_create(&t, NULL, fake_ui, NULL);
	failed = cmocka_run_group_tests_name("ui-stdio", tests, NULL, NULL);
	pthread_join(t, NULL);
	signer_ui_stdio_close(ui);
	close(fds[0]);
	close(fds[1]);
	return failed != 0;
}
