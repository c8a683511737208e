/** Shell shared by the families that rewrite listeners at container start. */

/** Sets `host` to this node's IP, bracketed when it is IPv6 (Kafka's `[addr]:port` form). */
export const HOST_FROM_NODE_IP = 'host="$MY_HOST_IP"\ncase "$host" in *:*) host="[$host]" ;; esac';

/** Marks injected shell so a later admission recognises its own work. */
export const INJECTED_MARKER = '# injected by kafka-nodeport-injector';
