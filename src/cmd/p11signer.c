/*
 * p11signer - the signer daemon and its commands.  See docs/p11signer.1.
 *
 *   p11signer serve [options]     Clef's external API on the token layer
 *   p11signer list [options]      modules, tokens, keys and addresses
 *   p11signer keygen options      a new secp256k1 key on a token
 *   p11signer doctor [--module M] what is wrong with the token set-up, and the fix
 *   p11signer audit verify FILE   check the audit log's hash chain
 *   p11signer version
 *
 * PKCS#11 code is loaded only by p11signer-token, which this program starts
 * (one per --module) and speaks to over a socketpair (docs/token-protocol.md).
 *
 * Here is main(); beside it: options.c (--help, argv, --config), serve.c,
 * token_cmds.c (list, keygen, login), doctor.c, tls_init.c, audit_verify.c,
 * and token_clients.c (the token helpers a command starts).  PIN prompts are
 * src/signer/ui_pin.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "signer/api.h"
#include "signer/harden.h"
#include "cmd/p11signer-int.h"

int
main(int argc, char **argv)
{
	log_init("p11signer");
	/* First: PINs may pass through this process (see signer/harden.h). */
	if (signer_harden_process(argc, argv) != 0)
		log_die("cannot disable core dumps or move token URIs out of argv: %s",
		    strerror(errno));
	if (argc < 2) {
		log_msg("no command given");
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "login") == 0)
		return cmd_login(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return cmd_audit(argc - 1, argv + 1);
	if (strcmp(argv[1], "doctor") == 0)
		return cmd_doctor(argc - 1, argv + 1);
	if (strcmp(argv[1], "tls") == 0)
		return cmd_tls(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("p11signer %s (Clef external API %s)\n", P11S_VERSION, SIGNER_API_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	log_msg("unknown command \"%.64s\"", argv[1]);
	usage(stderr);
	return 2;
}
