/* Test-only static x86_64 /init: print a marker on the console, then power off. */
	.text
	.globl	_start
_start:
	movl	$1, %eax			/* write(1, msg, len) */
	movl	$1, %edi
	leaq	msg(%rip), %rsi
	movl	$msg_end - msg, %edx
	syscall
	movl	$169, %eax			/* reboot(MAGIC1, MAGIC2, POWER_OFF) */
	movl	$0xfee1dead, %edi
	movl	$672274793, %esi
	movl	$0x4321fedc, %edx
	syscall
1:	jmp	1b
msg:	.ascii	"\nRAMSES-NBI-INIT-OK: userspace reached from the initrd\n"
msg_end:
