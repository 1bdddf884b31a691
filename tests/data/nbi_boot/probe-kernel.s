/*
 * Test-only "kernel": a file in Linux bzImage format (boot sector, two setup sectors with a
 * boot-protocol header, a small payload) whose setup code reports on COM1 what the first
 * stage handed over, then powers qemu off. Assembled with --defsym PROTO=0x0201.. and
 * --defsym BIG=0|1 (loadflags LOADED_HIGH).
 *
 * Output, one line:
 *   PROBE cs=XXXX ds=XXXX ss=XXXX sp=XXXX type=XX flags=XX heap=XXXX c32=XXXXXXXX
 *         rd=XXXXXXXX+XXXXXXXX vid=XXXX cl=<command line> | rdhead=<first 32 bytes of initrd>
 */
	.ifndef PROTO
	.equ	PROTO, 0x0206
	.endif
	.ifndef BIG
	.equ	BIG, 1
	.endif
	.text
	.code16
	.globl	_start
_start:
	/* boot sector: never executed */
	.org	0x1F1
	.byte	2				/* setup_sects */
	.word	0				/* root_flags */
	.long	32				/* syssize: 512-byte payload */
	.word	0				/* ram_size */
	.word	0xFFFF				/* vid_mode: normal */
	.word	0				/* root_dev */
	.word	0xAA55
	/* setup sector, entered at X/16+0x20:0000 */
	jmp	start				/* 0x200 */
	.ascii	"HdrS"				/* 0x202 */
	.word	PROTO				/* 0x206 */
	.long	0				/* 0x208 realmode_swtch */
	.word	0x1000				/* 0x20C start_sys_seg */
	.word	0				/* 0x20E kernel_version */
	.byte	0				/* 0x210 type_of_loader */
	.byte	BIG				/* 0x211 loadflags */
	.word	0				/* 0x212 setup_move_size */
	.long	0x100000			/* 0x214 code32_start */
	.long	0				/* 0x218 ramdisk_image */
	.long	0				/* 0x21C ramdisk_size */
	.long	0				/* 0x220 bootsect_kludge */
	.word	0				/* 0x224 heap_end_ptr */
	.byte	0, 0				/* 0x226 ext_loader_ver/type */
	.long	0				/* 0x228 cmd_line_ptr */
	.long	0x37FFFFFF			/* 0x22C initrd_addr_max */
	.long	0				/* 0x230 kernel_alignment */
	.byte	0, 0				/* 0x234 relocatable, min_alignment */
	.word	0				/* 0x236 xloadflags */
	.long	2047				/* 0x238 cmdline_size */
start:
	movw	%sp, %bp
	movw	%cs, %ax
	movw	%ax, %cx			/* cs, before we use the stack much */
	leaw	s_probe-0x200, %si		/* strings are addressed through %cs: below */
	call	cputs
	leaw	s_cs-0x200, %si
	call	cputs
	movw	%cx, %ax
	call	hex16
	leaw	s_ds-0x200, %si
	call	cputs
	movw	%ds, %ax
	call	hex16
	leaw	s_ss-0x200, %si
	call	cputs
	movw	%ss, %ax
	call	hex16
	leaw	s_sp-0x200, %si
	call	cputs
	movw	%bp, %ax
	call	hex16
	leaw	s_type-0x200, %si
	call	cputs
	movb	0x210, %al
	call	hex8
	leaw	s_flags-0x200, %si
	call	cputs
	movb	0x211, %al
	call	hex8
	leaw	s_heap-0x200, %si
	call	cputs
	movw	0x224, %ax
	call	hex16
	leaw	s_c32-0x200, %si
	call	cputs
	movl	0x214, %eax
	call	hex32
	leaw	s_rd-0x200, %si
	call	cputs
	movl	0x218, %eax
	call	hex32
	movb	$'+', %al
	call	putc
	movl	0x21C, %eax
	call	hex32
	leaw	s_vid-0x200, %si
	call	cputs
	movw	0x1FA, %ax
	call	hex16
	leaw	s_cl-0x200, %si
	call	cputs
	/* command line: cmd_line_ptr (protocol >= 2.02) or the 0xA33F protocol */
	.if PROTO >= 0x0202
	movl	0x228, %eax
	.else
	xorl	%eax, %eax
	cmpw	$0xA33F, 0x20
	jne	1f
	movw	%ds, %ax
	movzwl	%ax, %eax
	shll	$4, %eax
	movzwl	0x22, %edx
	addl	%edx, %eax
