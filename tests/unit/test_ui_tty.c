/* The terminal approver: answers, timeouts, and that requests cannot drive the terminal. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "eth/addr.h"
#include "eth/calldata.h"
#include "core/err.h"
#include "signer/ui_tty.h"
#include "tvec.h"

struct pipes {
	int in[2], out[2];
	struct signer_ui_tty *t;
};

static int
setup(void **state)
{
	struct pipes *p = calloc(1, sizeof(*p));

	if (p == NULL || pipe(p->in) != 0 || pipe(p->out) != 0)
		return -1;
	if (signer_ui_tty_open(p->in[0], p->out[1], &p->t) != 0)
		return -1;
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct pipes *p = *state;

	signer_ui_tty_close(p->t);
	close(p->in[0]);
	close(p->in[1]);
	close(p->out[0]);
	close(p->out[1]);
	free(p);
	return 0;
}

static char *
drain(int fd)
{
	static char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static json_t *
sign_data_request(const char *text)
{
	return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:s}],s:{s:s,s:s,s:s,s:s}}",
	    "content_type", "text/plain", "address", "0x8A8eAFb1cf62BfBeb1741769DAE1a9dd47996192",
	    "hash", "0x00", "messages", "name", "message", "type", "text/plain", "value", text,
	    "meta", "caller", "work", "caller_kind", "qube", "Origin", "https://evil\x1b[2J.example",
	    "User-Agent", "x");
}

static void
test_yes(void **state)
{
	struct pipes *p = *state;
	json_t *req = sign_data_request("hello"), *res = NULL;
	char *out;

	assert_int_equal(write(p->in[1], "y\n", 2), 2);
	assert_int_equal(signer_ui_tty_ask(p->t, "ui_approveSignData", req, 5000, &res), 0);
	assert_true(json_is_true(json_object_get(res, "approved")));
	out = drain(p->out[0]);
	assert_non_null(strstr(out, "caller (trusted)       qube work"));
	assert_non_null(strstr(out, "Origin (claimed)"));
	/* The escape sequence is shown as text, never sent to the terminal. */
	assert_null(strchr(out, '\x1b'));
	assert_non_null(strstr(out, "evil\\x1b[2J.example"));
	json_decref(res);
	json_decref(req);
}

static void
test_no_and_anything_else(void **state)
{
	struct pipes *p = *state;
	static const char *answers[] = { "n\n", "\n", "yess\n", "Y \n" };
	json_t *req = sign_data_request("line1\nline2\r\x07"), *res = NULL;
	size_t i;

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		assert_int_equal(write(p->in[1], answers[i], strlen(answers[i])),
		    (ssize_t)strlen(answers[i]));
		assert_int_equal(signer_ui_tty_ask(p->t, "ui_approveSignData", req, 5000, &res), 0);
		assert_true(json_is_false(json_object_get(res, "approved")));
		json_decref(res);
		assert_null(strpbrk(drain(p->out[0]), "\r\x07"));
	}
	json_decref(req);
}

static void
test_timeout(void **state)
{
	struct pipes *p = *state;
	json_t *req = sign_data_request("x"), *res = NULL;

	assert_int_equal(signer_ui_tty_ask(p->t, "ui_approveSignData", req, 300, &res), ERR_TIMEOUT);
	assert_null(res);
	assert_non_null(strstr(drain(p->out[0]), "no answer: denied"));
	json_decref(req);
}

static void
test_listing(void **state)
{
	struct pipes *p = *state;
	json_t *req = json_pack("{s:[{s:s,s:s}],s:{s:s}}", "accounts", "address",
	    "0x8A8eAFb1cf62BfBeb1741769DAE1a9dd47996192", "url", "pkcs11:token=vault;object=eth0",
	    "meta", "caller", "uid:1000"), *res = NULL;

	assert_int_equal(write(p->in[1], "yes\n", 4), 4);
	assert_int_equal(signer_ui_tty_ask(p->t, "ui_approveListing", req, 5000, &res), 0);
	assert_int_equal(json_array_size(json_object_get(res, "accounts")), 1);
	json_decref(res);
	assert_int_equal(write(p->in[1], "n\n", 2), 2);
	assert_int_equal(signer_ui_tty_ask(p->t, "ui_approveListing", req, 5000, &res), 0);
	/* no is a refusal (null, which the API answers with "request denied"), not an empty list */
	assert_true(json_is_null(json_object_get(res, "accounts")));
	assert_non_null(strstr(drain(p->out[0]), "pkcs11:token=vault;object=eth0"));
	json_decref(res);
	json_decref(req);
}

