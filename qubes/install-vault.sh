#!/usr/bin/env bash
# install-vault.sh - install p11signer's Qubes files in the vault's template.
#
# Usage (as root, from a clone of the repository, in the TemplateVM the vault
# qube is based on, or in a StandaloneVM vault):
#   qubes/install-vault.sh [--socket | --exec] [--dry-run]
#   DESTDIR=/tmp/stage qubes/install-vault.sh ...   stage into a directory
#                                                   (packaging, tests): no
#                                                   account, no systemctl
#
#   --socket   (default) the qrexec socket service, socket-activated:
#              p11signer-qrexec.socket is enabled, so /run/p11signer/qrexec.sock
#              exists whenever the vault runs and the first call starts
#              p11signer.service, which takes that socket from systemd;
#              /etc/qubes-rpc/p11signer.Sign and /etc/qubes-rpc/qubes.Clefsign
#              become symlinks to it
#   --exec     the executable variant: those two entries become the script
#              qubes/rpc/p11signer.Sign.exec, which runs one
#              `p11signer serve --stdio` per call; the socket and the
#              service are disabled
#   --dry-run  print what would be done, do nothing
#
# It prints every step, and running it again changes nothing that is already
# in place.  It never overwrites /etc/p11signer/vault.json.  It refuses to run
# in dom0 (nothing of the signer belongs there except the policy file, which
# you copy yourself after reading it) and in an AppVM or DisposableVM, whose
# /etc and /usr are reset at every start: install in the template instead.
#
# The p11signer binaries must already be installed in the same system
# (`make install PREFIX=/usr` from the build; see docs/qubes.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
variant=socket
dry_run=0
DESTDIR=${DESTDIR:-}
SOCKET_PATH=/run/p11signer/qrexec.sock
SERVICES=(p11signer.Sign qubes.Clefsign)

usage() {
	sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
	printf 'install-vault.sh: %s\n' "$*" >&2
	exit 1
}

say() {
	printf '==> %s\n' "$*"
}

# Print a command, then run it unless --dry-run.
run() {
	printf '    %s\n' "$*"
	((dry_run)) || "$@"
}

is_dom0() {
	[[ -e /var/lib/qubes/qubes.xml ]] && return 0
	[[ -d /etc/qubes/policy.d && ! -e /usr/share/qubes/marker-vm ]] && return 0
	[[ -e /etc/qubes-release && ! -e /usr/share/qubes/marker-vm ]] && return 0
	[[ $(hostname 2>/dev/null || true) == dom0 ]] && return 0
	if command -v qubesdb-read >/dev/null 2>&1; then
		[[ $(qubesdb-read /name 2>/dev/null || true) == dom0 ]] && return 0
	fi
	return 1
}

while (($#)); do
	case $1 in
	--socket) variant=socket ;;
	--exec) variant='exec' ;;
	--dry-run) dry_run=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done

is_dom0 && die "this is dom0: refusing.  Run it in the vault's template; in dom0 only install qubes/policy.d/30-p11signer.policy, after reading it."

if [[ -z $DESTDIR ]]; then
	((EUID == 0)) || die "run as root (sudo), in the vault's template"
	[[ -e /usr/share/qubes/marker-vm ]] || command -v qubesdb-read >/dev/null 2>&1 ||
		die "this does not look like a Qubes qube (no /usr/share/qubes/marker-vm); use DESTDIR= to stage files elsewhere"
	vm_type=$(qubesdb-read /type 2>/dev/null || echo unknown)
	case $vm_type in
	TemplateVM | StandaloneVM) say "installing the $variant variant in this $vm_type" ;;
	AppVM | DispVM) die "this is an $vm_type: its /etc is reset at every start.  Run this in its template ($(qubesdb-read /name 2>/dev/null || echo this qube)'s template: see qvm-prefs in dom0)" ;;
	*) say "qube type unknown ($vm_type); installing the $variant variant anyway" ;;
	esac
else
	say "staging the $variant variant into DESTDIR=$DESTDIR (no account, no systemctl)"
fi

# The signer binary: the units name it by absolute path.
bin=${P11SIGNER_BIN:-}
if [[ -z $bin ]]; then
	bin=$(command -v p11signer 2>/dev/null || true)
	[[ -n $bin ]] || bin=/usr/bin/p11signer
fi
if [[ -z $DESTDIR && ! -x $bin ]]; then
	die "p11signer is not installed (looked for $bin): build it and run \`make install PREFIX=/usr\` first"
fi
say "signer binary: $bin"

etc=$DESTDIR/etc

# 1. The service account (group p11signer is what udev/60-p11signer.rules
#    gives the token devices).
say "service account p11signer"
if [[ -n $DESTDIR ]]; then
	printf '    (skipped under DESTDIR: create it with useradd --system --user-group p11signer)\n'
elif getent passwd p11signer >/dev/null; then
	printf '    already there\n'
elif getent group p11signer >/dev/null; then
	run useradd --system --gid p11signer --home-dir /var/lib/p11signer --no-create-home \
	    --shell /usr/sbin/nologin --comment "p11signer Ethereum signer" p11signer
else
	run useradd --system --user-group --home-dir /var/lib/p11signer --no-create-home \
	    --shell /usr/sbin/nologin --comment "p11signer Ethereum signer" p11signer
