#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C1 C4
# kill -9 at each write step of a COW flush (failpoints of the test build:
# data synced, first bitmap page written, bitmap synced) and while a new
# COW file is laid out.  After each kill the COW opens and every write
# acknowledged before it reads back, the unflushed ones too (their bits
# come back from the mirror in /run).  The control removes the mirror,
# as a reboot would: then every 512-byte sector must still read either as
# before the interrupted flush or as written after it (never a bit set
# over data that is not there), and some writes are lost.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
[ -x "$ULOOP_FP" ] || { echo "requires the failpoint build ($ULOOP_FP)"; exit 77; }

W="python3 $(dirname "$0")/cow-writes.py"
size=$((4 * 1024 * 1024))
make_image "$T/img" $size

# sectors OLD NEW GOT: every 512-byte sector of GOT is OLD's or NEW's;
# prints how many are NEW's where the two differ.
sectors() {
	python3 - "$@" <<'EOF'
import sys
old, new, got = (open(p, "rb").read() for p in sys.argv[1:4])
assert len(old) == len(new) == len(got), "sizes differ"
newer = 0
for i in range(0, len(got), 512):
    o, n, g = old[i:i + 512], new[i:i + 512], got[i:i + 512]
    if g != o and g != n:
        sys.exit("sector %d (offset %d) is neither before nor after the flush" % (i // 512, i))
    if o != n and g == n:
        newer += 1
print(newer)
EOF
}

# Wait for a killed daemon's FUSE file to be let go.
release() {
	umount -l "$1" 2>/dev/null || true
	i=0
	while grep -q " $1 fuse" /proc/self/mounts && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	rm -f "/run/uloop/$(echo "$1" | tr / %).json"
}

for fp in cow-data-synced cow-bits-written cow-bits-synced; do
	rm -f "$T/c.cow"
	cp "$T/img" "$T/m1"
	# Flush 1 completes; flush 2 is killed at $fp.
	ULOOP_FAILPOINT=$fp:2 $ULOOP_FP attach "$T/img" --transport fuse \
		--device "$T/dev" --cow "$T/c.cow" >/dev/null
	on_exit "$ULOOP detach $T/dev 2>/dev/null || true; umount -l $T/dev 2>/dev/null || true"
	$W 1 120 "$T/dev" "$T/m1"
	cp "$T/m1" "$T/m2"
	$W 2 120 "$T/dev" "$T/m2" 2>/dev/null && fail "$fp: the flush was not killed"
	release "$T/dev"
	$ULOOP attach "$T/img" --transport fuse --device "$T/dev" --cow "$T/c.cow" >/dev/null ||
		fail "$fp: the COW does not open after the kill"
	cp "$T/dev" "$T/got"
	$ULOOP detach "$T/dev"
	newer=$(sectors "$T/m1" "$T/m2" "$T/got") || fail "$fp: $newer"
	# A kill is not a power cut: every acknowledged write is kept, the
	# unflushed ones by the bits' mirror in /run (src/cow_pending.h).
	cmp "$T/got" "$T/m2" || fail "$fp: the kill lost acknowledged writes"
	echo "$fp: consistent; all $newer sectors of the interrupted flush's writes kept"
done

# The control: the same kill with the mirror removed before the restart
# (what a reboot does): a power cut's promise only, some writes lost.
rm -f "$T/c.cow"
cp "$T/img" "$T/m1"
ULOOP_FAILPOINT=cow-data-synced:2 $ULOOP_FP attach "$T/img" --transport fuse \
	--device "$T/dev" --cow "$T/c.cow" >/dev/null
$W 1 120 "$T/dev" "$T/m1"
cp "$T/m1" "$T/m2"
$W 2 120 "$T/dev" "$T/m2" 2>/dev/null && fail "control: the flush was not killed"
release "$T/dev"
mirror=/run/uloop/cow-$(printf %x "$(stat -c %d "$T/c.cow")")-$(printf %x "$(stat -c %i "$T/c.cow")").bits
[ -f "$mirror" ] || fail "control: no mirror $mirror"
rm -f "$mirror"
$ULOOP attach "$T/img" --transport fuse --device "$T/dev" --cow "$T/c.cow" >/dev/null
cp "$T/dev" "$T/got"
$ULOOP detach "$T/dev"
newer=$(sectors "$T/m1" "$T/m2" "$T/got") || fail "control: $newer"
cmp -s "$T/got" "$T/m2" && fail "control: without the mirror nothing was lost: this test cannot tell"
echo "control: without the mirror $newer sectors of the interrupted flush's writes kept, the rest lost"

# Killed while a new COW file was laid out: no file with a header and a
# bitmap of garbage; the next attach makes it anew.
rm -f "$T/c.cow"
ULOOP_FAILPOINT=cow-created-bitmap $ULOOP_FP attach "$T/img" --transport fuse \
	--device "$T/dev" --cow "$T/c.cow" >/dev/null 2>&1 && fail "creation not killed"
release "$T/dev"
[ ! -e "$T/c.cow" ] || fail "a half-made COW file under its name"
cp "$T/img" "$T/m1"
$ULOOP attach "$T/img" --transport fuse --device "$T/dev" --cow "$T/c.cow" >/dev/null
$W 3 50 "$T/dev" "$T/m1"
$ULOOP detach "$T/dev"
$ULOOP merge "$T/c.cow" --output "$T/flat"
cmp "$T/flat" "$T/m1" || fail "the COW made after the killed creation"
echo "cow kill -9: all steps consistent"
