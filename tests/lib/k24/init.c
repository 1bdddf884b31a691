/*
 * init.c - a libc-free static i386 /init for boot-testing Linux 2.4 under qemu.
 *
 * Build (no 32-bit libc needed):
 *   gcc -m32 -Os -ffreestanding -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables \
 *       -fcf-protection=none -nostdlib -c init.c -o init.o
 *   ld -m elf_i386 -static -z noseparate-code -e _start -o init init.o
 *
 * It talks to the kernel through int $0x80 only and prints lines the test looks for:
 *   RAMSES-K24-INIT start            pid 1 is running user space
 *   RAMSES-K24-UNAME <release>       uname(2)
 *   RAMSES-K24-ROOT <dev> <type>     the "/" line of /proc/mounts (ext2 or nfs)
 *   RAMSES-K24-HOST <nodename>       the host name the kernel got (ip= or DHCP option 12)
 *   RAMSES-K24-ADDR eth0 <a.b.c.d>   eth0's IPv4 address (SIOCGIFADDR), or "none"
 *   RAMSES-K24-CMDLINE <text>        /proc/cmdline: what the boot loader handed over
 *   RAMSES-K24-PNP <line>            each line of /proc/net/pnp (how IP-Config got its data), if any
 *   RAMSES-K24-FORK 42               a child's exit status came back through waitpid
 *   RAMSES-K24-FILE ok               wrote, re-read and compared a file on the root fs
 *   RAMSES-K24-DONE                  then reboot(2), which makes qemu -no-reboot exit
 * Any failure prints "RAMSES-K24-FAIL <what>" and still reboots.
 *
 * Kernel messages must not split a marker line (a late "IPv6: ADDRCONF..." once landed inside
 * "RAMSES-K24-UNAME "): it lowers the console log level first (syslog(2) action 8, in 2.4 and
 * later), and it writes each line with one write(2).
 */

#define SYS_exit 1
#define SYS_fork 2
#define SYS_read 3
#define SYS_write 4
#define SYS_open 5
#define SYS_close 6
#define SYS_waitpid 7
#define SYS_unlink 10
#define SYS_mknod 14
#define SYS_sync 36
#define SYS_mkdir 39
#define SYS_mount 21
#define SYS_reboot 88
#define SYS_ioctl 54
#define SYS_socketcall 102
#define SYS_syslog 103
#define SYS_uname 122

#define SIOCGIFADDR 0x8915

#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_TRUNC 01000

static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(n), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

static long sys5(long n, long a, long b, long c, long d, long e)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory");
	return r;
}

/* Output is gathered into whole lines, each written with one write(2). */
static char line[512];
static unsigned long line_len;

static void flush(void)
{
	if (line_len)
		sys3(SYS_write, 1, (long)line, line_len);
	line_len = 0;
}

static void put(const char *s)
{
	while (*s) {
		if (line_len == sizeof line)
			flush();
		line[line_len++] = *s;
		if (*s++ == '\n')
			flush();
	}
}

