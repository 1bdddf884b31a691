/*
 * ramsesbuild clean-room 3Com MBA / BootWare "TCP/IP image" header that loads an Etherboot
 * NBI ("tagged") image: the first 4096 bytes of `ramsesbuild imggen -a TAGGED OUT`. Our own
 * code, written from the ROM contract (imggen.md section 8c) and the NBI draft 0.3 (as
 * Etherboot and iPXE load it); no 3Com, Etherboot or iPXE bytes. GPL-2.0-or-later.
 *
 * ROM contract (BootWare TCP/IP boot method, "extended image"):
 *   the ROM finds "ExTx" at +14, checks that the KB count at +12 fits in its INT 15h AH=88h
 *   extended memory, puts the first HeadSize (+10) bytes at 1000:0000 and the rest of the
 *   file (here: the NBI image, unchanged) at linear 0x110000, and far-returns to 1000:0000
 *   with AX = ROM segment, BX = offset of the BOOTP/DHCP reply there, CX = 0, DX = API
 *   table. No "BWAPI" at +2, so the ROM disengages (unhooks, stops the NIC) first.
 *
 * What this header does, in order:
 *   1. copies BOOTP_COPY bytes of the BOOTP/DHCP reply from AX:BX into its own buffer, then
 *      moves itself (code, that copy) to RELOC_SEG:0000, below every NBI load address: a
 *      zImage kernel goes to 0x10000, over 1000:0000;
 *   2. reads the memory size (INT 12h; INT 15h E801h, else 88h) and turns A20 on
 *      (INT 15h AX=2401h, port 92h, keyboard controller; each checked);
 *   3. in flat 32-bit protected mode (interrupts off), walks the NBI header at 0x110000 the
 *      way iPXE's nbi.c does (address modes absolute / after previous / end of memory /
 *      before previous, LAST flag, descriptors inside the 512-byte block, each segment inside
 *      the file, file length = 512 + sum of imglen, imglen <= memlen), refuses segments over
 *      this loader, in the 640K-1M hole or beyond the top of memory;
 *   4. if any segment (its memlen included) overlaps the payload - a bzImage kernel goes to
 *      0x100000, right below it - moves the whole payload above the highest segment first
 *      (copying back to front), so no source byte is overwritten before it is used;
 *   5. zero-fills every segment's memlen, then copies every segment's data (two passes, as
 *      iPXE does: one segment's bss may overlap another's data, mknbi 1.0 relies on it);
 *      the 512-byte header block goes to the header's location;
 *   6. prints one line and starts the image the way Etherboot and iPXE do:
 *      - bit 31 of the flags set: in flat 32-bit protected mode, interrupts off,
 *        cdecl call exec(ebinfo *loaderinfo, u32 header linear, u32 bootp linear)
 *      - clear: in real mode, far call exec seg:off with, above the return address,
 *        the header location (offset, segment) and the BOOTP reply (offset, segment).
 *      The BOOTP pointer is our copy of the ROM's reply. A20 stays on.
 * Errors print one line ("ramsesbuild MBA: ...") through INT 10h and stop the machine. Every
 * line stays below 80 columns.
 *
 * Python (ramsesbuild/imggen/nbiload.py) patches +12 (KB needed) and p_paylen (NBI length).
 * Needs a 386. Build (what `python -m ramsesbuild.imggen.assemble` runs; result _nbi_stub.py):
 *   as --32 -o nbi.o mba_nbi.S && ld -m elf_i386 -Ttext=0 --oformat=binary -o nbi.bin nbi.o
 */
	.equ	RELOC_SEG, 0x0100		/* where we move to: 0x1000, below all NBI segments */
	.equ	RELOC_BASE, RELOC_SEG * 16
	.equ	BOOTP_COPY, 1280		/* BOOTP header, cookie, the 1024 option bytes our first stage scans */
	.equ	MAX_SEGS, 32			/* the header block + at most 31 descriptors in 512 bytes */
	.equ	STACK_SIZE, 1024
	.equ	NBI_MAGIC, 0x1B031336
	.equ	NBI_LINEAR, 0x80000000
	.equ	PAYLOAD, 0x110000

	.equ	SEL_CODE32, 0x08
	.equ	SEL_DATA32, 0x10
	.equ	SEL_CODE16, 0x18
	.equ	SEL_DATA16, 0x20

	/* segment table entry */
	.equ	SEG_DEST, 0
	.equ	SEG_FILESZ, 4
	.equ	SEG_MEMSZ, 8
	.equ	SEG_OFF, 12

	.text
	.code16
	.globl	_start
