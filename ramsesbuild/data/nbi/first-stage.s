/*
 * ramsesbuild first-stage loader for Linux netboot images (NBI "tagged" and ELF).
 *
 * Written from scratch for ramsesbuild (GPL-2.0-or-later). It does what mknbi's first
 * stage does at boot (see mknbi.md section 6), in our own way:
 *
 *   1. find the image's segments: NBI descriptors (tags 16..21) in the header block the
 *      loader passed us, or, for ELF, the program headers of the ELF header that layout
 *      "ramses" loads 0x200 bytes below the entry point;
 *   2. copy the command line (tag 17) into a buffer inside this blob;
 *   3. if the loader passed a BOOTP/DHCP reply: replace nfsroot=rom by the root path
 *      (option 17) and ip=rom by yiaddr:siaddr:router:netmask:hostname[:device(option 130)],
 *      append option 129; nfsroot=/ip= with value "kernel" or empty are removed. A rom
 *      value that cannot be filled is dropped with a warning that says why: no reply at
 *      all, or a reply without the option it needs (root-path);
 *   4. interpret vga= (writes vid_mode, removed), mem= (caps the top of memory, kept),
 *      rdbase=top|asis|0xADDR (initrd placement, removed);
 *   5. move the initrd (tag 21) to the top of memory (INT 15h E801/88h, capped by mem= and
 *      initrd_addr_max) unless rdbase says otherwise;
 *   6. patch the kernel's setup header (type_of_loader, loadflags, code32_start,
 *      ramdisk_image/size, heap_end_ptr, cmd_line_ptr or the old 0xA33F protocol);
 *   7. switch to real mode and jump to the setup code at (X+0x200) with ds=es=ss=X/16 and
 *      the stack just below this blob.
 *
 * Three flavours, chosen with --defsym FLAVOUR=n; every flavour starts at offset 0:
 *   1  16-bit entry, far-called as entry(header far ptr, bootp far ptr)   (NBI, layout 1.0)
 *   2  32-bit flat entry(ebinfo *, header linear, bootp linear), cdecl    (NBI, 1.4.4/ramses)
 *   3  32-bit flat entry with no usable arguments (iPXE elfboot)         (ELF, ramses)
 *
 * The code is position independent: in real mode CS = load address / 16 and data is
 * addressed by offset; in protected mode %ebp holds the load address and data is at
 * label(%ebp). The blob contains its own buffers and stack, so it never touches memory
 * outside itself except the image's segments, the BOOTP reply and the setup header.
 */

	.ifndef FLAVOUR
	.error "assemble with --defsym FLAVOUR=1|2|3"
	.endif

	.equ BLOB_SIZE, 6144		/* flavours 2, 3: code, buffers and stack (1.4.4 memlen) */
	.equ CMDBUF_SIZE, 1024		/* flavour 1 only; flavours 2, 3 get what remains */
	.equ LOG_SIZE, 256
	.equ STACK_SIZE, 512
	.equ OPT_SCAN_MAX, 1024		/* bytes of BOOTP options scanned after the cookie */

	.equ SEL_CODE32, 0x08
	.equ SEL_DATA32, 0x10
	.equ SEL_CODE16, 0x18
	.equ SEL_DATA16, 0x20

	/* segment table: one 16-byte slot per tag 16..21 */
	.equ SEG_ADDR, 0
	.equ SEG_LEN, 4
	.equ SEG_MEM, 8
	.equ SEG_PRESENT, 12

	/* warning bits */
	.equ W_TRUNC, 1
	.equ W_NOMEM, 2
	.equ W_IP_NOREPLY, 4		/* ip=rom dropped: the loader passed no BOOTP reply */
	.equ W_NFS_NOREPLY, 8		/* nfsroot=rom dropped: no BOOTP reply */
	.equ W_NFS_NOOPT, 16		/* nfsroot=rom dropped: the reply has no root-path (17) */

	.text
	.globl _start
_start:

/* ---------------------------------------------------------------- entry points */

	.if FLAVOUR == 1
	.code16
	/* far call: [sp] ip, [sp+2] cs, [sp+4] header off:seg, [sp+8] bootp off:seg */
	cli
	movw	%sp, %bp
	movzwl	6(%bp), %eax
	shll	$4, %eax
	movzwl	4(%bp), %edx
	addl	%edx, %eax
	movl	%eax, %cs:header_lin
	movzwl	10(%bp), %eax
	shll	$4, %eax
	movzwl	8(%bp), %edx
	addl	%edx, %eax
	movl	%eax, %cs:bootp_lin
	jmp	common_rm
	.else
	.code32
	cli
	call	1f
1:	popl	%ebp
	subl	$1b, %ebp			/* %ebp = our load address */
	.if FLAVOUR == 2
	movl	8(%esp), %eax			/* cdecl: ebinfo *, header, bootp */
	movl	%eax, header_lin(%ebp)
	movl	12(%esp), %eax
	movl	%eax, bootp_lin(%ebp)
	.else
	leal	-0x200(%ebp), %eax		/* layout ramses loads the ELF header here */
	movl	%eax, elf_lin(%ebp)
	.endif
	call	load_gdt32
	movw	$common_rm, rm_target(%ebp)
	jmp	go_rm

/* load_gdt32: patch the GDT for load address %ebp and load it (32-bit, flat DS) */
load_gdt32:
	movl	%ebp, %eax
	call	patch_gdt_fields32
	lgdt	gdtr(%ebp)
	ret

