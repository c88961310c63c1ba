#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H8
# The cache-file decoders (native header slots, the pick of two copies,
# the v2 bitmap sectors, the 2007 record, bitmap loading) under libFuzzer:
# the checked-in corpus once, then a short run (make fuzz runs long).  No
# crash, no sanitizer report, no broken contract (the harness aborts).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuzz-functions.sh"
fuzz_regress cache-header
