#!/bin/sh
# /etc/rc: the diskless rc of a ramsesbuild Linux 2.4 node, in the spirit of the Ramses
# recipe's rc.sysinit (docs/node-roots.md). /proc is mounted and the node's own directory is on
# /ramses/node (by /sbin/init). Everything here runs on klibc (2.4 cannot run glibc).
PATH=/bin
export PATH
. /etc/ramses/node
echo "$name" > /proc/sys/kernel/hostname
[ -z "$domain" ] || echo "$domain" > /proc/sys/kernel/domainname
echo "ramses-rc: $name $ip/$prefix, Linux $(uname -r), root from $server, class $class"
if [ -x /etc/ramses/command ]; then
    /etc/ramses/command
fi
echo "ramses-rc: shell on the console"
exec /bin/sh