patch_gdt_fields32:			/* %eax = base */
	movl	%eax, base_lin(%ebp)
	movw	%ax, gdt_code16+2(%ebp)
	movw	%ax, gdt_data16+2(%ebp)
	shrl	$16, %eax
	movb	%al, gdt_code16+4(%ebp)
	movb	%al, gdt_data16+4(%ebp)
	movl	%ebp, %eax
	shrl	$4, %eax
	movw	%ax, rm_seg(%ebp)
	leal	gdt(%ebp), %eax
	movl	%eax, gdtr+2(%ebp)
	leal	pm_entry(%ebp), %eax
	movl	%eax, pm_jump(%ebp)
	ret
	.endif

/* ---------------------------------------------------------------- mode switches */

	.code32
/* go_rm: leave protected mode and continue in real mode at rm_target (offset, CS = base/16) */
go_rm:
	cli
	ljmp	$SEL_CODE16, $pm16
	.code16
pm16:
	movw	$SEL_DATA16, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$stack_top, %esp
	movl	%cr0, %eax
	andb	$0xFE, %al
	movl	%eax, %cr0
	pushw	rm_seg
	pushw	rm_target
	lret

/* rm_enter: first thing at every real-mode target */
	.macro	RM_ENTER
	movw	%cs, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$stack_top, %esp
	lidt	rm_idtr
	.endm

common_rm:
	RM_ENTER
	/* (re)compute the GDT fields from CS: flavour 1 arrives here first */
	movzwl	%ax, %eax
	movw	%ax, rm_seg
	shll	$4, %eax
	movl	%eax, base_lin
	movw	%ax, gdt_code16+2
	movw	%ax, gdt_data16+2
	movl	%eax, %edx
	shrl	$16, %edx
	movb	%dl, gdt_code16+4
	movb	%dl, gdt_data16+4
	movl	%eax, %edx
	addl	$gdt, %edx
	movl	%edx, gdtr+2
	addl	$pm_entry, %eax
	movl	%eax, pm_jump
	sti
	call	query_memory
	cli
	/* go_pm: enter flat protected mode at pm_entry */
	movl	base_lin, %ebp
	lgdtl	gdtr
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ljmpl	*pm_jump

	.code32
pm_entry:
	movl	$SEL_DATA32, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	leal	stack_top(%ebp), %esp
	cld
	call	main32
	movl	%eax, status(%ebp)
	movw	$rm_final, rm_target(%ebp)
	jmp	go_rm

	.code16
rm_final:
	RM_ENTER
	sti
	movw	$logbuf, %si
	call	print
	call	flush_console
	movw	status, %si
	testw	%si, %si
	jz	boot_linux
	pushw	%si
	movw	$s_error, %si
	call	print
	popw	%si
	call	print
	movw	$s_newline, %si
	call	print
	call	flush_console
halt:
	cli
	hlt
	jmp	halt

boot_linux:
	cli
	movw	kseg, %ax
	movw	ksp, %dx
	movw	%ax, %bx
	addw	$0x20, %bx			/* setup code follows the 512-byte boot sector */
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movzwl	%dx, %esp
	pushw	%bx
	pushw	$0
	lret

/* query_memory: top of contiguous RAM from 1 MiB (E801, then 88h) -> mem_top (0 = unknown) */
query_memory:
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	movw	$0xE801, %ax
	int	$0x15
	jc	2f
	testw	%cx, %cx
	jnz	1f
	testw	%dx, %dx
	jnz	1f
	movw	%ax, %cx			/* some BIOSes answer in AX/BX only */
	movw	%bx, %dx
1:	movzwl	%dx, %edx
	testl	%edx, %edx
	jz	3f
	cmpl	$0xFEFF, %edx
	jbe	4f
	movl	$0xFEFF, %edx			/* stay below 4 GiB */
4:	shll	$16, %edx
	addl	$0x1000000, %edx
	movl	%edx, mem_top
	ret
3:	movzwl	%cx, %ecx
	shll	$10, %ecx
	addl	$0x100000, %ecx
	movl	%ecx, mem_top
	ret
2:	movb	$0x88, %ah
	int	$0x15
	jc	5f
	movzwl	%ax, %eax
	shll	$10, %eax
	addl	$0x100000, %eax
	movl	%eax, mem_top
	ret
5:	movl	$0, mem_top
	ret

/* print: NUL-terminated string at %ds:%si to the BIOS console ("\n" -> "\r\n") */
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

/*
 * flush_console: a BIOS that mirrors int 10h text to a serial port (SeaBIOS's serial console,
 * qemu -nographic) holds back the last character and cursor move of a line until its next
 * event check, which runs from the timer interrupt; Linux then writes to the UART itself and
 * its first line would run into ours. Waiting for two timer ticks (at most ~110 ms) with
 * interrupts on lets the BIOS catch up.
 */
flush_console:
	sti
	hlt
	hlt
	ret

putc:
	pushw	%ax
	pushw	%bx
	movb	$0x0E, %ah
	movw	$0x0007, %bx
	int	$0x10
	popw	%bx
	popw	%ax
	ret

/* ---------------------------------------------------------------- the work (32-bit flat) */

	.code32
