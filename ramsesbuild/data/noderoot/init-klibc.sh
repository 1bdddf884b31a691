#!/bin/sh
# /sbin/init of a ramsesbuild Linux 2.4 node root (klibc; docs/node-roots.md). It mounts this
# node's own directory at /ramses/node, where the shared root's per-node paths point, then runs
# the diskless rc. The node's name is the host name the kernel got from DHCP (ip=).
PATH=/bin
export PATH
mount -t proc proc /proc
. /etc/ramses/cluster
name=$(uname -n)
own="$server:$nodes/$name"
if [ -z "$name" ] || [ "$name" = "(none)" ]; then
    echo "ramses-init: the kernel has no host name (DHCP option 12 / ip=): cannot find this node's directory"
elif nfsmount -o "$klibc_nfs_options" "$own" /ramses/node; then
    exec /bin/sh /etc/rc
fi
# klibc's nfsmount needs socket(2), which Linux 2.4 does not have (only socketcall(2)): the
# node's files then live in RAM, made from what every node shares (/etc/ramses/hosts) and
# what the kernel knows (its name and address from DHCP); what it writes is lost at reboot.
echo "ramses-init: $own not mounted: the node's own files are in RAM (ramfs) this time"
mount -t ramfs ramses /ramses/node
mkdir -p /ramses/node/etc/ramses /ramses/node/var/log /ramses/node/var/tmp /ramses/node/root
cat /etc/ramses/hosts > /ramses/node/etc/hosts
echo "$name" > /ramses/node/etc/hostname
ip=""
for w in $(cat /proc/cmdline); do
    case "$w" in ip=*) v=${w#ip=}; ip=${v%%:*} ;; esac
done
{
    echo "name='$name'"; echo "ip='$ip'"; echo "prefix=''"; echo "server='$server'"; echo "domain=''"
    echo "class='$class'"
} > /ramses/node/etc/ramses/node
exec /bin/sh /etc/rc
