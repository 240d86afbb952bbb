# shellcheck shell=bash
# tests/card/stack.sh - the real smartcard stack around an emulated card:
# pcscd (Debian's, in the foreground) with vpcd (Debian's vsmartcard-vpcd)
# as its only reader, and tests/card/gnuk_emu.py in vpcd's slot.  Sourced by
# tests/cards/*.test after tests/lib/tap.sh and tests/lib/netns.sh.
#
# Nothing here touches the machine's own pcscd: ours runs in a mount
# namespace where /run/pcscd is a directory of the test's (pcscd 1.9.9 has
# no option for its socket path; libpcsclite, in the process that loads
# OpenSC, follows PCSCLITE_CSOCK_NAME), with its own reader.conf.d (-c).
# vpcd listens on every address, so pcscd and the emulator run in a network
# namespace with only loopback (tests/lib/netns.sh).
#
#   cardstack_need             0 when everything is here; else CARDSTACK_MISSING
#                              names what is missing (Debian packages)
#   cardstack_start DIR [EMU_ARGS...]
#                              start the stack with its files in DIR, and wait
#                              until OpenSC sees the card; exports
#                              PCSCLITE_CSOCK_NAME, OPENSC_MODULE, CARD_PW1,
#                              CARD_PW3 (drawn at random for this run), sets
#                              CARDSTACK_NS; 0, or 1 with CARDSTACK_ERROR set.
#                              Stopped at exit by tap's cleanup.
#   cardstack_ctl CMD          pull | insert | status | quit, to the emulator;
#                              prints its answer
#   cardstack_new_card [EMU_ARGS...]
#                              another card (a new emulator, no key) in its place
#   cardstack_connected        0 when the card sits in the reader (vpcd has it)
#   cardstack_card_seen        0 when OpenSC lists the card's tokens

