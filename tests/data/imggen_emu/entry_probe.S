/*
 * Test-only "first stage": put into an NBI image in place of the real one (MknbiOptions
 * first32=...), it reports on COM1 how the MBA header entered it, then stops.
 * --defsym BITS=32: NBI flags bit 31 set (layouts ramses, 1.4.4); BITS=16: layout 1.0.
 *
 *   E32 if=<IF> cs=.. ds=.. es=.. ss=.. a20=<0|1> info=<ptr>:<major.minor.flags>
 *       hdr=<ptr>:<dword 0 there> bootp=<ptr>:<op>/<cookie>/<yiaddr> END
 *   E16 if=<IF> cs=.. ret=<seg:off> hdr=<seg:off>:<dword 0 there>
 *       bootp=<seg:off>:<op>/<cookie>/<yiaddr> END
 * (cookie and yiaddr as the dwords in memory, little-endian.)
 */
	.ifndef	BITS
	.error	"assemble with --defsym BITS=16|32"
	.endif
	.text
	.globl	_start
_start:
	.if	BITS == 32
	.code32
	pushfl
	popl	%ebx
	shrl	$9, %ebx
	andl	$1, %ebx
	movb	$'E', %al
	call	putc
	movb	$'3', %al
	call	putc
	movb	$'2', %al
	call	putc
	movb	$'i', %al
	call	tag
	movl	%ebx, %eax
	call	hex8
	movb	$'c', %al
	call	tag
	movw	%cs, %ax
	call	hex16
	movb	$'d', %al
	call	tag
	movw	%ds, %ax
	call	hex16
	movb	$'e', %al
	call	tag
	movw	%es, %ax
	call	hex16
	movb	$'s', %al
	call	tag
	movw	%ss, %ax
	call	hex16
	movb	$'a', %al			/* A20: do 0x500 and 0x100500 differ? */
	call	tag
	movl	0x500, %ecx
	movl	$0x11111111, 0x500
	movl	$0x22222222, 0x100500
	xorl	%eax, %eax
	cmpl	$0x11111111, 0x500
	jne	1f
	incl	%eax
1:	movl	%ecx, 0x500
	call	hex8
	movb	$'I', %al			/* ebinfo * */
	call	tag
	movl	4(%esp), %esi
	movl	%esi, %eax
	call	hex32
	call	colon
	movzbl	(%esi), %eax
	call	hex8
	movb	$'.', %al
	call	putc
	movzbl	1(%esi), %eax
	call	hex8
	movb	$'.', %al
	call	putc
	movw	2(%esi), %ax
	call	hex16
	movb	$'h', %al			/* header */
	call	tag
	movl	8(%esp), %esi
	movl	%esi, %eax
	call	hex32
	call	colon
	movl	(%esi), %eax
	call	hex32
	movb	$'b', %al			/* BOOTP reply */
	call	tag
	movl	12(%esp), %esi
	movl	%esi, %eax
	call	hex32
	call	colon
	call	bootp32
	.else
	.code16
	pushf
	popw	%bx
	shrw	$9, %bx
	andw	$1, %bx
	movw	%sp, %bp
	movb	$'E', %al
	call	putc
	movb	$'1', %al
	call	putc
	movb	$'6', %al
	call	putc
	movb	$'i', %al
	call	tag
	movw	%bx, %ax
	call	hex8
	movb	$'c', %al
	call	tag
	movw	%cs, %ax
	call	hex16
	movb	$'r', %al			/* return address */
	call	tag
	movw	2(%bp), %ax
	call	hex16
	call	colon
	movw	(%bp), %ax
	call	hex16
	movb	$'h', %al			/* header far pointer */
	call	tag
	movw	6(%bp), %ax
	call	hex16
	call	colon
	movw	4(%bp), %ax
	call	hex16
	call	colon
	lesw	4(%bp), %si
	movl	%es:(%si), %eax
	call	hex32
	movb	$'b', %al			/* BOOTP far pointer */
	call	tag
	movw	10(%bp), %ax
	call	hex16
	call	colon
	movw	8(%bp), %ax
	call	hex16
	call	colon
	lesw	8(%bp), %si
	movzbl	%es:(%si), %eax
	call	hex8
	movb	$'/', %al
	call	putc
	movl	%es:236(%si), %eax
	call	hex32
	movb	$'/', %al
	call	putc
	movl	%es:16(%si), %eax
	call	hex32
	.endif
	movb	$' ', %al
	call	putc
	movb	$'E', %al
	call	putc
	movb	$'N', %al
	call	putc
	movb	$'D', %al
	call	putc
	movb	$'\n', %al
	call	putc
9:	cli
	hlt
	jmp	9b

	.if	BITS == 32
bootp32:				/* op/cookie/yiaddr at ESI */
	movzbl	(%esi), %eax
	call	hex8
	movb	$'/', %al
	call	putc
	movl	236(%esi), %eax
	call	hex32
	movb	$'/', %al
	call	putc
	movl	16(%esi), %eax
	jmp	hex32
	.endif

tag:					/* " <AL>=" */
	pushl	%eax
	movb	$' ', %al
	call	putc
	popl	%eax
	call	putc
	movb	$'=', %al
	jmp	putc

colon:
	movb	$':', %al
	jmp	putc

hex32:
	rorl	$16, %eax
	call	hex16
	rorl	$16, %eax
hex16:
	rorw	$8, %ax
	call	hex8
	rorw	$8, %ax
hex8:					/* AL */
	pushl	%eax
	shrb	$4, %al
	call	nibble
	popl	%eax
	pushl	%eax
	call	nibble
	popl	%eax
	ret
nibble:
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	putc
	addb	$'A'-'9'-1, %al
putc:					/* AL to COM1 */
	pushl	%edx
	pushl	%eax
	movw	$0x3fd, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jz	1b
	popl	%eax
	movw	$0x3f8, %dx
	outb	%al, %dx
	popl	%edx
	ret