_start:
	jmp	entry				/* 0x000 */

	.org	0x0a
hdr_headsize:	.word	0x1000		/* 0x00A: bytes the ROM puts at 1000:0000 */
hdr_extkb:	.word	0		/* 0x00C: KB of extended memory needed (patched) */
hdr_extsig:	.ascii	"ExTx"		/* 0x00E: extended-image signature */
hdr_name:	.asciz	"ramsesbuild"	/* 0x012: description, NUL padded to 0x020 */

	.org	0x20			/* parameter block, read by `ramsesbuild imggen -i` */
p_magic:	.ascii	"RBNB"		/* 0x020 */
p_version:	.byte	1		/* 0x024 */
p_flags:	.byte	0		/* 0x025: reserved */
p_bootp_copy:	.word	BOOTP_COPY	/* 0x026: bytes of the BOOTP reply copied */
p_paylen:	.long	0		/* 0x028: NBI image length (patched) */
p_payload:	.long	PAYLOAD		/* 0x02C: where the ROM puts it */
p_relocseg:	.word	RELOC_SEG	/* 0x030: where this header moves to */
p_resbytes:	.word	res_end		/* 0x032: bytes moved */
p_lowend:	.word	low_end		/* 0x034: end of everything we use there */
p_maxsegs:	.word	MAX_SEGS	/* 0x036 */

	.org	0x40
entry:
	cli				/* the ROM's stack may lie where we move to */
	cld
	movw	%cs, %dx
	movw	%dx, %es
	movw	%ax, %es:rom_seg
	movw	%bx, %es:rom_off
	movzwl	%ax, %eax		/* AX:BX -> normalised DS:SI */
	shll	$4, %eax
	movzwl	%bx, %ebx
	addl	%ebx, %eax
	movl	%eax, %esi
	shrl	$4, %eax
	movw	%ax, %ds
	andw	$0x0f, %si
	movw	$bootp_buf, %di
	movw	$BOOTP_COPY, %cx
	rep	movsb
	movw	%dx, %ds		/* ourselves -> RELOC_SEG:0000 */
	movw	$RELOC_SEG, %ax
	movw	%ax, %es
	xorw	%si, %si
	xorw	%di, %di
	movw	$res_end, %cx
	rep	movsb
	ljmp	$RELOC_SEG, $relocated

relocated:
	movw	%cs, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	$stack_top, %esp
	sti
	movw	$s_banner, %si
	call	say
	movl	p_paylen, %eax
	call	print_hex
	movw	$s_bytes, %si
	call	print
	int	$0x12
	movzwl	%ax, %eax
	shll	$10, %eax
	movl	%eax, base_top
	call	query_memory
	movw	$s_e_memsize, %si
	cmpl	$0, mem_top
	je	fail
	call	a20_enable
	movw	$s_e_a20, %si
	jc	fail
	movl	$RELOC_BASE+pm_load, pm_jump
	jmp	go_pm

/* back from loading, in real mode: report, then start the image */
rm_loaded:
	movw	$s_loaded, %si
	call	say
	movl	nsegs, %eax
	decl	%eax
	call	print_dec
	movw	$s_segments, %si
	call	print
	movl	pay_base, %eax
	cmpl	p_payload, %eax
	je	1f
	movw	$s_moved, %si
	call	print
	call	print_hex
