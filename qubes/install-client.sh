#!/usr/bin/env bash
# install-client.sh - install p11signer-relay as a systemd user service in the
# networked ("client") qube, where geth or the dapps run.
#
# Usage (as the qube's normal user, not root, from a clone of the repository):
#   qubes/install-client.sh [--vault QUBE] [--profile NAME] [--no-start] [--dry-run]
#       [--unit-dir DIR]
#
#   --vault QUBE    the vault qube, or @default to let dom0's policy choose
#                   (default: vault)
#   --profile NAME  the signer profile, the qrexec service argument (default:
#                   default)
#   --no-start      install and enable, but do not start now
#   --unit-dir DIR  where user units go (default ~/.config/systemd/user)
#   --dry-run       print what would be done, do nothing
#
# What it does, each step printed: copies qubes/client/p11signer-relay.service
# to the unit directory, writes the drop-in p11signer-relay.service.d/
# 10-install.conf with the vault and profile (and the relay's path when it is
# not /usr/bin/p11signer-relay), reloads the user manager, enables the unit
# and starts it.  Running it again rewrites the same two files and changes
# nothing else.  The home directory persists in an AppVM, so this is done
# once per client qube; the relay binary itself belongs in the template.
#
# It refuses to run in dom0 and as root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vault=vault
profile=default
start=1
dry_run=0
unit_dir=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user

usage() {
	sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
	printf 'install-client.sh: %s\n' "$*" >&2
	exit 1
}

say() {
	printf '==> %s\n' "$*"
}

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
	--vault) [[ $# -ge 2 ]] || die "--vault wants a qube name"; vault=$2; shift ;;
	--profile) [[ $# -ge 2 ]] || die "--profile wants a name"; profile=$2; shift ;;
	--unit-dir) [[ $# -ge 2 ]] || die "--unit-dir wants a directory"; unit_dir=$2; shift ;;
	--no-start) start=0 ;;
	--dry-run) dry_run=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done

is_dom0 && die "this is dom0: refusing.  Run it in the qube where geth or the dapps run."
((EUID != 0)) || die "run as the qube's user, not root: the relay is a user service"

# Same rules as the relay and the vault apply; checked here so a typo fails now.
[[ $vault == @default || $vault =~ ^[A-Za-z][A-Za-z0-9_.-]{0,30}$ ]] ||
	die "--vault: not a qube name: $vault"
[[ $profile =~ ^[A-Za-z0-9_-]{1,31}$ ]] || die "--profile: want 1 to 31 of A-Z a-z 0-9 _ -: $profile"

command -v qrexec-client-vm >/dev/null 2>&1 ||
	say "warning: no qrexec-client-vm here: this is not a Qubes qube, and the unit will not start (ConditionPathExists)"
relay=$(command -v p11signer-relay 2>/dev/null || true)
if [[ -z $relay ]]; then
	say "warning: p11signer-relay is not installed: install it in this qube's template, then run: systemctl --user restart p11signer-relay"
	relay=/usr/bin/p11signer-relay
fi
if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Hltn 'sport = :8550' 2>/dev/null || true) ]]; then
	say "warning: something already listens on port 8550 here (qvm-connect-tcp? an old relay?); the relay will fail to start until it is gone"
fi

say "user unit in $unit_dir"
run install -d -m 0755 "$unit_dir" "$unit_dir/p11signer-relay.service.d"
run install -m 0644 "$here/client/p11signer-relay.service" "$unit_dir/p11signer-relay.service"

say "drop-in $unit_dir/p11signer-relay.service.d/10-install.conf: vault $vault, profile $profile, relay $relay"
dropin=$(
	printf '# Written by qubes/install-client.sh; run it again to change these.\n'
	printf '[Service]\n'
	printf 'Environment=P11SIGNER_VAULT=%s P11SIGNER_PROFILE=%s\n' "$vault" "$profile"
	if [[ $relay != /usr/bin/p11signer-relay ]]; then
		printf 'ExecStart=\n'
		sed -n "s#^ExecStart=/usr/bin/p11signer-relay #ExecStart=$relay #p" "$here/client/p11signer-relay.service"
	fi
)
if ((dry_run)); then
	printf '%s\n' "$dropin" | sed 's/^/    | /'
else
	printf '%s\n' "$dropin" >"$unit_dir/p11signer-relay.service.d/10-install.conf"
fi

if command -v systemctl >/dev/null 2>&1 && [[ $unit_dir == "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user" ]]; then
	say "systemd user manager"
	run systemctl --user daemon-reload
	if ((start)); then
		run systemctl --user enable --now p11signer-relay.service
	else
		run systemctl --user enable p11signer-relay.service
	fi
else
	say "not telling systemd (no systemctl, or --unit-dir is not the user unit directory)"
fi

cat <<'EOF'
==> done.  Check it (dom0 will ask whether this qube may call the vault):
    curl -s -H 'Content-Type: application/json' \
        --data '{"jsonrpc":"2.0","id":1,"method":"account_list","params":[]}' http://127.0.0.1:8550/
    journalctl --user -u p11signer-relay
Then point geth at it: geth --signer http://127.0.0.1:8550
EOF
