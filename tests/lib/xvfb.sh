# shellcheck shell=bash
# tests/lib/xvfb.sh - an X server of the test's own (Xvfb) for the GUI tests.
#
#   xvfb_need                 0 when Xvfb, xdotool and import (ImageMagick)
#                             exist; else XVFB_MISSING names what is missing
#   xvfb_start DIR            start Xvfb on a free display (it picks one and
#                             says which: -displayfd), export DISPLAY and the
#                             GTK settings that render there; stopped on exit
#   xvfb_window NAME          the id of the first window whose title contains NAME
#   xvfb_shot WID FILE        a PNG of that window
#   xvfb_click_from_br WID DX DY   click DX, DY pixels left of and above the
#                             window's bottom-right corner (there is no window
#                             manager: the window's place is where GTK put it)
XVFB_MISSING=

xvfb_need() {
	XVFB_MISSING=
	command -v Xvfb >/dev/null 2>&1 || XVFB_MISSING+=" Xvfb (Debian: xvfb)"
	command -v xdotool >/dev/null 2>&1 || XVFB_MISSING+=" xdotool (Debian: xdotool)"
	command -v import >/dev/null 2>&1 || XVFB_MISSING+=" import (Debian: imagemagick)"
	XVFB_MISSING=${XVFB_MISSING# }
	[[ -z $XVFB_MISSING ]]
}

xvfb_start() {
	local dir=$1 n
	rm -f "$dir/xvfb.display"
	Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$dir/xvfb.display" 2>"$dir/xvfb.log" &
	XVFB_PID=$!
	tap_cleanup kill "$XVFB_PID"
	_xvfb_has_display() { [[ -s $dir/xvfb.display ]]; }
	tap_wait_until 20 _xvfb_has_display || return 1
	n=$(tr -dc 0-9 <"$dir/xvfb.display")
	export DISPLAY=:$n
	# GTK 4 renders under Xvfb with these (no GL there).
	export GDK_BACKEND=x11 GSK_RENDERER=cairo GTK_A11Y=none NO_AT_BRIDGE=1
	unset WAYLAND_DISPLAY
}

xvfb_window() {
	xdotool search --onlyvisible --name "$1" 2>/dev/null | head -1
}

xvfb_shot() {
	import -window "$1" "$2" 2>/dev/null
}

xvfb_click_from_br() {
	local WINDOW X Y WIDTH HEIGHT SCREEN
	eval "$(xdotool getwindowgeometry --shell "$1")"
	xdotool mousemove --sync $((X + WIDTH - $2)) $((Y + HEIGHT - $3)) click 1
}