1:	movw	$s_newline, %si		/* lines stay below 80 columns */
	call	print
	testl	$NBI_LINEAR, nbi_flags
	jz	rm_exec16
	movw	$s_entry32, %si
	call	say
	movl	nbi_exec, %eax
	call	print_hex
	movw	$s_newline, %si
	call	print
	movl	$RELOC_BASE+pm_exec32, pm_jump
	jmp	go_pm

rm_exec16:
	movw	$s_entry16, %si
	call	say
	movw	nbi_exec+2, %ax
	call	print_hex16
	movb	$':', %al
	call	putc
	movw	nbi_exec, %ax
	call	print_hex16
	movw	$s_newline, %si
	call	print
	pushw	%cs			/* far pointer to the BOOTP reply */
	pushw	$bootp_buf
	pushl	nbi_loc			/* far pointer to the header: offset low, segment high */
	lcall	*nbi_exec
	movw	%cs, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	$s_returned, %si
	jmp	fail

rm_fail:
	movw	fail_msg, %si
	call	say
	cmpl	$0, fail_val
	je	1f
	movw	$s_at, %si
	call	print
	movl	fail_val, %eax
	call	print_hex
1:	movw	$s_newline, %si
	call	print
halt:					/* interrupts on: the BIOS may still flush the console */
	sti
	hlt
	jmp	halt

/* go_pm: flat 32-bit protected mode, continue at the linear address in pm_jump */
go_pm:
	cli
	lgdtl	gdtr
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ljmpl	*pm_jump

/* query_memory: end of contiguous RAM from 1 MiB (E801h, else 88h) -> mem_top (0: unknown) */
query_memory:
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	movw	$0xe801, %ax
	int	$0x15
	jc	3f
	testw	%cx, %cx		/* some BIOSes answer in AX/BX only */
	jnz	1f
	testw	%dx, %dx
	jnz	1f
	movw	%ax, %cx
	movw	%bx, %dx
1:	movzwl	%dx, %edx		/* 64 KiB blocks above 16 MiB */
	testl	%edx, %edx
	jz	2f
	cmpl	$0xfeff, %edx		/* stay below 4 GiB */
	jbe	1f
	movl	$0xfeff, %edx
1:	shll	$16, %edx
	addl	$0x1000000, %edx
	movl	%edx, mem_top
	ret
2:	movzwl	%cx, %ecx		/* KiB between 1 and 16 MiB */
	shll	$10, %ecx
	addl	$0x100000, %ecx
	movl	%ecx, mem_top
	ret
3:	movb	$0x88, %ah
	int	$0x15
	jc	4f
	movzwl	%ax, %eax
	shll	$10, %eax
	addl	$0x100000, %eax
	movl	%eax, mem_top
	ret
4:	movl	$0, mem_top
	ret

/* a20_enable: CF=0 once A20 is on (BIOS, then port 92h, then the keyboard controller) */
a20_enable:
	call	a20_check
	jnc	9f
	movw	$0x2401, %ax
	int	$0x15
	call	a20_check
	jnc	9f
	inb	$0x92, %al
	orb	$0x02, %al
	andb	$0xfe, %al		/* never the reset bit */
	outb	%al, $0x92
	call	a20_check
	jnc	9f
	call	kbc_wait
	movb	$0xd1, %al		/* write output port */
	outb	%al, $0x64
	call	kbc_wait
	movb	$0xdf, %al		/* A20 on */
	outb	%al, $0x60
	call	kbc_wait
	movw	$0x1000, %cx
1:	call	a20_check
	jnc	9f
	loop	1b
	stc
9:	ret

kbc_wait:				/* input buffer empty, bounded */
	movw	$0xffff, %cx
1:	inb	$0x64, %al
	testb	$0x02, %al
	jz	2f
	loop	1b
2:	ret

