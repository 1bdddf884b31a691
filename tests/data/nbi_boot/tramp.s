/*
 * Test-only real-mode trampoline for loader.s, linked at 0x8000. Entered from 32-bit
 * protected mode by ljmp $0x18, $0x8000 (16-bit code selector, base 0). Leaves protected
 * mode and far-calls the NBI 16-bit entry with the stack an NBI loader sets up:
 *   [sp+4] header far pointer (off, seg), [sp+8] BOOTP far pointer (off, seg).
 * Parameters at 0x8F00: entry off:seg, header off:seg, bootp off, bootp seg.
 */
	.equ	PARAMS, 0x8F00
	.text
	.code16
	.globl	_start
_start:
	cli
	nop
	movw	$0x20, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$0x7C00, %esp
	movl	%cr0, %eax
	andb	$0xFE, %al
	movl	%eax, %cr0
	ljmp	$0, $real
real:
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movw	$0x7C00, %sp
	lidt	ivt
	sti
	pushw	PARAMS+10
	pushw	PARAMS+8
	pushw	PARAMS+6
	pushw	PARAMS+4
	lcall	*PARAMS
	movw	$0x3F8, %dx
	movb	$'R', %al
	outb	%al, %dx
1:	hlt
	jmp	1b
ivt:	.word	0x3FF
	.long	0
