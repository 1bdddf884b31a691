/*
 * ramses-nfsmount: mount an NFSv3 export on Linux 2.4, for the 2.4 node root's /sbin/init
 * (docs/node-roots.md). Part of ramsesbuild; built with the build machine's gcc when a Linux 2.4
 * node root is made (ramsesbuild/noderoot/helper24.py):
 *
 *   gcc -m32 -Os -static -nostdlib -ffreestanding ... -o ramses-nfsmount nfsmount24.c
 *
 *   usage: ramses-nfsmount SERVER-IPV4:/PATH MOUNTPOINT [udp|tcp]
 *
 * Why it exists: klibc's nfsmount (the only NFS mounter that runs on 2.4, glibc cannot) makes
 * its sockets with socket(2), a system call i386 Linux gained in 4.3; 2.4 has only
 * socketcall(2), so it fails with ENOSYS there. This program uses socketcall(2) and nothing but
 * system calls (no libc at all):
 *
 *   1. portmap GETPORT (program 100000 v2, UDP port 111) for MOUNT v3 and NFS v3;
 *   2. MOUNT v3 MNT of PATH over UDP (AUTH_UNIX as root, from a reserved port) -> the file handle;
 *   3. mount(2) of type "nfs" with the 2.4 kernel's struct nfs_mount_data (version 4,
 *      NFS_MOUNT_VER3, no lock manager): the kernel makes its own RPC transport to data.addr.
 *
 * Every RPC is retried (8 tries, 1 s apart); errors are one line on stderr, exit status 1.
 */

#define SYS_exit 1
#define SYS_write 4
#define SYS_close 6
#define SYS_time 13
#define SYS_getpid 20
#define SYS_mount 21
#define SYS_socketcall 102
#define SYS_uname 122

#define SOCKOP_socket 1
#define SOCKOP_bind 2
#define SOCKOP_sendto 11
#define SOCKOP_recvfrom 12
#define SOCKOP_setsockopt 14

#define AF_INET 2
#define SOCK_DGRAM 2
#define IPPROTO_UDP 17
#define IPPROTO_TCP 6
#define SOL_SOCKET 1
#define SO_RCVTIMEO 20
#define EAGAIN 11
#define EINTR 4
#define EADDRINUSE 98
#define EACCES 13

#define PMAP_PROG 100000
#define PMAP_VERS 2
#define PMAP_GETPORT 3
#define MOUNT_PROG 100005
#define MOUNT_VERS 3
#define MOUNT_MNT 1
#define NFS_PROG 100003
#define NFS_VERS 3

/* linux-2.4.18/include/linux/nfs_mount.h */
#define NFS_MOUNT_VERSION 4
#define NFS_MOUNT_TCP 0x0040
#define NFS_MOUNT_VER3 0x0080
#define NFS_MOUNT_NONLM 0x0200
#define MS_MGC_VAL 0xC0ED0000
#define NFS_MAXFHSIZE 64

#define TRIES 8

struct sockaddr_in {
	unsigned short sin_family;
	unsigned short sin_port; /* network order */
	unsigned int sin_addr; /* network order */
	unsigned char sin_zero[8];
};

struct nfs2_fh {
	unsigned char data[32];
};

struct nfs_fh {
	unsigned short size;
	unsigned char data[NFS_MAXFHSIZE];
};

struct nfs_mount_data { /* version 4, field for field as Linux 2.4.18 reads it */
	int version;
	int fd;
	struct nfs2_fh old_root;
	int flags;
	int rsize;
	int wsize;
	int timeo;
	int retrans;
	int acregmin;
	int acregmax;
	int acdirmin;
	int acdirmax;
	struct sockaddr_in addr;
	char hostname[256];
	int namlen;
	unsigned int bsize;
	struct nfs_fh root;
};

struct timeval {
	long tv_sec;
	long tv_usec;
};

struct utsname {
	char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

static long sys5(long n, long a, long b, long c, long d, long e)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
	return r;
}

static long sys3(long n, long a, long b, long c) { return sys5(n, a, b, c, 0, 0); }