a20_check:				/* CF=0 if 0000:0500 and FFFF:0510 are different bytes */
	pushw	%ds
	pushw	%es
	xorw	%ax, %ax
	movw	%ax, %ds
	decw	%ax
	movw	%ax, %es
	movw	0x500, %bx
	movw	%es:0x510, %dx
	movw	$0xa55a, 0x500
	movw	$0x5aa5, %es:0x510
	cmpw	$0xa55a, 0x500
	movw	%dx, %es:0x510
	movw	%bx, 0x500
	popw	%es
	popw	%ds
	je	1f
	stc
	ret
1:	clc
	ret

fail:					/* "ramsesbuild MBA: " + DS:SI, then stop */
	call	say
	jmp	halt

say:					/* "ramsesbuild MBA: " + DS:SI */
	pushw	%si
	movw	$s_prefix, %si
	call	print
	popw	%si
/* print: NUL-terminated string at DS:SI through INT 10h ("\n" -> "\r\n") */
print:
	lodsb
	testb	%al, %al
	jz	2f
	cmpb	$'\n', %al
	jne	1f
	movb	$'\r', %al
	call	putc
	movb	$'\n', %al
1:	call	putc
	jmp	print
2:	ret

putc:
	pushal
	movb	$0x0e, %ah
	movw	$0x0007, %bx
	int	$0x10
	popal
	ret

print_hex:				/* "0x" + EAX as 8 hex digits */
	pushl	%eax
	movb	$'0', %al
	call	putc
	movb	$'x', %al
	call	putc
	popl	%eax
	rorl	$16, %eax
	call	print_hex16
	rorl	$16, %eax
print_hex16:				/* AX as 4 hex digits */
	movw	$4, %cx
1:	rolw	$4, %ax
	pushw	%ax
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	2f
	addb	$'A'-'9'-1, %al
2:	call	putc
	popw	%ax
	loop	1b
	ret

print_dec:				/* EAX (< 100) in decimal */
	movb	$10, %cl
	divb	%cl			/* AL = tens, AH = units */
	testb	%al, %al
	jz	1f
	addb	$'0', %al
	call	putc
1:	movb	%ah, %al
	addb	$'0', %al
	jmp	putc

/* ---------------------------------------------------------------- 32-bit part */

	.code32
/* flat data segments, our stack (the first thing at every 32-bit target) */
	.macro	PM_ENTER
	movl	$SEL_DATA32, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$RELOC_BASE+stack_top, %esp
	cld
	.endm

pm_load:
	PM_ENTER
	call	load_nbi
	testl	%eax, %eax
	jnz	pm_fail
	movl	$rm_loaded, %eax
	jmp	go_rm

pm_exec32:
	PM_ENTER
	pushl	$RELOC_BASE+bootp_buf
	pushl	RELOC_BASE+loc_lin
	pushl	$RELOC_BASE+ebinfo
	call	*RELOC_BASE+nbi_exec
	cli				/* the image returned: our GDT and segments again */
	lgdt	RELOC_BASE+gdtr
	ljmp	$SEL_CODE32, $RELOC_BASE+1f
1:	PM_ENTER
	movl	$s_returned, %eax
pm_fail:				/* EAX = message offset, fail_val = address or 0 */
	movl	%eax, RELOC_BASE+fail_msg
	movl	$rm_fail, %eax
go_rm:					/* back to real mode at offset EAX of our segment */
	movw	%ax, RELOC_BASE+rm_target
	ljmp	$SEL_CODE16, $pm16

/*
 * load_nbi: place the NBI image found at p_payload. Out: EAX = 0, or the offset of an
 * error message (fail_val = the address involved, or 0).
 */
