#!/bin/sh
# /sbin/init of a ramsesbuild node root (docs/node-roots.md); the distribution's init is
# /sbin/init.distrib (dpkg-divert). It mounts this node's own directory at /ramses/node, where
# the shared root's per-node paths point (/etc/hostname, /etc/hosts, /var/log, ...), then
# becomes the real init. The node's name is the host name the kernel got from DHCP (ip=).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
[ "$$" = 1 ] || exec /sbin/telinit "$@"
mount -t proc proc /proc 2>/dev/null
. /etc/ramses/cluster
read -r name < /proc/sys/kernel/hostname
own="$server:$nodes/$name"
if [ -z "$name" ] || [ "$name" = "(none)" ]; then
    echo "ramses-init: the kernel has no host name (DHCP option 12 / ip=): cannot find this node's directory"
# the kernel's own NFS mount (-i: no mount.nfs helper, no user-space RPC before init runs)
elif mount -i -t nfs -o "rw,$nfs_options,addr=$server" "$own" /ramses/node; then
    exec /sbin/init.distrib "$@"
else
    echo "ramses-init: cannot mount $own (is $name in nodes.toml, and its layer exported to this address?)"
fi
echo "ramses-init: a shell on the console; the node's per-node files are missing"
exec /bin/sh