/*
 * main32: everything between "loaded" and "jump to setup".
 * In: %ebp = load address. Out: %eax = 0, or the offset of an error message.
 * Register use in the helpers: %ebx is preserved (main32 keeps X, the boot sector
 * address, in it); %eax %ecx %edx %esi %edi are scratch unless stated.
 */
main32:
	pushl	%ebx
	movl	$0, loglen(%ebp)
	movb	$0, logbuf(%ebp)
	call	find_segments
	testl	%eax, %eax
	jnz	9f
	movl	segtab+2*16+SEG_ADDR(%ebp), %ebx	/* tag 18: boot sector at X */
	leal	0x200(%ebx), %eax
	cmpl	segtab+3*16+SEG_ADDR(%ebp), %eax	/* tag 19 must follow at X+0x200 */
	jne	e_setup
	cmpw	$0xAA55, 0x1FE(%ebx)
	jne	e_setup
	cmpl	$0x53726448, 0x202(%ebx)		/* "HdrS" */
	jne	e_setup
	movzwl	0x206(%ebx), %eax
	movl	%eax, kver(%ebp)
	cmpl	$0x0201, %eax
	jb	e_setup
	movl	%ebp, %eax
	subl	%ebx, %eax				/* kernel stack top: just below us */
	cmpl	$0x400, %eax
	jb	e_place
	cmpl	$0xFFF0, %eax
	ja	e_place
	movl	%eax, ksp(%ebp)
	call	copy_cmdline
	call	parse_bootp
	call	do_nfsroot
	call	do_ip
	call	do_opt129
	call	do_vga
	call	do_mem
	call	do_rdbase
	call	do_initrd
	call	patch_setup
	call	log_warnings
	movl	$s_start, %esi
	call	log_str
	movl	rd_dest(%ebp), %eax
	testl	%eax, %eax
	jz	1f
	movl	$s_initrd_at, %esi
	call	log_str
	movl	rd_dest(%ebp), %eax
	call	log_hex
	movl	$s_rparen, %esi
	call	log_str
1:	movl	$s_newline, %esi
	call	log_str
	xorl	%eax, %eax
9:	popl	%ebx
	ret
e_setup:
	movl	$s_e_setup, %eax
	jmp	9b
e_place:
	movl	$s_e_place, %eax
	jmp	9b

/* find_segments: fill segtab from the NBI descriptors or the ELF program headers */
find_segments:
	.if FLAVOUR == 3
	movl	elf_lin(%ebp), %esi
	cmpl	$0x464C457F, (%esi)			/* "\x7fELF" */
	jne	e_noelf
	movl	28(%esi), %edx				/* e_phoff */
	addl	%esi, %edx
	movzwl	42(%esi), %ecx				/* e_phentsize */
	movzwl	44(%esi), %eax				/* e_phnum */
	leal	segtab(%ebp), %edi
	movl	$6, %ebx
1:	testl	%eax, %eax
	jz	3f
	cmpl	$1, (%edx)				/* PT_LOAD */
	jne	2f
	cmpl	$0, 4(%edx)				/* p_offset 0: the header block itself */
	je	2f
	testl	%ebx, %ebx
	jz	2f
	movl	12(%edx), %esi				/* p_paddr */
	movl	%esi, SEG_ADDR(%edi)
	movl	16(%edx), %esi
	movl	%esi, SEG_LEN(%edi)
	movl	20(%edx), %esi
	movl	%esi, SEG_MEM(%edi)
	movl	$1, SEG_PRESENT(%edi)
	addl	$16, %edi
	decl	%ebx
2:	addl	%ecx, %edx
	decl	%eax
	jmp	1b
	.else
	movl	header_lin(%ebp), %esi
	cmpl	$0x1B031336, (%esi)
	jne	e_magic
	movzbl	4(%esi), %eax
	call	nbi_length
	movl	%eax, %edx				/* offset of the first descriptor */
1:	cmpl	$512-16, %edx
	ja	e_table
	movzbl	(%esi,%edx), %eax
	testl	%eax, %eax
	jz	e_table
	movzbl	3(%esi,%edx), %ecx			/* flags */
	testb	$3, %cl
	jnz	e_mode
	movzbl	1(%esi,%edx), %edi			/* tag */
	subl	$16, %edi
	cmpl	$5, %edi
	ja	2f
	shll	$4, %edi
	leal	segtab(%ebp,%edi), %edi
	movl	4(%esi,%edx), %ebx
	movl	%ebx, SEG_ADDR(%edi)
	movl	8(%esi,%edx), %ebx
	movl	%ebx, SEG_LEN(%edi)
	movl	12(%esi,%edx), %ebx
	movl	%ebx, SEG_MEM(%edi)
	movl	$1, SEG_PRESENT(%edi)
2:	testb	$4, %cl					/* LAST */
	jnz	3f
	call	nbi_length
	addl	%eax, %edx
	jmp	1b
	.endif
3:	movl	$17, %ecx
4:	movl	%ecx, %eax
	subl	$16, %eax
	shll	$4, %eax
	cmpl	$0, segtab+SEG_PRESENT(%ebp,%eax)
	je	e_missing
	incl	%ecx
	cmpl	$20, %ecx
	jbe	4b
	xorl	%eax, %eax
	ret
e_missing:
	movl	$s_e_missing, %eax
	ret
	.if FLAVOUR == 3
e_noelf:
	movl	$s_e_noelf, %eax
	ret
	.else
e_magic:
	movl	$s_e_magic, %eax
	ret