load_nbi:
	movl	$0, RELOC_BASE+fail_val
	movl	RELOC_BASE+p_payload, %esi	/* ESI = payload, for the whole walk */
	movl	%esi, RELOC_BASE+pay_base
	movl	RELOC_BASE+p_paylen, %ecx
	leal	(%esi,%ecx), %eax
	movl	%eax, RELOC_BASE+pay_end
	movl	$s_e_magic, %eax
	cmpl	$512, %ecx
	jb	9f
	cmpl	$NBI_MAGIC, (%esi)
	jne	9f
	movl	4(%esi), %eax
	movl	%eax, RELOC_BASE+nbi_flags
	movl	12(%esi), %eax
	movl	%eax, RELOC_BASE+nbi_exec
	movl	8(%esi), %eax
	movl	%eax, RELOC_BASE+nbi_loc
	movzwl	%ax, %edx			/* location seg:off -> linear */
	shrl	$16, %eax
	shll	$4, %eax
	addl	%edx, %eax
	movl	%eax, RELOC_BASE+loc_lin
	movl	$RELOC_BASE+segtab, %edi	/* entry 0: the header block */
	movl	%eax, SEG_DEST(%edi)
	movl	$512, SEG_FILESZ(%edi)
	movl	$512, SEG_MEMSZ(%edi)
	movl	$0, SEG_OFF(%edi)
	movl	$1, RELOC_BASE+nsegs
	movl	$512, RELOC_BASE+cur_off
	movzbl	4(%esi), %eax
	call	nbi_len
	movl	%eax, %ebx			/* EBX = descriptor offset in the header block */

1:	movl	$s_e_desc, %eax			/* one descriptor */
	leal	16(%ebx), %edx
	cmpl	$512, %edx
	ja	9f
	cmpb	$0, (%esi,%ebx)
	je	9f
	movl	$s_e_many, %eax
	cmpl	$MAX_SEGS, RELOC_BASE+nsegs
	jae	9f
	movl	4(%esi,%ebx), %eax		/* load address, by address mode */
	movzbl	3(%esi,%ebx), %ecx
	andl	$3, %ecx
	jz	4f
	cmpl	$1, %ecx
	jne	2f
	addl	SEG_DEST(%edi), %eax		/* after the previous segment's memory */
	addl	SEG_MEMSZ(%edi), %eax
	jmp	4f
2:	negl	%eax
	cmpl	$2, %ecx
	jne	3f
	addl	RELOC_BASE+mem_top, %eax	/* end of memory - value */
	jmp	4f
3:	addl	SEG_DEST(%edi), %eax		/* before the previous segment */
4:	addl	$16, %edi
	movl	%eax, SEG_DEST(%edi)
	movl	%eax, RELOC_BASE+fail_val
	movl	8(%esi,%ebx), %eax
	movl	%eax, SEG_FILESZ(%edi)
	movl	12(%esi,%ebx), %ecx
	movl	%ecx, SEG_MEMSZ(%edi)
	movl	RELOC_BASE+cur_off, %edx
	movl	%edx, SEG_OFF(%edi)
	cmpl	%ecx, %eax
	movl	$s_e_imglen, %eax
	ja	9f
	addl	SEG_FILESZ(%edi), %edx
	movl	$s_e_outside, %eax
	jc	9f
	cmpl	RELOC_BASE+p_paylen, %edx
	ja	9f
	movl	%edx, RELOC_BASE+cur_off
	incl	RELOC_BASE+nsegs
	movzbl	3(%esi,%ebx), %ecx		/* LAST flag of this descriptor */
	movzbl	(%esi,%ebx), %eax
	call	nbi_len
	addl	%eax, %ebx
	movl	$0, RELOC_BASE+fail_val
	movl	$s_e_desc, %eax
	cmpl	$512, %ebx
	jae	9f
	testb	$4, %cl
	jz	1b

	movl	$s_e_length, %eax		/* 512 + sum of imglen = file length */
	movl	RELOC_BASE+cur_off, %edx
	cmpl	RELOC_BASE+p_paylen, %edx
	jne	9f

	movl	$RELOC_BASE+segtab, %edi	/* every segment's memory: allowed? overlaps payload? */
	movl	RELOC_BASE+nsegs, %ecx
	xorl	%ebp, %ebp			/* EBP = highest end */
	movl	$0, RELOC_BASE+overlap
