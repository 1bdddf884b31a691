#!/bin/sh
# /sbin/init of a ramsesbuild Linux 2.4 node root (klibc; docs/node-roots.md). It mounts this
# node's own directory at /ramses/node, where the shared root's per-node paths point, then runs
# the diskless rc. The node's name is the host name the kernel got from DHCP (ip=).
# ramses-nfsmount is ramsesbuild's own (nfsmount24.c): klibc's nfsmount calls socket(2), which
# Linux 2.4 does not have (only socketcall(2)).
PATH=/bin:/sbin
export PATH
mount -t proc proc /proc
. /etc/ramses/cluster
name=$(uname -n)
own="$server:$nodes/$name"
if [ -z "$name" ] || [ "$name" = "(none)" ]; then
    echo "ramses-init: the kernel has no host name (DHCP option 12 / ip=): cannot find this node's directory"
elif ramses-nfsmount "$own" /ramses/node "$transport"; then
    exec /bin/sh /etc/rc
else
    echo "ramses-init: cannot mount $own (is $name in nodes.toml, and its directory exported to this address?)"
fi
echo "ramses-init: a shell on the console; the node's per-node files are missing"
exec /bin/sh