e_table:
	movl	$s_e_table, %eax
	ret
e_mode:
	movl	$s_e_mode, %eax
	ret

/* nbi_length: %eax = nibble-coded length byte -> bytes; clobbers %ebx */
nbi_length:
	movl	%eax, %ebx
	andl	$0x0F, %eax
	shll	$2, %eax
	andl	$0xF0, %ebx
	shrl	$2, %ebx
	addl	%ebx, %eax
	ret
	.endif

/* copy_cmdline: tag 17 (up to its imglen or a NUL) -> cmdbuf */
copy_cmdline:
	movl	segtab+1*16+SEG_ADDR(%ebp), %esi
	movl	segtab+1*16+SEG_LEN(%ebp), %ecx
	xorl	%edx, %edx
1:	cmpl	%ecx, %edx
	jae	2f
	movb	(%esi,%edx), %al
	testb	%al, %al
	jz	2f
	cmpl	cmdcap(%ebp), %edx
	jae	3f
	movb	%al, cmdbuf(%ebp,%edx)
	incl	%edx
	jmp	1b
3:	orb	$W_TRUNC, warn(%ebp)
2:	movl	%edx, cmdlen(%ebp)
	ret

/* parse_bootp: note where the options we use are, if bootp_lin is a BOOTREPLY with RFC 1048 cookie */
	.macro	OPTION code, var
	cmpl	$\code, %eax
	jne	10f
	movl	%esi, \var(%ebp)
	movl	%ecx, \var+4(%ebp)
10:
	.endm
parse_bootp:
	movl	bootp_lin(%ebp), %esi
	testl	%esi, %esi
	jz	9f
	cmpb	$2, (%esi)				/* op = BOOTREPLY */
	jne	9f
	cmpl	$0x63538263, 236(%esi)			/* magic cookie 99.130.83.99 */
	jne	9f
	movl	$1, have_bootp(%ebp)
	leal	240(%esi), %edi
	leal	240+OPT_SCAN_MAX(%esi), %edx
1:	cmpl	%edx, %edi
	jae	9f
	movzbl	(%edi), %eax
	testl	%eax, %eax				/* pad */
	jnz	2f
	incl	%edi
	jmp	1b
2:	cmpl	$255, %eax				/* end */
	je	9f
	movzbl	1(%edi), %ecx
	leal	2(%edi), %esi
	OPTION	1, opt_mask
	OPTION	3, opt_gw
	OPTION	12, opt_host
	OPTION	17, opt_root
	OPTION	129, opt_extra
	OPTION	130, opt_dev
	leal	2(%edi,%ecx), %edi
	jmp	1b
9:	ret

/* ---------------------------------------------------------------- command-line editing */

/* append_byte: %al -> end of cmdbuf (sets W_TRUNC when full); clobbers %edx */
append_byte:
	movl	cmdlen(%ebp), %edx
	cmpl	cmdcap(%ebp), %edx
	jae	1f
	movb	%al, cmdbuf(%ebp,%edx)
	incl	%edx
	movl	%edx, cmdlen(%ebp)
	ret
1:	orb	$W_TRUNC, warn(%ebp)
	ret

/* append_mem: %esi linear, %ecx max bytes, stops at NUL; clobbers %eax %ecx %edx %esi */
append_mem:
	jecxz	2f
1:	lodsb
	testb	%al, %al
	jz	2f
	call	append_byte
	loop	1b
2:	ret

/* append_str: %esi = offset of a NUL-terminated string in this blob */
append_str:
	addl	%ebp, %esi
	movl	$0xFFFF, %ecx
	jmp	append_mem

/* append_dec: %al as decimal without leading zeros; clobbers %eax %ecx %edx */
append_dec:
	movzbl	%al, %eax
	movb	$10, %cl
	divb	%cl				/* %al = n/10, %ah = ones */
	pushl	%eax
	movzbl	%al, %eax
	divb	%cl				/* %al = hundreds, %ah = tens */
	pushl	%eax
	testb	%al, %al
	jz	1f
	addb	$'0', %al
	call	append_byte
1:	popl	%eax
	orb	%ah, %al			/* hundreds or tens non-zero: print tens */
	jz	2f
	movb	%ah, %al
	addb	$'0', %al
	call	append_byte
2:	popl	%eax
	movb	%ah, %al
	addb	$'0', %al
	jmp	append_byte

/* append_ip: %eax = IPv4 address as stored in the packet; nothing for 0.0.0.0; clobbers all but %ebx */
append_ip:
	testl	%eax, %eax
	jz	3f
	pushl	%ebx
	movl	%eax, %ebx
	movl	$4, %esi
1:	movb	%bl, %al
	call	append_dec
	shrl	$8, %ebx
	decl	%esi
	jz	2f
	movb	$'.', %al
	call	append_byte
	jmp	1b
2:	popl	%ebx
3:	ret

/*
 * get_param: find the token "<name>..." (at the start or after a space).
 * In: %esi = offset of name, %ecx = its length. Out: CF=1 if absent, else tok_start,
 * tok_end, arg_idx, arg_len set (indexes into cmdbuf).
 */
get_param:
	pushl	%ebx
	addl	%ebp, %esi
	leal	cmdbuf(%ebp), %edi
	xorl	%ebx, %ebx
