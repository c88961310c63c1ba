#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I1
# What uloop makes of the values the boot passes from rd.uloop.* to
# uloop attach (--hydrate=RATE[,jitter=S], sizes) under libFuzzer: exactly
# the documented grammar, the right value, and nothing the boot library's
# check passes is refused by uloop.  The checked-in corpus once, then a
# short run (make fuzz runs long).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuzz-functions.sh"
fuzz_regress options