static void putnum(long v)
{
	char buf[16];
	int i = sizeof buf;
	int neg = v < 0;
	unsigned long u = neg ? -v : v;
	buf[--i] = 0;
	do {
		buf[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (neg)
		buf[--i] = '-';
	put(buf + i);
}

static void fail(const char *what, long rc)
{
	put("RAMSES-K24-FAIL ");
	put(what);
	put(" rc=");
	putnum(rc);
	put("\n");
}

static int starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static char buf[4096];

static void show_root(void)
{
	long fd = sys3(SYS_open, (long)"/proc/mounts", O_RDONLY, 0);
	long n, i, start = 0;
	if (fd < 0) {
		fail("open /proc/mounts", fd);
		return;
	}
	n = sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
	sys3(SYS_close, fd, 0, 0);
	if (n <= 0) {
		fail("read /proc/mounts", n);
		return;
	}
	buf[n] = 0;
	/* lines are "dev mountpoint type opts 0 0"; find the last one mounted on "/" */
	long found = -1;
	for (i = 0; i <= n; i++) {
		if (buf[i] == '\n' || buf[i] == 0) {
			long j = start;
			while (j < i && buf[j] != ' ')
				j++;
			if (j + 2 < i && buf[j + 1] == '/' && buf[j + 2] == ' ')
				found = start;
			start = i + 1;
		}
	}
	if (found < 0) {
		fail("no / in /proc/mounts", 0);
		return;
	}
	/* print "dev type" */
	char *p = buf + found, *dev = p;
	while (*p != ' ')
		p++;
	*p++ = 0;
	while (*p != ' ')
		p++; /* skip mount point */
	p++;
	char *type = p;
	while (*p != ' ' && *p != '\n' && *p)
		p++;
	*p = 0;
	put("RAMSES-K24-ROOT ");
	put(dev);
	put(" ");
	put(type);
	put("\n");
}

/* Print each line of a /proc file with a prefix (an absent optional file prints nothing). */
static void show_lines(const char *path, const char *prefix, int optional)
{
	long fd = sys3(SYS_open, (long)path, O_RDONLY, 0);
	long n, i, start = 0;
	if (fd < 0) {
		if (!optional)
			fail(path, fd);
		return;
	}
	n = sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
	sys3(SYS_close, fd, 0, 0);
	if (n < 0) {
		fail(path, n);
		return;
	}
	buf[n] = 0;
	for (i = 0; i <= n; i++) {
		if (buf[i] == '\n' || buf[i] == 0) {
			buf[i] = 0;
			if (i > start) {
				put(prefix);
				put(buf + start);
				put("\n");
			}
			start = i + 1;
		}
	}
}

static void putbyte(unsigned v)
{
	char d[4];
	int i = 3;
	d[3] = 0;
	do {
		d[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	put(d + i);
}

/* eth0's address through socket(AF_INET, SOCK_DGRAM) + ioctl(SIOCGIFADDR). */
static void show_addr(void)
{
	long args[3] = {2 /* AF_INET */, 2 /* SOCK_DGRAM */, 0};
	struct {
		char name[16];
		unsigned short family, port;
		unsigned char addr[4];
		char pad[8];
	} ifr = {"eth0"};
	long fd = sys3(SYS_socketcall, 1 /* SYS_SOCKET */, (long)args, 0), rc;
	if (fd < 0) {
		fail("socket", fd);
		return;
	}
	rc = sys3(SYS_ioctl, fd, SIOCGIFADDR, (long)&ifr);
	sys3(SYS_close, fd, 0, 0);
	put("RAMSES-K24-ADDR eth0 ");
	if (rc < 0) {
		put("none\n");
		return;
	}
	for (int i = 0; i < 4; i++) {
		putbyte(ifr.addr[i]);
		put(i < 3 ? "." : "\n");
	}
}

static void file_roundtrip(void)
{
	static const char msg[] = "written by pid 1 through the root file system\n";
	const char *path = "/ramses-k24-probe";
	long fd = sys3(SYS_open, (long)path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	long n;
	if (fd < 0) {
		fail("create probe file", fd);
		return;
	}
	n = sys3(SYS_write, fd, (long)msg, sizeof msg - 1);
	sys3(SYS_close, fd, 0, 0);
	if (n != sizeof msg - 1) {
		fail("write probe file", n);
		return;
	}
	sys3(SYS_sync, 0, 0, 0);
	fd = sys3(SYS_open, (long)path, O_RDONLY, 0);
	if (fd < 0) {
		fail("reopen probe file", fd);
		return;
	}
	n = sys3(SYS_read, fd, (long)buf, sizeof buf);
	sys3(SYS_close, fd, 0, 0);
	if (n != sizeof msg - 1 || !starts(buf, msg)) {
		fail("probe file content", n);
		return;
	}
	sys3(SYS_unlink, (long)path, 0, 0);
	put("RAMSES-K24-FILE ok\n");
}

void _start(void)
{
	struct {
		char sysname[65], nodename[65], release[65], version[65], machine[65], domain[65];
	} uts;
	long fd, rc, pid;
	int status = 0;

	/* The kernel opened /dev/console as fds 0-2 if the node exists; if not, make one. */
	if (sys3(SYS_write, 1, (long)"", 0) < 0) {
		sys3(SYS_mkdir, (long)"/dev", 0755, 0);
		sys3(SYS_mknod, (long)"/dev/console", 0020600, (5 << 8) | 1);
		fd = sys3(SYS_open, (long)"/dev/console", O_RDWR, 0);
		if (fd >= 0) {
			/* dup to 1 and 2 via fcntl-free trick: reopen until we have fds 1 and 2 */
			while (fd < 2)
				fd = sys3(SYS_open, (long)"/dev/console", O_RDWR, 0);
		}
	}
	/* SYSLOG_ACTION_CONSOLE_LEVEL 1: only KERN_EMERG reaches the console from here on */
	sys3(SYS_syslog, 8, 0, 1);
	put("\nRAMSES-K24-INIT start\n");

	rc = sys3(SYS_uname, (long)&uts, 0, 0);
	if (rc < 0)
		fail("uname", rc);
	else {
		put("RAMSES-K24-UNAME ");
		put(uts.release);
		put(" ");
		put(uts.machine);
		put("\n");
	}

	sys3(SYS_mkdir, (long)"/proc", 0555, 0);
	rc = sys5(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
	if (rc < 0)
		fail("mount /proc", rc);
	else {
		show_root();
		put("RAMSES-K24-HOST ");
		put(uts.nodename);
		put("\n");
		show_addr();
		show_lines("/proc/cmdline", "RAMSES-K24-CMDLINE ", 0);
		show_lines("/proc/net/pnp", "RAMSES-K24-PNP ", 1); /* only after IP-Config */
	}

	pid = sys3(SYS_fork, 0, 0, 0);
	if (pid == 0)
		sys3(SYS_exit, 42, 0, 0);
	if (pid < 0)
		fail("fork", pid);
	else {
		rc = sys3(SYS_waitpid, pid, (long)&status, 0);
		if (rc != pid || (status & 0x7f) != 0)
			fail("waitpid", rc);
		else {
			put("RAMSES-K24-FORK ");
			putnum((status >> 8) & 0xff);
			put("\n");
		}
	}

	file_roundtrip();

	put("RAMSES-K24-DONE\n");
	flush();
	sys3(SYS_sync, 0, 0, 0);
	/* LINUX_REBOOT_MAGIC1, MAGIC2, LINUX_REBOOT_CMD_RESTART */
	sys5(SYS_reboot, 0xfee1dead, 672274793, 0x01234567, 0, 0);
	for (;;)
		sys3(SYS_exit, 0, 0, 0);
}