CARDSTACK_MISSING=
CARDSTACK_ERROR=
CARDSTACK_NS=
CARDSTACK_DIR=
CARDSTACK_VPCD=${CARDSTACK_VPCD:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}
CARDSTACK_PORT=35963	# vpcd's own default; free in a namespace of our own
OPENSC_MODULE=${OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
CARDSTACK_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

cardstack_need() {
	CARDSTACK_MISSING=
	command -v pcscd >/dev/null 2>&1 || [[ -x /usr/sbin/pcscd ]] ||
		CARDSTACK_MISSING+=" pcscd (Debian: pcscd)"
	[[ -r $CARDSTACK_VPCD ]] || CARDSTACK_MISSING+=" $CARDSTACK_VPCD (Debian: vsmartcard-vpcd)"
	[[ -r $OPENSC_MODULE ]] || CARDSTACK_MISSING+=" $OPENSC_MODULE (Debian: opensc-pkcs11)"
	command -v pkcs11-tool >/dev/null 2>&1 || CARDSTACK_MISSING+=" pkcs11-tool (Debian: opensc)"
	command -v unshare >/dev/null 2>&1 || CARDSTACK_MISSING+=" unshare (Debian: util-linux)"
	python3 -c 'from cryptography.hazmat.primitives.asymmetric import ec; ec.SECP256K1()' \
		>/dev/null 2>&1 || CARDSTACK_MISSING+=" python3 cryptography (Debian: python3-cryptography)"
	[[ $(id -u) == 0 ]] || CARDSTACK_MISSING+=" root (pcscd in namespaces of its own)"
	netns_can_create || CARDSTACK_MISSING+=" $NETNS_MISSING"
	CARDSTACK_MISSING=${CARDSTACK_MISSING# }
	[[ -z $CARDSTACK_MISSING ]]
}

cardstack_ctl() {
	python3 - "$CARDSTACK_DIR/emu.ctl" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(256).decode().strip())
PY
}

cardstack_connected() {
	[[ $(cardstack_ctl status 2>/dev/null) == connected* ]]
}

cardstack__pcscd_ready() {
	[[ -S $CARDSTACK_DIR/run/pcscd.comm ]]
}

cardstack__stop() {
	[[ -S $CARDSTACK_DIR/emu.ctl ]] && cardstack_ctl quit >/dev/null 2>&1
	[[ -n ${CARDSTACK_PCSCD_PID:-} ]] && kill "$CARDSTACK_PCSCD_PID" 2>/dev/null
	return 0
}

cardstack_start() {
	local dir=$1
	shift
	CARDSTACK_ERROR=
	CARDSTACK_DIR=$dir
	mkdir -p "$dir/run" "$dir/reader.conf.d" || { CARDSTACK_ERROR="mkdir $dir"; return 1; }
	# Digits only, so that every PIN pad and tool takes them; fresh each run.
	CARD_PW1=$(od -An -N4 -tu4 /dev/urandom | tr -dc 0-9 | cut -c1-6)
	CARD_PW3=$(od -An -N8 -tu8 /dev/urandom | tr -dc 0-9 | cut -c1-8)
	while ((${#CARD_PW1} < 6)); do CARD_PW1+=7; done
	while ((${#CARD_PW3} < 8)); do CARD_PW3+=3; done
	export CARD_PW1 CARD_PW3
	netns_create CARDSTACK_NS card || { CARDSTACK_ERROR="netns: $NETNS_ERROR"; return 1; }
	cat >"$dir/reader.conf.d/vpcd" <<EOF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:$CARDSTACK_PORT
LIBPATH      $CARDSTACK_VPCD
CHANNELID    $CARDSTACK_PORT
EOF
	# The mount point must exist on the host for the bind mount; a
	# system pcscd's directory is left as it is (we only mount over it
	# in our own mount namespace).
	mkdir -p /run/pcscd
	tap_cleanup cardstack__stop
	netns_exec "$CARDSTACK_NS" unshare -m --propagation private sh -c \
		'mount --bind "$1" /run/pcscd && exec pcscd --foreground --apdu --debug -c "$2"' \
		sh "$dir/run" "$dir/reader.conf.d" >"$dir/pcscd.log" 2>&1 &
	CARDSTACK_PCSCD_PID=$!
	if ! tap_wait_until 20 cardstack__pcscd_ready; then
		CARDSTACK_ERROR="pcscd did not create its socket: $(tail -5 "$dir/pcscd.log")"
		return 1
	fi
	export PCSCLITE_CSOCK_NAME=$dir/run/pcscd.comm
	cardstack__start_emu "$@"
}

# OpenSC sees the card: pcscd polls its readers, so the card shows a moment
# after the emulator reached vpcd.
cardstack_card_seen() {
	timeout 20 pkcs11-tool --module "$OPENSC_MODULE" --list-token-slots 2>/dev/null |
		grep -q 'token label *: OpenPGP card'
}

cardstack__start_emu() {
	GNUK_EMU_PW1=$CARD_PW1 GNUK_EMU_PW3=$CARD_PW3 netns_exec "$CARDSTACK_NS" \
		python3 "$CARDSTACK_LIB_DIR/gnuk_emu.py" --vpcd-port "$CARDSTACK_PORT" \
		--ctl "$CARDSTACK_DIR/emu.ctl" --lifetime "${P11S_TEST_TIMEOUT:-900}" "$@" \
		2>>"$CARDSTACK_DIR/emu.log" &
	if ! tap_wait_until 20 cardstack_connected; then
		CARDSTACK_ERROR="the emulator did not reach vpcd: $(tail -5 "$CARDSTACK_DIR/emu.log")"
		return 1
	fi
	if ! tap_wait_until 30 cardstack_card_seen; then
		CARDSTACK_ERROR="OpenSC does not see the card: $(tail -5 "$CARDSTACK_DIR/pcscd.log")"
		return 1
	fi
}

cardstack__emu_gone() {
	! cardstack_ctl status >/dev/null 2>&1
}

# A new card in the reader: the emulator quits (the card goes, with its
# keys) and one with EMU_ARGS takes its place; 0, or 1 with CARDSTACK_ERROR.
cardstack_new_card() {
	cardstack_ctl quit >/dev/null 2>&1
	if ! tap_wait_until 10 cardstack__emu_gone; then
		CARDSTACK_ERROR="the emulator did not quit"
		return 1
	fi
	rm -f "$CARDSTACK_DIR/emu.ctl"
	cardstack__start_emu "$@"
}
