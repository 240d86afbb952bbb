/*
 * tls_init.c - p11signer tls init DIR NAME: a server or client certificate
 * and key for --http's mutual TLS (docs/tls.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "rpc/tls.h"
#include "cmd/p11signer-int.h"

int
cmd_tls(int argc, char **argv)
{
	char fp[RPC_TLS_FP_SIZE];
	int r;

	if (argc != 4 || strcmp(argv[1], "init") != 0) {
		fputs(rpc_tls_init_usage, stderr);
		return 2;
	}
	if ((r = rpc_tls_init(argv[2], argv[3], fp)) != 0) {
		if (r == ERR_IO)
			log_die("tls init %s %s: %s", argv[2], argv[3], strerror(errno));
		log_die("tls init: %s", err_str(r));
	}
	printf("%s\n", fp);
	return 0;
}
