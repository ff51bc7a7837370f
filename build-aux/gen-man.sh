#!/bin/sh
# Writes pipetune(1): TEMPLATE with @VERSION@ replaced and the @COMMANDS@
# line replaced by one subsection per command, each holding that command's
# own --help (pipetune help --man-sections) as literal text.
# Usage: gen-man.sh PIPETUNE TEMPLATE VERSION
set -e
bin=${1:?usage: gen-man.sh PIPETUNE TEMPLATE VERSION}
tmpl=${2:?usage: gen-man.sh PIPETUNE TEMPLATE VERSION}
version=${3:?usage: gen-man.sh PIPETUNE TEMPLATE VERSION}
sections=$(mktemp)
trap 'rm -f "$sections"' EXIT
"$bin" help --man-sections | awk '
  /^@@cmd / { split(substr($0, 7), f, "\t");
              printf ".SS \"pipetune %s\"\n%s.\n.PP\n.nf\n", f[1], f[2]; next }
  /^@@end$/ { print ".fi"; next }
  { gsub(/\\/, "\\e"); if ($0 ~ /^[.\047]/) $0 = "\\&" $0; print }' > "$sections"
awk -v v="$version" -v s="$sections" '
  /^@COMMANDS@$/ { while ((getline l < s) > 0) print l; next }
  { gsub(/@VERSION@/, v); print }' "$tmpl"