5:	movl	SEG_DEST(%edi), %eax
	movl	%eax, RELOC_BASE+fail_val
	movl	SEG_MEMSZ(%edi), %edx
	testl	%edx, %edx
	jz	7f
	addl	%eax, %edx			/* EDX = end */
	jc	e_mem
	cmpl	$RELOC_BASE+low_end, %eax
	jb	e_low
	cmpl	$0x100000, %eax
	jae	6f
	cmpl	RELOC_BASE+base_top, %edx
	ja	e_hole
6:	cmpl	RELOC_BASE+mem_top, %edx
	ja	e_mem
	cmpl	%ebp, %edx
	jbe	61f
	movl	%edx, %ebp
61:	cmpl	RELOC_BASE+pay_end, %eax
	jae	7f
	cmpl	%esi, %edx
	jbe	7f
	movl	$1, RELOC_BASE+overlap
7:	addl	$16, %edi
	loop	5b
	movl	$0, RELOC_BASE+fail_val

	cmpl	$0, RELOC_BASE+overlap		/* move the payload above every segment */
	je	8f
	leal	0xfff(%ebp), %edi
	andl	$0xfffff000, %edi
	movl	RELOC_BASE+p_paylen, %ecx
	addl	$3, %ecx
	shrl	$2, %ecx
	leal	(%edi,%ecx,4), %eax
	movl	%eax, RELOC_BASE+fail_val
	cmpl	RELOC_BASE+mem_top, %eax
	ja	e_nomove
	movl	%edi, RELOC_BASE+pay_base
	leal	-4(%esi,%ecx,4), %esi
	leal	-4(%edi,%ecx,4), %edi
	std
	rep	movsl
	cld
	movl	$0, RELOC_BASE+fail_val

8:	movl	$RELOC_BASE+segtab, %ebx	/* zero-fill every segment's memory */
	movl	RELOC_BASE+nsegs, %ebp
1:	movl	SEG_DEST(%ebx), %edi
	movl	SEG_MEMSZ(%ebx), %ecx
	xorl	%eax, %eax
	call	fill
	addl	$16, %ebx
	decl	%ebp
	jnz	1b
	movl	$RELOC_BASE+segtab, %ebx	/* then copy every segment's data */
	movl	RELOC_BASE+nsegs, %ebp
1:	movl	SEG_DEST(%ebx), %edi
	movl	RELOC_BASE+pay_base, %esi
	addl	SEG_OFF(%ebx), %esi
	movl	SEG_FILESZ(%ebx), %ecx
	call	copy
	addl	$16, %ebx
	decl	%ebp
	jnz	1b
	xorl	%eax, %eax
9:	ret

e_low:
	movl	$s_e_low, %eax
	ret
e_hole:
	movl	$s_e_hole, %eax
	ret
e_mem:
	movl	$s_e_mem, %eax
	ret
e_nomove:
	movl	$s_e_nomove, %eax
	ret

nbi_len:				/* EAX = nibble-coded length byte -> bytes; clobbers EDX */
	movl	%eax, %edx
	andl	$0x0f, %eax
	shll	$2, %eax
	andl	$0xf0, %edx
	shrl	$2, %edx
	addl	%edx, %eax
	ret

fill:					/* ECX bytes of AL at EDI */
	movl	%ecx, %edx
	shrl	$2, %ecx
	rep	stosl
	movl	%edx, %ecx
	andl	$3, %ecx
	rep	stosb
	ret

copy:					/* ECX bytes from ESI to EDI, forwards */
	movl	%ecx, %edx
	shrl	$2, %ecx
	rep	movsl
	movl	%edx, %ecx
	andl	$3, %ecx
	rep	movsb
	ret

	.code16
pm16:					/* 16-bit protected mode, base RELOC_BASE: leave it */
	movw	$SEL_DATA16, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$stack_top, %esp
	movl	%cr0, %eax
	andb	$0xfe, %al
	movl	%eax, %cr0
	ljmp	$RELOC_SEG, $1f