static void
test_tx_render(void **state)
{
	struct pipes *p = *state;
	json_t *req = json_pack("{s:{s:i,s:s,s:s,s:n,s:s,s:I,s:I,s:I,s:s,s:s,s:s},s:[{s:s,s:s}],s:{s:s}}",
	    "decoded", "type", 2, "chainId", "1", "from", "0x8A8eAFb1cf62BfBeb1741769DAE1a9dd47996192",
	    "to", "value_eth", "1.5", "gas", (json_int_t)21000, "nonce", (json_int_t)7,
	    "data_bytes", (json_int_t)0, "maxFeePerGas_wei", "2000000000",
	    "maxPriorityFeePerGas_wei", "1000000000", "method", "transfer(address,uint256)",
	    "call_info", "type", "WARNING", "message", "Invalid checksum on recipient address",
	    "meta", "caller", "work");
	char *out;

	assert_int_equal(signer_ui_tty_render(p->out[1], "ui_approveTx", req), 0);
	out = drain(p->out[0]);
	assert_non_null(strstr(out, "(creates a contract)"));
	assert_non_null(strstr(out, "1.5 ETH"));
	assert_non_null(strstr(out, "transfer(address,uint256)"));
	assert_non_null(strstr(out, "WARNING: Invalid checksum"));
	json_decref(req);
}

/* ---- type-ahead, on a real pseudo-terminal ---- */

struct pty {
	int master, slave;
};

static void
pty_open(struct pty *t)
{
	t->master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(t->master >= 0);
	assert_int_equal(grantpt(t->master), 0);
	assert_int_equal(unlockpt(t->master), 0);
	t->slave = open(ptsname(t->master), O_RDWR | O_NOCTTY);
	assert_true(t->slave >= 0);
}

/* Keys typed on the terminal, and waited for until the reading side has them. */
static void
pty_type(struct pty *t, const char *keys)
{
	struct pollfd p = { .fd = t->slave, .events = POLLIN };

	assert_int_equal(write(t->master, keys, strlen(keys)), (ssize_t)strlen(keys));
	assert_int_equal(poll(&p, 1, 5000), 1);
}

static void
test_typeahead_is_discarded(void **state)
{
	struct pty t;
	struct signer_ui_tty *ui = NULL;
	json_t *req = sign_data_request("typed ahead"), *res = NULL;
	int out[2];

	(void)state;
	pty_open(&t);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(signer_ui_tty_open(t.slave, out[1], &ui), 0);
	/* "y" Enter while nothing is pending: it must not answer the next question. */
	pty_type(&t, "y\n");
	assert_int_equal(signer_ui_tty_ask(ui, "ui_approveSignData", req, 400, &res), ERR_TIMEOUT);
	assert_null(res);
	assert_non_null(strstr(drain(out[0]), "no answer: denied"));
	json_decref(req);
	signer_ui_tty_close(ui);
	close(out[0]);
	close(out[1]);
	close(t.slave);
	close(t.master);
}

struct asking {
	struct signer_ui_tty *ui;
	json_t *req, *res;
	int r;
};

static void *
ask_thread(void *arg)
{
	struct asking *a = arg;

	a->r = signer_ui_tty_ask(a->ui, "ui_approveListing", a->req, 1500, &a->res);
	return NULL;
}

/*
 * Keys that arrive while the request is being drawn: the output is a pipe of
 * one page, so the approver is held in the middle of drawing a long listing
 * while "y" Enter is typed; the question is asked again, and only a key
 * typed after it could answer (none is: no answer, denied).
 */