1:	movl	cmdlen(%ebp), %eax
	subl	%ebx, %eax
	cmpl	%ecx, %eax
	jb	6f				/* fewer characters left than the name: absent */
	testl	%ebx, %ebx
	jz	2f
	cmpb	$' ', -1(%edi,%ebx)
	jne	3f
2:	pushl	%ecx
	pushl	%esi
	pushl	%edi
	addl	%ebx, %edi
	repe cmpsb
	popl	%edi
	popl	%esi
	popl	%ecx
	je	4f
3:	incl	%ebx
	jmp	1b
4:	movl	%ebx, tok_start(%ebp)
	addl	%ecx, %ebx
	movl	%ebx, arg_idx(%ebp)
	movl	%ebx, %edx			/* scan to the end of the token */
7:	cmpl	cmdlen(%ebp), %edx
	jae	8f
	cmpb	$' ', cmdbuf(%ebp,%edx)
	je	8f
	incl	%edx
	jmp	7b
8:	movl	%edx, tok_end(%ebp)
	subl	%ebx, %edx
	movl	%edx, arg_len(%ebp)
	popl	%ebx
	clc
	ret
6:	popl	%ebx
	stc
	ret

/* arg_is: ZF=1 if the current argument equals the string at offset %esi of length %ecx */
arg_is:
	cmpl	arg_len(%ebp), %ecx
	jne	1f
	addl	%ebp, %esi
	movl	arg_idx(%ebp), %edi
	leal	cmdbuf(%ebp,%edi), %edi
	repe cmpsb
1:	ret

/* remove_tok: delete [tok_start, tok_end) and one adjacent space */
remove_tok:
	movl	tok_start(%ebp), %eax
	movl	tok_end(%ebp), %edx
	movl	cmdlen(%ebp), %ecx
	cmpl	%ecx, %edx
	jae	1f
	incl	%edx				/* the space after the token */
	jmp	2f
1:	testl	%eax, %eax
	jz	2f
	decl	%eax				/* last token: the space before it */
2:	leal	cmdbuf(%ebp,%eax), %edi
	leal	cmdbuf(%ebp,%edx), %esi
	subl	%edx, %ecx
	pushl	%ecx
	rep movsb
	popl	%ecx
	addl	%eax, %ecx
	movl	%ecx, cmdlen(%ebp)
	ret

/*
 * arg_num: parse the current argument as 0xHEX or decimal.
 * Out: CF=1 if it starts with no digit; else %eax = value, %esi -> first unparsed
 * character (linear), %ecx = characters left in the argument.
 */
arg_num:
	movl	arg_idx(%ebp), %esi
	leal	cmdbuf(%ebp,%esi), %esi
	movl	arg_len(%ebp), %ecx
	xorl	%eax, %eax
	xorl	%edi, %edi			/* digits seen */
	cmpl	$2, %ecx
	jb	5f
	cmpw	$0x7830, (%esi)			/* "0x" */
	jne	5f
	addl	$2, %esi
	subl	$2, %ecx
1:	jecxz	8f
	movzbl	(%esi), %edx
	subl	$'0', %edx
	cmpl	$9, %edx
	jbe	2f
	orl	$0x20, %edx			/* fold case: 'A'-'0' | 0x20 = 'a'-'0' */
	subl	$('a'-'0'), %edx
	cmpl	$5, %edx
	ja	8f
	addl	$10, %edx
2:	shll	$4, %eax
	addl	%edx, %eax
	incl	%esi
	decl	%ecx
	incl	%edi
	jmp	1b
5:	jecxz	8f
	movzbl	(%esi), %edx
	subl	$'0', %edx
	cmpl	$9, %edx
	ja	8f
	leal	(%eax,%eax,4), %eax
	addl	%eax, %eax
	addl	%edx, %eax
	incl	%esi
	decl	%ecx
	incl	%edi
	jmp	5b
8:	testl	%edi, %edi
	jz	9f
	clc
	ret
9:	stc
	ret

/* procv: handle <name>rom|kernel|"" ; %eax = 1 if it was "rom" (token removed), else 0 */
procv:
	call	get_param
	jc	8f
	cmpl	$0, arg_len(%ebp)
	je	7f
	movl	$s_rom, %esi
	movl	$3, %ecx
	call	arg_is
	je	6f
	movl	$s_kernel, %esi
	movl	$6, %ecx
	call	arg_is
	je	7f
8:	xorl	%eax, %eax
	ret
6:	call	remove_tok
	movl	$1, %eax
	ret
7:	call	remove_tok
	xorl	%eax, %eax
	ret

/* nfsroot=rom -> nfsroot=<option 17> */
do_nfsroot:
	movl	$s_nfsroot, %esi
	movl	$8, %ecx
	call	procv
	testl	%eax, %eax
	jz	9f
	cmpl	$0, have_bootp(%ebp)
	je	7f
	cmpl	$0, opt_root(%ebp)
	je	8f
	movb	$' ', %al
	call	append_byte
	movl	$s_nfsroot, %esi
	call	append_str
	movl	opt_root(%ebp), %esi
	movl	opt_root+4(%ebp), %ecx
	jmp	append_mem
7:	orb	$W_NFS_NOREPLY, warn(%ebp)
	ret
8:	orb	$W_NFS_NOOPT, warn(%ebp)
9:	ret

