#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H8
# The texts fetched from the image server under libFuzzer: manifest
# (signed or not), seed map, boot profile, base64 and hex.  The checked-in
# corpus once, then a short run (make fuzz runs long).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fuzz-functions.sh"
fuzz_regress manifest