static void
test_keys_while_drawing_are_discarded(void **state)
{
	struct pty t;
	struct asking a = { NULL, NULL, NULL, -1 };
	pthread_t th;
	int out[2], cap, avail = 0, i;
	json_t *accounts = json_array();
	static char buf[65536];
	size_t got = 0;
	ssize_t n;
	long long waited;
	struct timespec ms10 = { 0, 10 * 1000 * 1000 };

	(void)state;
	pty_open(&t);
	assert_int_equal(pipe(out), 0);
	cap = fcntl(out[1], F_SETPIPE_SZ, 4096);
	assert_true(cap >= 4096);
	for (i = 0; i < 3 * cap / 80; i++)
		json_array_append_new(accounts, json_pack("{s:s,s:s}", "address",
		    "0x8A8eAFb1cf62BfBeb1741769DAE1a9dd47996192", "url",
		    "pkcs11:token=vault;object=eth0"));
	a.req = json_pack("{s:o,s:{s:s}}", "accounts", accounts, "meta", "caller", "uid:1000");
	assert_int_equal(signer_ui_tty_open(t.slave, out[1], &a.ui), 0);
	assert_int_equal(pthread_create(&th, NULL, ask_thread, &a), 0);
	/* Wait (at most 5 s) until the pipe is full: the approver is mid-drawing. */
	for (waited = 0; waited < 500; waited++) {
		assert_int_equal(ioctl(out[0], FIONREAD, &avail), 0);
		if (avail >= cap)
			break;
		nanosleep(&ms10, NULL);
	}
	assert_true(avail >= cap);
	pty_type(&t, "y\n");
	/* Let the drawing finish; read until the approver stops writing. */
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	for (waited = 0; waited < 500; waited++) {
		n = read(out[0], buf + got, sizeof(buf) - 1 - got);
		if (n > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "answer now)") != NULL && strstr(strstr(buf, "answer now)"),
			    "Approve?") != NULL)
				break;
		} else
			nanosleep(&ms10, NULL);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_non_null(strstr(buf, "keys typed before the question was shown were discarded"));
	assert_int_equal(a.r, ERR_TIMEOUT);
	assert_null(a.res);
	json_decref(a.req);
	signer_ui_tty_close(a.ui);
	close(out[0]);
	close(out[1]);
	close(t.slave);
	close(t.master);
}

/*
 * The decoded view (issue 13.5): a token transfer as the daemon decodes it
 * (eth_calldata_decode, the same call object the API sends) shows who gets
 * how much of which token, the fees in gwei, the most it can cost, the
 * chain's name; an unlimited approval and an ambiguous selector say so; "d"
 * shows the raw data and asks again.
 */
static json_t *
tx_request(const char *to_hex, const char *data_hex, const char *caller_sig)
{
	struct eth_calldata_db *db = NULL;
	struct eth_u256 chain;
	uint8_t to[20], *data;
	size_t n;
	json_t *call = NULL, *req;

	eth_u256_from_u64(&chain, 1);
	assert_int_equal(eth_addr_parse(to_hex, strlen(to_hex), to, NULL), 0);
	data = tvec_hex(data_hex, &n);
	assert_int_equal(eth_calldata_db_new(&db), 0);
	assert_int_equal(eth_calldata_decode(db, &chain, to, data, n, caller_sig, &call), 0);
	req = json_pack("{s:{s:s,s:s},s:{s:i,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,"
	    "s:s,s:o},s:[],s:{s:s}}",
	    "transaction", "to", to_hex, "input", data_hex,
	    "decoded", "type", 2, "chainId", "1", "chain_name", "Ethereum mainnet",
	    "from", "0x8A8eAFb1cf62BfBeb1741769DAE1a9dd47996192", "to", to_hex,
	    "value_eth", "0", "gas", (json_int_t)90000, "nonce", (json_int_t)9,
	    "data_bytes", (json_int_t)n, "maxFeePerGas_wei", "2000000000",
	    "maxFeePerGas_gwei", "2.0", "maxPriorityFeePerGas_wei", "1500000000",
	    "maxPriorityFeePerGas_gwei", "1.5", "max_cost_eth", "0.00018", "call", call,
	    "call_info", "meta", "caller", "work");
	eth_calldata_db_free(db);
	free(data);
	return req;
}

