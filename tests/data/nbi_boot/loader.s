/*
 * Test-only NBI/ELF loader for qemu (multiboot kernel, linked at 0x04000000).
 *
 * It does what an Etherboot/iPXE loader does with a netboot image, written from the NBI
 * draft spec (mknbi.md section 1, 6.1) for ramsesbuild's boot tests:
 *   module 0  the image (NBI or ELF)            (qemu -kernel loader.elf -initrd "img,bootp,tramp")
 *   module 1  a BOOTP/DHCP reply, copied to 0x6000 and passed to NBI images (optional)
 *   module 2  the real-mode trampoline (tramp.s), copied to 0x8000 (needed for 16-bit entries)
 * NBI: header block to its location, two passes over the descriptors (zero-fill memlen,
 * then copy imglen; address modes 0-3), file length must equal 512 + sum(imglen); then
 * 32-bit entry(ebinfo *, header, bootp) in flat protected mode, or a far call to the
 * 16-bit entry with (header far ptr, bootp far ptr) through the trampoline.
 * ELF: each PT_LOAD to p_paddr (zero-filled to p_memsz), then call e_entry with no
 * arguments, like iPXE's elfboot. Progress goes to COM1.
 */
	.equ	MB_MAGIC, 0x1BADB002
	.equ	MB_FLAGS, 0x00000003
	.equ	BOOTP_AT, 0x6000
	.equ	TRAMP_AT, 0x8000
	.equ	TRAMP_PARAMS, 0x8F00

	.text
	.code32
	.globl	_start
mb_header:
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
_start:
	cli
	cld
	movl	$stack_top, %esp
	lgdt	gdtr
	ljmp	$0x08, $1f
1:	movl	$0x10, %ecx
	movw	%cx, %ds
	movw	%cx, %es
	movw	%cx, %fs
	movw	%cx, %gs
	movw	%cx, %ss
	cmpl	$0x2BADB002, %eax
	jne	fail
	movl	%ebx, mbi
	movl	8(%ebx), %eax			/* mem_upper, KiB above 1 MiB */
	movl	%eax, mem_upper
	movl	20(%ebx), %ecx			/* mods_count */
	movl	24(%ebx), %esi			/* mods_addr */
	testl	%ecx, %ecx
	jz	fail
	movl	(%esi), %eax
	movl	%eax, image
	movl	4(%esi), %eax
	subl	image, %eax
	movl	%eax, image_len
	cmpl	$2, %ecx
	jb	2f
	movl	16(%esi), %eax			/* module 1: BOOTP reply (may be empty) */
	movl	20(%esi), %ecx
	subl	%eax, %ecx
	jz	4f
	cmpl	$1024, %ecx
	jbe	3f
	movl	$1024, %ecx
3:	pushl	%esi
	movl	%eax, %esi
	movl	$BOOTP_AT, %edi
	rep movsb
	popl	%esi
	movl	$BOOTP_AT, bootp
4:	cmpl	$3, 20(%ebx)
	jb	2f
	movl	32(%esi), %eax			/* module 2: trampoline */
	movl	36(%esi), %ecx
	subl	%eax, %ecx
	movl	%eax, %esi
	movl	$TRAMP_AT, %edi
	rep movsb
2:	movl	$s_hello, %esi
	call	puts
	movl	image, %esi
	cmpl	$0x1B031336, (%esi)
	je	nbi
	cmpl	$0x464C457F, (%esi)
	je	elf
	movl	$s_unknown, %esi
	jmp	die

