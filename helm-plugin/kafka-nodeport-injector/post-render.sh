#!/bin/sh
# The rendered release on stdin, mutated on stdout: `kafka-nodeport-injector mutate`, with the
# --post-renderer-args as its flags. Helm 4 shows none of a plugin's stderr, so the outcome,
# warnings and errors also go to a report file (default below; KAFKA_NODEPORT_INJECTOR_REPORT
# overrides it), which Helm's "plugin … exited with error" sends you to.
set -eu
here=$(dirname "$(readlink -f "$0")")
cli=${KAFKA_NODEPORT_INJECTOR:-$here/../../bin/kafka-nodeport-injector}
[ -x "$cli" ] || cli=kafka-nodeport-injector
report=${KAFKA_NODEPORT_INJECTOR_REPORT:-${TMPDIR:-/tmp}/kafka-nodeport-injector-post-render.log}
exec "$cli" mutate --report "$report" "$@"