/* ip=rom -> ip=yiaddr:siaddr:router:netmask:hostname[:device] */
do_ip:
	movl	$s_ip, %esi
	movl	$3, %ecx
	call	procv
	testl	%eax, %eax
	jz	9f
	cmpl	$0, have_bootp(%ebp)
	je	8f
	movb	$' ', %al
	call	append_byte
	movl	$s_ip, %esi
	call	append_str
	movl	bootp_lin(%ebp), %esi
	movl	16(%esi), %eax			/* yiaddr */
	call	append_ip
	movb	$':', %al
	call	append_byte
	movl	bootp_lin(%ebp), %esi
	movl	20(%esi), %eax			/* siaddr */
	call	append_ip
	movb	$':', %al
	call	append_byte
	movl	$opt_gw, %eax
	call	append_opt_ip
	movb	$':', %al
	call	append_byte
	movl	$opt_mask, %eax
	call	append_opt_ip
	movb	$':', %al
	call	append_byte
	movl	opt_host(%ebp), %esi
	movl	opt_host+4(%ebp), %ecx
	testl	%esi, %esi
	jz	1f
	call	append_mem
1:	movl	opt_dev(%ebp), %esi
	testl	%esi, %esi
	jz	9f
	movb	$':', %al
	call	append_byte
	movl	opt_dev(%ebp), %esi
	movl	opt_dev+4(%ebp), %ecx
	jmp	append_mem
8:	orb	$W_IP_NOREPLY, warn(%ebp)
9:	ret

/* append_opt_ip: %eax = offset of an option slot; appends its first address if >= 4 bytes */
append_opt_ip:
	movl	(%ebp,%eax), %esi
	testl	%esi, %esi
	jz	1f
	cmpl	$4, 4(%ebp,%eax)
	jb	1f
	movl	(%esi), %eax
	jmp	append_ip
1:	ret

/* option 129: appended verbatim */
do_opt129:
	movl	opt_extra(%ebp), %esi
	testl	%esi, %esi
	jz	1f
	movb	$' ', %al
	call	append_byte
	movl	opt_extra(%ebp), %esi
	movl	opt_extra+4(%ebp), %ecx
	jmp	append_mem
1:	ret

/* vga=normal|ext|extended|ask|<number>: set vid_mode (0x1FA) and drop the token */
do_vga:
	movl	$s_vga, %esi
	movl	$4, %ecx
	call	get_param
	jc	9f
	movl	$0xFFFF, %ebx
	movl	$s_normal, %esi
	movl	$6, %ecx
	call	arg_is
	je	5f
	movl	$0xFFFE, %ebx
	movl	$s_ext, %esi
	movl	$3, %ecx
	call	arg_is
	je	5f
	movl	$s_extended, %esi
	movl	$8, %ecx
	call	arg_is
	je	5f
	movl	$0xFFFD, %ebx
	movl	$s_ask, %esi
	movl	$3, %ecx
	call	arg_is
	je	5f
	call	arg_num
	jc	9f
	movl	%eax, %ebx
5:	movl	segtab+2*16+SEG_ADDR(%ebp), %eax	/* boot sector: vid_mode at 0x1FA */
	movw	%bx, 0x1FA(%eax)
	call	remove_tok
9:	movl	segtab+2*16+SEG_ADDR(%ebp), %ebx	/* restore X */
	ret

/* mem=<n>[KMG]: lower mem_top to match the kernel's idea of memory (token kept) */
do_mem:
	movl	$s_mem, %esi
	movl	$4, %ecx
	call	get_param
	jc	9f
	call	arg_num
	jc	9f
	jecxz	5f
	movb	(%esi), %dl
	orb	$0x20, %dl
	movb	$10, %cl
	cmpb	$'k', %dl
	je	2f
	movb	$20, %cl
	cmpb	$'m', %dl
	je	2f
	movb	$30, %cl
	cmpb	$'g', %dl
	jne	5f
2:	movl	$0xFFFFFFFF, %edx		/* overflow check: value must fit after the shift */
	shrl	%cl, %edx
	cmpl	%edx, %eax
	jbe	3f
	movl	$0xFFFFF000, %eax
	jmp	5f
3:	shll	%cl, %eax
5:	movl	mem_top(%ebp), %edx
	testl	%edx, %edx
	jz	6f
	cmpl	%edx, %eax
	jae	9f
6:	movl	%eax, mem_top(%ebp)
9:	ret

/* rdbase=top|asis|0xADDR: where the initrd goes; token removed */
do_rdbase:
	movl	$s_rdbase, %esi
	movl	$7, %ecx
	call	get_param
	jc	9f
	movl	$s_top, %esi
	movl	$3, %ecx
	call	arg_is
	je	7f
	movl	$s_asis, %esi
	movl	$4, %ecx
	call	arg_is
	jne	1f
	movl	$1, rd_mode(%ebp)
	jmp	7f
1:	call	arg_num
	jc	7f
	andl	$0xFFFFF000, %eax
	movl	%eax, rd_fixed(%ebp)
	movl	$2, rd_mode(%ebp)
7:	call	remove_tok
9:	ret

/* do_initrd: move tag 21 where rd_mode says and tell the kernel (ramdisk_image/size) */
do_initrd:
	cmpl	$0, segtab+5*16+SEG_PRESENT(%ebp)
	je	9f
	movl	segtab+5*16+SEG_ADDR(%ebp), %esi
	movl	segtab+5*16+SEG_LEN(%ebp), %ecx
	testl	%ecx, %ecx
	jz	9f
	movl	%esi, %edi
	movl	rd_mode(%ebp), %eax
	cmpl	$1, %eax
	je	5f
	cmpl	$2, %eax
	jne	1f
	movl	rd_fixed(%ebp), %edi
	jmp	5f