1:	movw	%cs, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$stack_top, %esp
	sti
	jmp	*rm_target

/* ---------------------------------------------------------------- data (moved with us) */

	.balign	8
gdt:	.quad	0
	.quad	0x00cf9a000000ffff		/* 0x08 flat 32-bit code */
	.quad	0x00cf92000000ffff		/* 0x10 flat 32-bit data */
	.word	0xffff, RELOC_BASE & 0xffff	/* 0x18 16-bit code, base RELOC_BASE */
	.byte	RELOC_BASE >> 16, 0x9a, 0x00, 0x00
	.word	0xffff, RELOC_BASE & 0xffff	/* 0x20 16-bit data, base RELOC_BASE */
	.byte	RELOC_BASE >> 16, 0x92, 0x00, 0x00
gdt_end:
gdtr:	.word	gdt_end - gdt - 1
	.long	RELOC_BASE + gdt
pm_jump: .long	0				/* far pointer: linear offset, selector */
	.word	SEL_CODE32
ebinfo:	.byte	5, 4				/* loader version, as Etherboot 5.4 passes it */
	.word	0				/* flags */

	.balign	4
rom_seg:	.word	0			/* AX and BX at entry */
rom_off:	.word	0
base_top:	.long	0			/* INT 12h, in bytes */
mem_top:	.long	0			/* end of RAM from 1 MiB */
pay_base:	.long	0			/* where the payload is (moved or not) */
pay_end:	.long	0
nbi_flags:	.long	0
nbi_loc:	.long	0			/* header location, seg:off as in the NBI header */
loc_lin:	.long	0
nbi_exec:	.long	0			/* entry: seg:off, or linear */
nsegs:		.long	0			/* table entries, the header block included */
cur_off:	.long	0
overlap:	.long	0
fail_msg:	.long	0
fail_val:	.long	0
rm_target:	.word	0

s_prefix:	.asciz	"ramsesbuild MBA: "
s_banner:	.asciz	"NBI image, "
s_bytes:	.asciz	" bytes\n"
s_loaded:	.asciz	"placed "
s_segments:	.asciz	" segments"
s_moved:	.asciz	", payload moved to "
s_entry32:	.asciz	"starting the 32-bit entry "
s_entry16:	.asciz	"starting the 16-bit entry "
s_newline:	.asciz	"\n"
s_at:		.asciz	" at "
s_returned:	.asciz	"the NBI image returned; stopped\n"
s_e_memsize:	.asciz	"cannot read the memory size (INT 15h E801h/88h)\n"
s_e_a20:	.asciz	"cannot enable A20\n"
s_e_magic:	.asciz	"no NBI image after the header (no 36 13 03 1B)"
s_e_desc:	.asciz	"bad NBI descriptor (length 0, or past the 512-byte header)"
s_e_many:	.asciz	"more NBI segments than the loader's table holds"
s_e_imglen:	.asciz	"NBI segment has imglen > memlen"
s_e_outside:	.asciz	"NBI segment data runs past the end of the image"
s_e_length:	.asciz	"NBI image length is not 512 + the segments' imglen"
s_e_low:	.asciz	"NBI segment overlaps the loader in low memory"
s_e_hole:	.asciz	"NBI segment reaches past base memory (INT 12h)"
s_e_mem:	.asciz	"not enough memory for the NBI segment"
s_e_nomove:	.asciz	"not enough RAM to move the payload: it would end"

bootp_buf:	.fill	BOOTP_COPY, 1, 0	/* the ROM's BOOTP/DHCP reply, copied at entry */
res_end:

/* not in the file: after res_end in the moved block */
	.equ	segtab, res_end
	.equ	stack_top, segtab + MAX_SEGS * 16 + STACK_SIZE
	.equ	low_end, stack_top

/* size limits (whole header <= 4096, low_end below 0x10000 - RELOC_BASE) are checked by assemble.py */