fi

# 2. systemd units, with the binary's real path.
say "systemd units in /etc/systemd/system"
run install -d -m 0755 "$etc/systemd/system"
for unit in p11signer.service p11signer-qrexec.socket; do
	if ((dry_run)); then
		printf '    install %s -> %s\n' "$here/systemd/$unit" "$etc/systemd/system/$unit"
	else
		tmp=$(mktemp)
		sed "s#^ExecStart=/usr/bin/p11signer #ExecStart=$bin #" "$here/systemd/$unit" >"$tmp"
		printf '    install -m 0644 %s %s\n' "$unit" "$etc/systemd/system/$unit"
		install -m 0644 "$tmp" "$etc/systemd/system/$unit"
		rm -f "$tmp"
	fi
done

# 3. qrexec service configuration.
say "qrexec rpc-config in /etc/qubes/rpc-config"
run install -d -m 0755 "$etc/qubes/rpc-config"
for svc in "${SERVICES[@]}"; do
	run install -m 0644 "$here/rpc-config/$svc" "$etc/qubes/rpc-config/$svc"
done

# 4. The service entries qrexec-agent looks up.
say "service entries in /etc/qubes-rpc ($variant variant)"
run install -d -m 0755 "$etc/qubes-rpc"
for svc in "${SERVICES[@]}"; do
	dst=$etc/qubes-rpc/$svc
	if [[ $variant == socket ]]; then
		if [[ -L $dst && $(readlink "$dst") == "$SOCKET_PATH" ]]; then
			printf '    %s -> %s already there\n' "$dst" "$SOCKET_PATH"
		else
			run ln -sfn "$SOCKET_PATH" "$dst"
		fi
	else
		[[ -L $dst ]] && run rm -f "$dst"
		run install -m 0755 "$here/rpc/p11signer.Sign.exec" "$dst"
	fi
done

# 5. The signer's configuration directory; the user's file is never touched.
say "configuration in /etc/p11signer"
run install -d -m 0755 "$etc/p11signer"
run install -m 0644 "$here/vault.json.example" "$etc/p11signer/vault.json.example"
if [[ -e $etc/p11signer/vault.json ]]; then
	printf '    %s exists: left as it is\n' "$etc/p11signer/vault.json"
else
	printf '    no %s yet: copy vault.json.example there and edit it (docs/qubes.md)\n' "$etc/p11signer/vault.json"
fi

# 6. pcscd's polkit rule, where pcscd asks polkit: a pcscd built with polkit
#    ships its actions; Debian 12's 1.9.9 does not use polkit (its socket is
#    open to every local user) and needs no rule.
pcsc_actions=/usr/share/polkit-1/actions/org.debian.pcsc-lite.policy
if [[ -e $DESTDIR$pcsc_actions || -e $pcsc_actions ]]; then
	say "polkit rule for pcscd in /etc/polkit-1/rules.d (pcscd here asks polkit)"
	run install -d -m 0755 "$etc/polkit-1/rules.d"
	run install -m 0644 "$here/polkit/60-p11signer-pcscd.rules" "$etc/polkit-1/rules.d/60-p11signer-pcscd.rules"
else
	say "no polkit rule for pcscd: this pcscd does not use polkit (no $pcsc_actions)"
fi

# 7. udev rules: installed by `make install`; only say when they are missing.
if [[ ! -e $DESTDIR/usr/lib/udev/rules.d/60-p11signer.rules && ! -e $DESTDIR/usr/local/lib/udev/rules.d/60-p11signer.rules &&
	! -e $etc/udev/rules.d/60-p11signer.rules ]]; then
	say "note: udev/60-p11signer.rules is not installed (make install PREFIX=/usr puts it in /usr/lib/udev/rules.d)"
fi

# 8. Enable the socket (or disable both units).  Enabling in the template is
#    harmless: the units start only where dom0 ran
#    `qvm-service --enable VAULT p11signer`.  The service itself is not
#    enabled: the socket starts it on the first call, and a signer started at
#    boot would only log in to the token before anyone asked.
if [[ -n $DESTDIR ]]; then
	say "systemctl skipped under DESTDIR"
else
	say "systemd"
	run systemctl daemon-reload
	if [[ $variant == socket ]]; then
		run systemctl disable p11signer.service
		run systemctl enable p11signer-qrexec.socket
	else
		run systemctl disable p11signer-qrexec.socket p11signer.service
	fi
fi

if [[ $variant == socket ]]; then
	cat <<'EOF'
==> done.  Next steps (docs/qubes.md):
    in this template:  create /etc/p11signer/vault.json (and the rules file it names),
                       then shut the template down
    in dom0:           qvm-service --enable vault p11signer
                       review, then install qubes/policy.d/30-p11signer.policy in /etc/qubes/policy.d/
                       qvm-shutdown --wait vault; qvm-start vault
EOF
else
	cat <<'EOF'
==> done.  Next steps (docs/qubes.md):
    in this template:  create /etc/p11signer/vault.json (and the rules file it names),
                       then shut the template down
    in dom0:           review qubes/policy.d/30-p11signer.policy, delete "user=root" from its
                       lines (the executable variant refuses to run as root), install it in
                       /etc/qubes/policy.d/; qvm-shutdown --wait vault; qvm-start vault
EOF
fi