static long socketcall(int op, long *args) { return sys3(SYS_socketcall, op, (long)args, 0); }

/* gcc may emit calls to these for structure copies and clears */
void *memset(void *d, int c, unsigned long n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

static unsigned long slen(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static void put(const char *s) { sys3(SYS_write, 2, (long)s, slen(s)); }

static void putnum(long v)
{
	char buf[16];
	int i = sizeof buf;
	unsigned long u = v < 0 ? -v : v;
	buf[--i] = 0;
	do {
		buf[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (v < 0)
		buf[--i] = '-';
	put(buf + i);
}

static void die(const char *what, long err)
{
	put("ramses-nfsmount: ");
	put(what);
	if (err) {
		put(" (error ");
		putnum(err);
		put(")");
	}
	put("\n");
	sys3(SYS_exit, 1, 0, 0);
}

static unsigned int be32(unsigned int v)
{
	return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

static unsigned short be16(unsigned short v) { return (unsigned short)((v >> 8) | (v << 8)); }

/* dotted quad -> network order; 0 when it is not one */
static unsigned int parse_ipv4(const char *s, const char *end)
{
	unsigned int addr = 0, part = 0, parts = 0, digits = 0;
	for (; s < end; s++) {
		if (*s >= '0' && *s <= '9') {
			part = part * 10 + (*s - '0');
			if (++digits > 3 || part > 255)
				return 0;
		} else if (*s == '.' && digits) {
			addr = addr << 8 | part;
			part = digits = 0;
			parts++;
		} else {
			return 0;
		}
	}
	if (parts != 3 || !digits)
		return 0;
	return be32(addr << 8 | part);
}

/* ---------------------------------------------------------------- XDR and RPC over UDP */

struct buf {
	unsigned int w[512]; /* 2 KiB: every call and reply here is far smaller */
	int n; /* words used */
};

static void xu32(struct buf *b, unsigned int v) { b->w[b->n++] = be32(v); }

static void xstring(struct buf *b, const char *s, unsigned int len)
{
	unsigned int i;
	xu32(b, len);
	memset(&b->w[b->n], 0, (len + 3) & ~3u);
	memcpy(&b->w[b->n], s, len);
	for (i = 0; i < (len + 3) / 4; i++)
		b->n++;
}

static unsigned int xid;

/* the call header; cred: AUTH_UNIX as root (machine name *host*) or AUTH_NULL */
static void call_header(struct buf *b, unsigned int prog, unsigned int vers, unsigned int proc, const char *host)
{
	b->n = 0;
	xu32(b, ++xid);
	xu32(b, 0); /* CALL */
	xu32(b, 2); /* RPC version */
	xu32(b, prog);
	xu32(b, vers);
	xu32(b, proc);
	if (host) {
		unsigned int len = slen(host), start;
		xu32(b, 1); /* AUTH_UNIX */
		start = b->n;
		xu32(b, 0); /* body length, below */
		xu32(b, 0); /* stamp */
		xstring(b, host, len);
		xu32(b, 0); /* uid */
		xu32(b, 0); /* gid */
		xu32(b, 0); /* no more groups */
		b->w[start] = be32((b->n - start - 1) * 4);
	} else {
		xu32(b, 0);
		xu32(b, 0);
	}
	xu32(b, 0); /* verifier: AUTH_NULL */
	xu32(b, 0);
}

/* send *call* to server:port, wait for the reply with its xid; returns the index of the first
 * result word in *reply*, or dies naming *what* */
static int rpc(int sock, unsigned int server, unsigned short port, struct buf *call, struct buf *reply,
	       const char *what)
{
	struct sockaddr_in to;
	int t;
	long err = 0;
	memset(&to, 0, sizeof to);
	to.sin_family = AF_INET;
	to.sin_port = be16(port);
	to.sin_addr = server;
	for (t = 0; t < TRIES; t++) {
		long args[6] = {sock, (long)call->w, call->n * 4, 0, (long)&to, sizeof to};
		err = socketcall(SOCKOP_sendto, args);
		if (err < 0)
			continue;
		for (;;) {
			long rargs[6] = {sock, (long)reply->w, sizeof reply->w, 0, 0, 0};
			long got = socketcall(SOCKOP_recvfrom, rargs);
			unsigned int verf_len;
			if (got == -EINTR)
				continue;
			if (got < 0) {
				err = got;
				break; /* timeout: send again */
			}
			reply->n = got / 4;
			if (reply->n < 6 || reply->w[0] != call->w[0])
				continue; /* not ours (a late answer to an earlier try) */
			if (be32(reply->w[1]) != 1 || be32(reply->w[2]) != 0)
				die(what, -EACCES); /* not a REPLY, or MSG_DENIED */
			verf_len = be32(reply->w[4]);
			if (5 + (verf_len + 3) / 4 + 1 > (unsigned int)reply->n)
				continue;
			t = 5 + (verf_len + 3) / 4; /* accept_stat */
			if (be32(reply->w[t]) != 0) {
				put("ramses-nfsmount: ");
				put(what);
				put(": the server did not accept the call (accept_stat ");
				putnum(be32(reply->w[t]));
				put(")\n");
				sys3(SYS_exit, 1, 0, 0);
			}
			return t + 1;
		}
	}
	die(what, err);
	return 0;
}

static unsigned short getport(int sock, unsigned int server, unsigned int prog, unsigned int vers,
			      unsigned int proto, const char *what)
{
	static struct buf call, reply;
	int i;
	call_header(&call, PMAP_PROG, PMAP_VERS, PMAP_GETPORT, 0);
	xu32(&call, prog);
	xu32(&call, vers);
	xu32(&call, proto);
	xu32(&call, 0);
	i = rpc(sock, server, 111, &call, &reply, what);
	if (i >= reply.n)
		die(what, 0);
	return (unsigned short)be32(reply.w[i]);
}

/* ---------------------------------------------------------------- main */

static int mount_nfs(int argc, char **argv)
{
	static struct nfs_mount_data data;
	static struct buf call, reply;
	static struct utsname uts;
	struct timeval tv = {1, 0};
	char *spec, *path, *mnt;
	unsigned int server, status, fhlen, proto = IPPROTO_UDP;
	unsigned short mport, nport;
	long sock, r;
	int i, port;

	if (argc < 3 || argc > 4)
		die("usage: ramses-nfsmount SERVER-IPV4:/PATH MOUNTPOINT [udp|tcp]", 0);
	spec = argv[1];
	mnt = argv[2];
	if (argc == 4) {
		if (argv[3][0] == 't' && argv[3][1] == 'c' && argv[3][2] == 'p' && !argv[3][3])
			proto = IPPROTO_TCP;
		else if (!(argv[3][0] == 'u' && argv[3][1] == 'd' && argv[3][2] == 'p' && !argv[3][3]))
			die("the transport is udp or tcp", 0);
	}
	for (path = spec; *path && *path != ':'; path++)
		;
	if (*path != ':' || path[1] != '/')
		die("the export is SERVER-IPV4:/PATH", 0);
	server = parse_ipv4(spec, path);
	if (!server)
		die("the server must be an IPv4 address (no name service on a 2.4 node)", 0);
	path++;

	{
		long args[3] = {AF_INET, SOCK_DGRAM, IPPROTO_UDP};
		sock = socketcall(SOCKOP_socket, args);
		if (sock < 0)
			die("socket (socketcall)", sock);
	}
	for (port = 1023; port >= 600; port--) { /* servers may insist on a reserved port */
		struct sockaddr_in me;
		long args[3] = {sock, (long)&me, sizeof me};
		memset(&me, 0, sizeof me);
		me.sin_family = AF_INET;
		me.sin_port = be16((unsigned short)port);
		r = socketcall(SOCKOP_bind, args);
		if (r == 0 || r != -EADDRINUSE)
			break;
	}
	{
		long args[5] = {sock, SOL_SOCKET, SO_RCVTIMEO, (long)&tv, sizeof tv};
		r = socketcall(SOCKOP_setsockopt, args);
		if (r < 0)
			die("setsockopt SO_RCVTIMEO", r);
	}
	xid = (unsigned int)sys3(SYS_time, 0, 0, 0) ^ ((unsigned int)sys3(SYS_getpid, 0, 0, 0) << 16);
	sys3(SYS_uname, (long)&uts, 0, 0);

	mport = getport(sock, server, MOUNT_PROG, MOUNT_VERS, IPPROTO_UDP, "portmap: no answer for MOUNT v3");
	nport = getport(sock, server, NFS_PROG, NFS_VERS, proto, "portmap: no answer for NFS v3");
	if (!mport)
		die("the server has no MOUNT v3 over UDP", 0);
	if (!nport)
		die("the server has no NFS v3 over that transport", 0);

	call_header(&call, MOUNT_PROG, MOUNT_VERS, MOUNT_MNT, uts.nodename[0] ? uts.nodename : "node");
	xstring(&call, path, slen(path));
	i = rpc(sock, server, mport, &call, &reply, "MOUNT v3: no answer");
	status = i < reply.n ? be32(reply.w[i]) : 0xffffffff;
	if (status != 0) {
		put("ramses-nfsmount: the server refused to mount ");
		put(path);
		put(" (MOUNT v3 status ");
		putnum((long)status);
		put(status == 13 ? ": permission denied: is it exported to this node's address?)\n"
				 : status == 2 ? ": no such directory)\n" : ")\n");
		sys3(SYS_exit, 1, 0, 0);
	}
	fhlen = be32(reply.w[i + 1]);
	if (fhlen == 0 || fhlen > NFS_MAXFHSIZE || i + 2 + (int)((fhlen + 3) / 4) > reply.n)
		die("MOUNT v3: a file handle that NFSv3 cannot hold", (long)fhlen);

	data.version = NFS_MOUNT_VERSION;
	data.fd = (int)sock;
	data.flags = NFS_MOUNT_VER3 | NFS_MOUNT_NONLM | (proto == IPPROTO_TCP ? NFS_MOUNT_TCP : 0);
	data.rsize = data.wsize = 8192;
	data.timeo = proto == IPPROTO_TCP ? 600 : 7; /* tenths of a second */
	data.retrans = 3;
	data.acregmin = 3;
	data.acregmax = 60;
	data.acdirmin = 30;
	data.acdirmax = 60;
	data.addr.sin_family = AF_INET;
	data.addr.sin_port = be16(nport);
	data.addr.sin_addr = server;
	memcpy(data.hostname, spec, (unsigned long)(path - 1 - spec)); /* the dotted quad */
	data.root.size = (unsigned short)fhlen;
	memcpy(data.root.data, &reply.w[i + 2], fhlen);

	r = sys5(SYS_mount, (long)spec, (long)mnt, (long)"nfs", MS_MGC_VAL, (long)&data);
	sys3(SYS_close, sock, 0, 0);
	if (r < 0) {
		put("ramses-nfsmount: mount ");
		put(spec);
		put(" on ");
		put(mnt);
		die(" failed", r);
	}
	put("ramses-nfsmount: ");
	put(spec);
	put(" on ");
	put(mnt);
	put(proto == IPPROTO_TCP ? " (NFSv3, tcp)\n" : " (NFSv3, udp)\n");
	return 0;
}

int ramses_main(int argc, char **argv);

int ramses_main(int argc, char **argv) { return mount_nfs(argc, argv); }

__asm__(".globl _start\n"
	"_start:\n"
	"	xorl %ebp, %ebp\n"
	"	movl (%esp), %eax\n" /* argc */
	"	leal 4(%esp), %edx\n" /* argv */
	"	andl $-16, %esp\n"
	"	pushl %edx\n"
	"	pushl %eax\n"
	"	call ramses_main\n"
	"	movl %eax, %ebx\n"
	"	movl $1, %eax\n"
	"	int $0x80\n");