/* ---------------------------------------------------------------- NBI */
nbi:
	movl	$s_nbi, %esi
	call	puts
	movl	image, %esi
	movl	8(%esi), %eax			/* location seg:off */
	call	segoff_linear
	movl	%eax, hdrloc
	movl	$0, pass
	call	nbi_pass
	movl	$1, pass
	call	nbi_pass
	movl	image, %esi
	testl	$0x80000000, 4(%esi)
	jnz	nbi32
	/* 16-bit entry through the trampoline */
	movl	$s_call16, %esi
	call	puts
	movl	image, %esi
	movl	12(%esi), %eax
	movl	%eax, TRAMP_PARAMS		/* entry off, seg */
	movl	8(%esi), %eax
	movl	%eax, TRAMP_PARAMS+4		/* header off, seg */
	movl	bootp, %eax
	movl	%eax, %edx
	andl	$0x0F, %eax
	shrl	$4, %edx
	movw	%ax, TRAMP_PARAMS+8		/* bootp off */
	movw	%dx, TRAMP_PARAMS+10		/* bootp seg */
	cmpw	$0x90FA, TRAMP_AT		/* trampoline starts with cli; nop */
	jne	no_tramp
	ljmp	$0x18, $TRAMP_AT
no_tramp:
	movl	$s_notramp, %esi
	jmp	die
nbi32:
	movl	image, %esi
	movl	12(%esi), %edi
	movl	%edi, %eax
	movl	$s_call32, %esi
	call	puts_hex
	pushl	bootp
	pushl	hdrloc
	pushl	$ebinfo
	call	*%edi
	addl	$12, %esp
	movl	$s_returned, %esi
	jmp	die

/* nbi_pass: pass 0 zero-fills (and checks), pass 1 copies; iPXE's nbi_process_segments */
nbi_pass:
	movl	hdrloc, %edi
	movl	$512, %ecx
	movl	image, %esi
	call	seg_op
	movl	hdrloc, %eax
	movl	%eax, prev_dest
	movl	$512, prev_mem
	movl	$512, offset
	movl	image, %esi
	movzbl	4(%esi), %eax
	call	nbi_length
	movl	%eax, sh_off
1:	movl	image, %esi
	addl	sh_off, %esi
	movzbl	(%esi), %eax
	testl	%eax, %eax
	jz	bad_nbi
	movzbl	3(%esi), %ecx
	andl	$3, %ecx
	movl	4(%esi), %edi			/* load address */
	cmpl	$0, %ecx
	je	3f
	cmpl	$1, %ecx
	jne	2f
	addl	prev_dest, %edi			/* after previous */
	addl	prev_mem, %edi
	jmp	3f
2:	cmpl	$3, %ecx
	jne	4f
	movl	prev_dest, %eax			/* before previous */
	subl	%edi, %eax
	movl	%eax, %edi
	jmp	3f
4:	movl	mem_upper, %eax			/* end of memory */
	addl	$1024, %eax
	shll	$10, %eax
	subl	%edi, %eax
	movl	%eax, %edi
3:	movl	offset, %eax
	addl	8(%esi), %eax
	cmpl	image_len, %eax
	ja	bad_nbi
	cmpl	$0, pass
	jne	5f
	movl	8(%esi), %eax
	cmpl	12(%esi), %eax
	ja	bad_nbi				/* filesz > memsz */
5:	pushl	%esi
	movl	%edi, prev_dest
	movl	12(%esi), %eax
	movl	%eax, prev_mem
	movl	8(%esi), %ecx			/* copy length (pass 1) */
	cmpl	$0, pass
	jne	6f
	movl	12(%esi), %ecx			/* zero length (pass 0) */
6:	movl	image, %esi
	addl	offset, %esi
	call	seg_op
	popl	%esi
	movl	8(%esi), %eax
	addl	%eax, offset
	movzbl	(%esi), %eax
	call	nbi_length
	addl	%eax, sh_off
	cmpl	$512, sh_off
	jae	bad_nbi
	testb	$4, 3(%esi)
	jz	1b
	movl	offset, %eax
	cmpl	image_len, %eax
	jne	bad_nbi
	ret

/* seg_op: pass 0: zero %ecx bytes at %edi; pass 1: copy %ecx bytes from %esi to %edi */
seg_op:
	cmpl	$0, pass
	jne	1f
	xorl	%eax, %eax
	rep stosb
	ret
1:	rep movsb
	ret

nbi_length:
	movl	%eax, %edx
	andl	$0x0F, %eax
	shll	$2, %eax
	andl	$0xF0, %edx
	shrl	$2, %edx
	addl	%edx, %eax
	ret