1:	movl	mem_top(%ebp), %eax		/* top: highest 4 KiB-aligned spot below the limits */
	testl	%eax, %eax
	jnz	2f
	orb	$W_NOMEM, warn(%ebp)
	jmp	5f
2:	movl	$0x38000000, %edx		/* protocol < 2.03: the documented limit */
	cmpl	$0x0203, kver(%ebp)
	jb	3f
	movl	0x22C(%ebx), %edx		/* initrd_addr_max */
	incl	%edx
	jnz	3f
	decl	%edx				/* 0xFFFFFFFF + 1 overflowed: no limit */
3:	cmpl	%edx, %eax
	jbe	4f
	movl	%edx, %eax
4:	subl	%ecx, %eax
	jb	5f
	andl	$0xFFFFF000, %eax
	cmpl	%esi, %eax
	jb	5f				/* never move it down */
	movl	%eax, %edi
5:	movl	%edi, 0x218(%ebx)		/* ramdisk_image */
	movl	%ecx, 0x21C(%ebx)		/* ramdisk_size */
	movl	%edi, rd_dest(%ebp)
	cmpl	%esi, %edi
	je	9f
	jb	6f
	leal	-1(%esi,%ecx), %esi		/* overlapping move upwards: copy backwards */
	leal	-1(%edi,%ecx), %edi
	std
	rep movsb
	cld
	ret
6:	rep movsb
9:	ret

/* patch_setup: the boot-protocol fields a loader fills in (Documentation/x86/boot.rst) */
patch_setup:
	movb	$0x41, 0x210(%ebx)		/* type_of_loader: Etherboot/iPXE family (4), version 1 */
	movb	$0x80, %al			/* CAN_USE_HEAP */
	movl	segtab+4*16+SEG_ADDR(%ebp), %edx
	cmpl	$0x100000, %edx
	jb	1f
	orb	$0x01, %al			/* LOADED_HIGH */
	movl	%edx, 0x214(%ebx)		/* code32_start */
1:	movb	%al, 0x211(%ebx)
	movl	ksp(%ebp), %eax
	subl	$0x200, %eax
	movw	%ax, 0x224(%ebx)		/* heap_end_ptr: heap and stack end below this blob */
	movl	$255, %edx			/* command line limit before protocol 2.06 */
	cmpl	$0x0206, kver(%ebp)
	jb	2f
	movl	0x238(%ebx), %edx		/* cmdline_size */
2:	cmpl	%edx, cmdlen(%ebp)
	jbe	3f
	movl	%edx, cmdlen(%ebp)
	orb	$W_TRUNC, warn(%ebp)
3:	movl	cmdlen(%ebp), %edx
	movb	$0, cmdbuf(%ebp,%edx)
	leal	cmdbuf(%ebp), %eax
	cmpl	$0x0202, kver(%ebp)
	jb	4f
	movl	%eax, 0x228(%ebx)		/* cmd_line_ptr */
	jmp	5f
4:	movw	$0xA33F, 0x20(%ebx)		/* old protocol: magic + offset from X */
	subl	%ebx, %eax
	movw	%ax, 0x22(%ebx)
5:	movl	%ebx, %eax
	shrl	$4, %eax
	movw	%ax, kseg(%ebp)
	ret

/* ---------------------------------------------------------------- messages */

/* log_str: append the NUL-terminated string at offset %esi to logbuf */
log_str:
	addl	%ebp, %esi
	movl	loglen(%ebp), %edx
1:	lodsb
	testb	%al, %al
	jz	2f
	cmpl	$LOG_SIZE-1, %edx
	jae	2f
	movb	%al, logbuf(%ebp,%edx)
	incl	%edx
	jmp	1b
2:	movb	$0, logbuf(%ebp,%edx)
	movl	%edx, loglen(%ebp)
	ret

/* log_hex: %eax as 0x%08x */
log_hex:
	pushl	%ebx
	movl	%eax, %ebx
	movl	$s_0x, %esi
	call	log_str
	movl	$8, %ecx
1:	roll	$4, %ebx
	movl	%ebx, %eax
	andl	$0x0F, %eax
	movb	hexdigits(%ebp,%eax), %al
	movl	loglen(%ebp), %edx
	cmpl	$LOG_SIZE-1, %edx
	jae	2f
	movb	%al, logbuf(%ebp,%edx)
	incl	%edx
	movb	$0, logbuf(%ebp,%edx)
	movl	%edx, loglen(%ebp)
2:	loop	1b
	popl	%ebx
	ret

/* log_warnings: one line per problem, each naming what was dropped and why */
	.macro	LOG_IF bit, msg
	testb	$\bit, warn(%ebp)
	jz	10f
	movl	$\msg, %esi
	call	log_str
10:
	.endm
log_warnings:
	LOG_IF	W_TRUNC, s_w_trunc
	movb	warn(%ebp), %al
	andb	$(W_IP_NOREPLY|W_NFS_NOREPLY), %al
	jz	1f
	movl	$s_w_noreply, %esi		/* "no BOOTP reply, dropped ip=rom/nfsroot=rom" */
	call	log_str
	LOG_IF	W_IP_NOREPLY, s_iprom
	movb	warn(%ebp), %al
	andb	$(W_IP_NOREPLY|W_NFS_NOREPLY), %al
	cmpb	$(W_IP_NOREPLY|W_NFS_NOREPLY), %al
	jne	2f
	movl	$s_slash, %esi
	call	log_str
