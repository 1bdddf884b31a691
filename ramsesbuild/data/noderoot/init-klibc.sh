#!/bin/sh
# /sbin/init of a ramsesbuild Linux 2.4 node root (klibc; docs/node-roots.md). It mounts this
# node's own directory at /ramses/node, where the shared root's per-node paths point, then runs
# the diskless rc. The node's name is the host name the kernel got from DHCP (ip=).
PATH=/bin
export PATH
mount -t proc proc /proc
. /etc/ramses/cluster
read name < /proc/sys/kernel/hostname
own="$server:$nodes/$name"
if [ -z "$name" ] || [ "$name" = "(none)" ]; then
    echo "ramses-init: the kernel has no host name (DHCP option 12 / ip=): cannot find this node's directory"
elif nfsmount -o "$klibc_nfs_options" "$own" /ramses/node; then
    exec /bin/sh /etc/rc
else
    echo "ramses-init: cannot mount $own (is $name in nodes.toml, and its layer exported to this address?)"
fi
echo "ramses-init: a shell on the console; the node's per-node files are missing"
exec /bin/sh