segoff_linear:
	movl	%eax, %edx
	shrl	$16, %edx
	shll	$4, %edx
	andl	$0xFFFF, %eax
	addl	%edx, %eax
	ret

bad_nbi:
	movl	$s_badnbi, %esi
	jmp	die

/* ---------------------------------------------------------------- ELF */
elf:
	movl	$s_elf, %esi
	call	puts
	movl	image, %ebx
	movl	28(%ebx), %edx			/* e_phoff */
	addl	%ebx, %edx
	movzwl	44(%ebx), %ebp			/* e_phnum */
1:	testl	%ebp, %ebp
	jz	3f
	cmpl	$1, (%edx)
	jne	2f
	movl	12(%edx), %edi			/* p_paddr */
	testl	%edi, %edi
	jnz	4f
	movl	8(%edx), %edi
4:	pushl	%edi
	movl	20(%edx), %ecx			/* zero p_memsz */
	xorl	%eax, %eax
	rep stosb
	popl	%edi
	movl	4(%edx), %esi
	addl	%ebx, %esi
	movl	16(%edx), %ecx
	rep movsb
2:	movzwl	42(%ebx), %eax
	addl	%eax, %edx
	decl	%ebp
	jmp	1b
3:	movl	24(%ebx), %edi
	movl	%edi, %eax
	movl	$s_call32, %esi
	call	puts_hex
	pushl	%ebp
	call	*%edi				/* like iPXE elfboot: no arguments */
	movl	$s_returned, %esi
	jmp	die

/* ---------------------------------------------------------------- output */
fail:
	movl	$s_fail, %esi
die:
	call	puts
1:	hlt
	jmp	1b

puts:
	lodsb
	testb	%al, %al
	jz	2f
	call	putc
	jmp	puts
2:	ret

putc:
	pushl	%eax
	movw	$0x3FD, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jz	1b
	popl	%eax
	movw	$0x3F8, %dx
	outb	%al, %dx
	ret

/* puts_hex: string %esi, then %eax in hex, then newline */
puts_hex:
	pushl	%eax
	call	puts
	popl	%ebx
	movl	$8, %ecx
1:	roll	$4, %ebx
	movl	%ebx, %eax
	andl	$15, %eax
	movb	hexdigits(%eax), %al
	pushl	%ecx
	call	putc
	popl	%ecx
	loop	1b
	movb	$'\n', %al
	jmp	putc

	.data
	.balign	8
gdt:
	.quad	0
	.quad	0x00CF9A000000FFFF
	.quad	0x00CF92000000FFFF
	.quad	0x00009A000000FFFF		/* 16-bit code, base 0 */
	.quad	0x000092000000FFFF		/* 16-bit data, base 0 */
gdt_end:
gdtr:	.word	gdt_end - gdt - 1
	.long	gdt
ebinfo:	.byte	1, 0
	.word	0
mbi:		.long	0
mem_upper:	.long	0
image:		.long	0
image_len:	.long	0
bootp:		.long	0
hdrloc:		.long	0
pass:		.long	0
offset:		.long	0
sh_off:		.long	0
prev_dest:	.long	0
prev_mem:	.long	0
hexdigits:	.ascii	"0123456789abcdef"
s_hello:	.asciz	"ramses-test-loader: started\n"
s_nbi:		.asciz	"ramses-test-loader: NBI image\n"
s_elf:		.asciz	"ramses-test-loader: ELF image\n"
s_call32:	.asciz	"ramses-test-loader: calling 32-bit entry 0x"
s_call16:	.asciz	"ramses-test-loader: far-calling 16-bit entry\n"
s_returned:	.asciz	"ramses-test-loader: image returned\n"
s_badnbi:	.asciz	"ramses-test-loader: NBI image rejected\n"
s_unknown:	.asciz	"ramses-test-loader: unknown image type\n"
s_notramp:	.asciz	"ramses-test-loader: no trampoline module\n"
s_fail:		.asciz	"ramses-test-loader: not started by a multiboot loader / no modules\n"

	.bss
	.balign	16
	.skip	8192
stack_top:
