# shellcheck shell=bash
# tests/lib/softhsm.sh - SoftHSM2 tokens in a temporary directory, for tests.
# Sourced by tests/*/*.test (after tests/lib/tap.sh, whose tap_cleanup it
# uses when present).
#
# Every token lives under its own mktemp -d with its own SOFTHSM2_CONF, so a
# test never sees the machine's tokens nor leaves any behind.  PINs are
# drawn from /dev/urandom for each run: none is written in the repository.
# pkcs11-tool reads the PIN from the environment (--pin env:P11_USER_PIN);
# softhsm2-util has no such option and sees both PINs on its command line
# for the moment it runs, which is acceptable for throwaway test tokens.
#
#   softhsm_need                 0 when SoftHSM2 and pkcs11-tool are here;
#                                else SOFTHSM_MISSING names what is missing
#   softhsm_setup                make the directory and configuration; exports
#                                SOFTHSM2_CONF, P11_SOFTHSM_DIR, P11_MODULE,
#                                P11_USER_PIN, P11_SO_PIN; removed at exit
#   softhsm_token LABEL          initialise a token; exports P11_TOKEN_LABEL
#   softhsm_keygen TOKEN KEY [ID]   secp256k1 key pair on the token (ID in
#                                hex, default a new one each call); the
#                                private key is sensitive, never extractable
#   softhsm_ec_point TOKEN KEY   the public key's CKA_EC_POINT, hex, as
#                                SoftHSM2 stores it (DER: 0441 04 X Y)
#   softhsm_address TOKEN KEY    its Ethereum address, 0x + 40 lower-case hex
#   softhsm_p11tool TOKEN ARGS...  pkcs11-tool on that token, logged in
#   softhsm_teardown             remove everything (also run at exit)

P11_SOFTHSM_MODULE=${P11_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
TESTS_LIB_DIR=${TESTS_LIB_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
SOFTHSM_MISSING=
_softhsm_next_id=1

softhsm_need() {
	SOFTHSM_MISSING=
	command -v softhsm2-util >/dev/null 2>&1 || SOFTHSM_MISSING+=" softhsm2-util (Debian: softhsm2)"
	command -v pkcs11-tool >/dev/null 2>&1 || SOFTHSM_MISSING+=" pkcs11-tool (Debian: opensc)"
	[[ -r $P11_SOFTHSM_MODULE ]] || SOFTHSM_MISSING+=" $P11_SOFTHSM_MODULE (Debian: libsofthsm2)"
	command -v python3 >/dev/null 2>&1 || SOFTHSM_MISSING+=" python3"
	SOFTHSM_MISSING=${SOFTHSM_MISSING# }
	[[ -z $SOFTHSM_MISSING ]]
}

# A random decimal PIN of $1 digits.
_softhsm_pin() {
	local pin=
	while ((${#pin} < $1)); do
		pin+=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')
	done
	printf '%s' "${pin:0:$1}"
}

softhsm_setup() {
	P11_SOFTHSM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p11s-softhsm.XXXXXXXX") || return 1
	chmod 700 "$P11_SOFTHSM_DIR"
	mkdir "$P11_SOFTHSM_DIR/tokens"
	cat >"$P11_SOFTHSM_DIR/softhsm2.conf" <<-EOF
		# SoftHSM2 configuration of one test run (tests/lib/softhsm.sh)
		directories.tokendir = $P11_SOFTHSM_DIR/tokens
		objectstore.backend = file
		log.level = ERROR
		slots.removable = false
	EOF
	export SOFTHSM2_CONF=$P11_SOFTHSM_DIR/softhsm2.conf
	export P11_SOFTHSM_DIR
	export P11_MODULE=$P11_SOFTHSM_MODULE
	P11_USER_PIN=$(_softhsm_pin 8)
	P11_SO_PIN=$(_softhsm_pin 10)
	export P11_USER_PIN P11_SO_PIN
	if declare -F tap_cleanup >/dev/null; then
		tap_cleanup softhsm_teardown
	fi
}

softhsm_token() {
	softhsm2-util --init-token --free --label "$1" \
		--pin "$P11_USER_PIN" --so-pin "$P11_SO_PIN" >/dev/null || return 1
	export P11_TOKEN_LABEL=$1
}

softhsm_p11tool() {
	local token=$1
	shift
	pkcs11-tool --module "$P11_SOFTHSM_MODULE" --token-label "$token" \
		--login --pin env:P11_USER_PIN "$@"
}

softhsm_keygen() {
	local token=$1 label=$2 id=${3:-}
	if [[ -z $id ]]; then
		id=$(printf '%02x' "$_softhsm_next_id")
		_softhsm_next_id=$((_softhsm_next_id + 1))
	fi
	local out
	out=$(softhsm_p11tool "$token" --keypairgen --key-type EC:secp256k1 \
		--label "$label" --id "$id" 2>&1) || {
		printf 'softhsm_keygen %s %s: %s\n' "$token" "$label" "$out" >&2
		return 1
	}
}

# pkcs11-tool -O ignores --label, so pick the public key block by its label.
softhsm_ec_point() {
	pkcs11-tool --module "$P11_SOFTHSM_MODULE" --token-label "$1" -O --type pubkey 2>/dev/null |
		awk -v want="$2" '
			/^Public Key Object/ { point = "" }
			$1 == "EC_POINT:" { point = $2 }
			$1 == "label:" { sub(/^[ \t]*label:[ \t]*/, ""); if ($0 == want && point != "") { print point; exit } }'
}

softhsm_address() {
	local point
	point=$(softhsm_ec_point "$1" "$2")
	[[ -n $point ]] || return 1
	python3 "$TESTS_LIB_DIR/ethcheck.py" address "$point"
}

softhsm_teardown() {
	if [[ -n ${P11_SOFTHSM_DIR:-} && -d $P11_SOFTHSM_DIR ]]; then
		rm -rf -- "$P11_SOFTHSM_DIR"
	fi
	unset P11_SOFTHSM_DIR P11_USER_PIN P11_SO_PIN
}