2:	LOG_IF	W_NFS_NOREPLY, s_nfsrom
	movl	$s_newline, %esi
	call	log_str
1:	LOG_IF	W_NFS_NOOPT, s_w_noroot
	LOG_IF	W_NOMEM, s_w_nomem
	ret

s_start:	.asciz	"ramses-nbi: starting Linux"
s_initrd_at:	.asciz	" (initrd at "
s_rparen:	.asciz	")"
s_newline:	.asciz	"\n"
s_0x:		.asciz	"0x"
s_error:	.asciz	"ramses-nbi: error: "
s_w_trunc:	.asciz	"ramses-nbi: warning: command line truncated\n"
s_w_noreply:	.asciz	"ramses-nbi: warning: no BOOTP reply, dropped "
s_iprom:	.asciz	"ip=rom"
s_slash:	.asciz	"/"
s_nfsrom:	.asciz	"nfsroot=rom"
s_w_noroot:	.asciz	"ramses-nbi: warning: DHCP reply has no root-path (opt 17): dropped nfsroot=rom\n"
s_w_nomem:	.asciz	"ramses-nbi: warning: memory size unknown, initrd left in place\n"
s_e_setup:	.asciz	"no Linux setup header (HdrS, protocol >= 2.01) at tag 18/19"
s_e_place:	.asciz	"first stage must be loaded 1-64 KiB above the boot sector"
s_e_missing:	.asciz	"segments for tags 17-20 missing"
	.if FLAVOUR == 3
s_e_noelf:	.asciz	"no ELF header at entry-0x200 (ELF needs layout ramses)"
	.else
s_e_magic:	.asciz	"bad NBI header magic"
s_e_table:	.asciz	"malformed NBI segment table"
s_e_mode:	.asciz	"NBI address modes other than absolute unsupported"
	.endif
s_nfsroot:	.asciz	"nfsroot="
s_ip:		.asciz	"ip="
s_rom:		.asciz	"rom"
s_kernel:	.asciz	"kernel"
s_vga:		.asciz	"vga="
s_normal:	.asciz	"normal"
s_ext:		.asciz	"ext"
s_extended:	.asciz	"extended"
s_ask:		.asciz	"ask"
s_mem:		.asciz	"mem="
s_rdbase:	.asciz	"rdbase="
s_top:		.asciz	"top"
s_asis:		.asciz	"asis"
hexdigits:	.ascii	"0123456789ABCDEF"

/* ---------------------------------------------------------------- data */

	.balign	8
gdt:
	.quad	0
	.quad	0x00CF9A000000FFFF		/* 0x08 flat 32-bit code */
	.quad	0x00CF92000000FFFF		/* 0x10 flat 32-bit data */
gdt_code16:
	.quad	0x00009A000000FFFF		/* 0x18 16-bit code, base = load address */
gdt_data16:
	.quad	0x000092000000FFFF		/* 0x20 16-bit data, base = load address */
gdt_end:
gdtr:		.word	gdt_end - gdt - 1
		.long	0
rm_idtr:	.word	0x3FF
		.long	0
pm_jump:	.long	0
		.word	SEL_CODE32
	.balign	4
base_lin:	.long	0
header_lin:	.long	0
bootp_lin:	.long	0
elf_lin:	.long	0
mem_top:	.long	0
status:		.long	0
kver:		.long	0
ksp:		.long	0
cmdlen:		.long	0
loglen:		.long	0
tok_start:	.long	0
tok_end:	.long	0
arg_idx:	.long	0
arg_len:	.long	0
have_bootp:	.long	0
rd_mode:	.long	0
rd_fixed:	.long	0
rd_dest:	.long	0
opt_mask:	.long	0, 0			/* pointer, length */
opt_gw:		.long	0, 0
opt_host:	.long	0, 0
opt_root:	.long	0, 0
opt_extra:	.long	0, 0
opt_dev:	.long	0, 0
rm_seg:		.word	0
rm_target:	.word	0
kseg:		.word	0
warn:		.byte	0
	.balign	16
segtab:		.skip	6*16
	.if FLAVOUR == 1
	/*
	 * Layout 1.0 gives the first stage only 4096 bytes (0x92200), so its buffers and
	 * stack live after the command-line segment: load+0x1A00 = 0x93C00 .. 0x94400, inside
	 * the range the layout reserves for setup (memlen up to 0x9A000), unused after loading.
	 */
	.equ	BSS, 0x1A00
	.equ	cmdbuf, BSS
	.equ	logbuf, BSS + CMDBUF_SIZE
	.equ	stack_top, BSS + CMDBUF_SIZE + LOG_SIZE + STACK_SIZE
cmdcap:		.long	CMDBUF_SIZE - 1
	.else
cmdcap:		.long	logbuf - cmdbuf - 1	/* room for the final command line + NUL */
cmdbuf:
	.org	BLOB_SIZE - STACK_SIZE - LOG_SIZE	/* fails if the code outgrows the blob */
logbuf:		.skip	LOG_SIZE
stack_bottom:	.skip	STACK_SIZE
stack_top:
	.endif