#define USDC "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
#define TRANSFER_250 "0xa9059cbb" \
	"000000000000000000000000d8da6bf26964af9d7eed9e03e53415d37aa96045" \
	"000000000000000000000000000000000000000000000000000000000ee6b280"
#define APPROVE_MAX "0x095ea7b3" \
	"000000000000000000000000d8da6bf26964af9d7eed9e03e53415d37aa96045" \
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void
test_tx_decoded_view(void **state)
{
	struct pipes *p = *state;
	json_t *req = tx_request(USDC, TRANSFER_250, NULL);
	char *out;

	assert_int_equal(signer_ui_tty_render(p->out[1], "ui_approveTx", req), 0);
	out = drain(p->out[0]);
	assert_non_null(strstr(out, "transfer 250.0 of token 0xA0b8\xe2\x80\xa6" "eB48 to "
	    "0xd8dA\xe2\x80\xa6" "6045\n"));
	assert_non_null(strstr(out, "calls transfer(address,uint256)\n"));
	assert_non_null(strstr(out, "to (address): 0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045\n"));
	assert_non_null(strstr(out, "amount (uint256): 250000000\n"));
	assert_non_null(strstr(out, "chain                  1 (Ethereum mainnet)\n"));
	assert_non_null(strstr(out, "max fee                2.0 gwei/gas, tip 1.5 gwei/gas\n"));
	assert_non_null(strstr(out, "costs at most          0.00018 ETH"));
	assert_non_null(strstr(out, "data                   68 bytes (answer d to see them)\n"));
	/* the raw data is not shown unless asked for */
	assert_null(strstr(out, "ee6b280"));
	assert_null(strstr(out, "UNLIMITED"));
	json_decref(req);

	req = tx_request(USDC, APPROVE_MAX, NULL);
	assert_int_equal(signer_ui_tty_render(p->out[1], "ui_approveTx", req), 0);
	out = drain(p->out[0]);
	assert_non_null(strstr(out, "approve 0xd8dA\xe2\x80\xa6" "6045 to spend an UNLIMITED amount"));
	assert_non_null(strstr(out, "!! UNLIMITED"));
	json_decref(req);

	/* transfer(address,uint256) and a signature the caller says has the same selector */
	req = tx_request(USDC, TRANSFER_250, "many_msg_babbage(bytes1)");
	assert_int_equal(signer_ui_tty_render(p->out[1], "ui_approveTx", req), 0);
	out = drain(p->out[0]);
	assert_non_null(strstr(out, "0xa9059cbb: AMBIGUOUS, not decoded"));
	assert_non_null(strstr(out, "many_msg_babbage(bytes1)"));
	assert_null(strstr(out, "250.0"));
	json_decref(req);
}

static void
test_tx_raw_data_on_request(void **state)
{
	struct pipes *p = *state;
	json_t *req = tx_request(USDC, TRANSFER_250, NULL), *res = NULL;
	char *out;

	assert_int_equal(write(p->in[1], "d\nn\n", 4), 4);
	assert_int_equal(signer_ui_tty_ask(p->t, "ui_approveTx", req, 5000, &res), 0);
	assert_true(json_is_false(json_object_get(res, "approved")));
	out = drain(p->out[0]);
	assert_non_null(strstr(out, "data:\n  0xa9059cbb\n"
	    "      0  000000000000000000000000d8da6bf26964af9d7eed9e03e53415d37aa96045\n"
	    "     32  000000000000000000000000000000000000000000000000000000000ee6b280\n"));
	/* asked again after the data */
	assert_non_null(strstr(strstr(out, "data:\n"), "Approve? [y/N]"));
	json_decref(res);
	json_decref(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_yes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_and_anything_else, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_render, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_decoded_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_raw_data_on_request, setup, teardown),
		cmocka_unit_test(test_typeahead_is_discarded),
		cmocka_unit_test(test_keys_while_drawing_are_discarded),
	};

	return cmocka_run_group_tests_name("ui-tty", tests, NULL, NULL);
}