1:
	.endif
	testl	%eax, %eax
	jz	3f
	pushw	%ds
	movl	%eax, %edx
	shrl	$4, %edx
	movw	%dx, %ds
	andw	$15, %ax
	movw	%ax, %si
	movw	$2048, %cx
2:	lodsb
	testb	%al, %al
	jz	4f
	call	putc
	loop	2b
4:	popw	%ds
3:	leaw	s_rdhead-0x200, %si
	call	cputs
	/* first 32 bytes of the initrd, via INT 15h AH=87h into the buffer at 0x7000 */
	movl	0x21C, %eax
	testl	%eax, %eax
	jz	6f
	pushw	%ds
	pushw	%es
	xorw	%ax, %ax
	movw	%ax, %es
	movw	$0x7100, %di			/* 48-byte descriptor table at 0:7100 */
	xorl	%eax, %eax
	movw	$12, %cx
	rep stosl
	movl	0x218, %eax
	movw	$0x7100, %si
	movw	$0xFFFF, %es:0x10(%si)		/* source: ramdisk_image */
	movl	%eax, %es:0x12(%si)
	movb	$0x93, %es:0x15(%si)
	shrl	$24, %eax
	movb	%al, %es:0x17(%si)
	movw	$0xFFFF, %es:0x18(%si)		/* destination: 0x7000 */
	movl	$0x00007000, %es:0x1A(%si)
	movb	$0x93, %es:0x1D(%si)
	movw	$16, %cx			/* words */
	movb	$0x87, %ah
	int	$0x15
	popw	%es
	popw	%ds
	jc	6f
	pushw	%ds
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$0x7000, %si
	movw	$32, %cx
5:	lodsb
	cmpb	$0x20, %al
	jb	7f
	cmpb	$0x7E, %al
	jbe	8f
7:	movb	$'.', %al
8:	call	putc
	loop	5b
	popw	%ds
6:	movb	$'\n', %al
	call	putc
	/* power off (PIIX4 ACPI PM1a_CNT at 0x604 on qemu's pc machine), else halt */
	movw	$0x604, %dx
	movw	$0x2000, %ax
	outw	%ax, %dx
	cli
9:	hlt
	jmp	9b

/* cputs: NUL-terminated string at %cs:%si */
cputs:
	movb	%cs:(%si), %al
	incw	%si
	testb	%al, %al
	jz	1f
	call	putc
	jmp	cputs
1:	ret

putc:
	pushw	%dx
	pushw	%ax
	movw	$0x3FD, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jz	1b
	popw	%ax
	movw	$0x3F8, %dx
	outb	%al, %dx
	popw	%dx
	ret

hex32:
	pushl	%eax
	shrl	$16, %eax
	call	hex16
	popl	%eax
hex16:
	pushw	%ax
	movb	%ah, %al
	call	hex8
	popw	%ax
hex8:
	pushw	%ax
	shrb	$4, %al
	call	nibble
	popw	%ax
nibble:
	pushw	%ax
	andb	$15, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	1f
	addb	$7, %al
1:	call	putc
	popw	%ax
	ret

s_probe:	.asciz	"PROBE"
s_cs:		.asciz	" cs="
s_ds:		.asciz	" ds="
s_ss:		.asciz	" ss="
s_sp:		.asciz	" sp="
s_type:		.asciz	" type="
s_flags:	.asciz	" flags="
s_heap:		.asciz	" heap="
s_c32:		.asciz	" c32="
s_rd:		.asciz	" rd="
s_vid:		.asciz	" vid="
s_cl:		.asciz	" cl="
s_rdhead:	.asciz	" | rdhead="
	.org	0x600				/* end of the two setup sectors */
payload:
	.fill	512, 1, 0xCC			/* "protected-mode kernel": never run */
