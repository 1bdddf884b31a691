/*
 * ramsesbuild clean-room 3Com MBA / BootWare "TCP/IP image" header (the first 4096 bytes
 * of an image made by `ramsesbuild imggen`). Our own code, written from the ROM contract
 * only (no 3Com bytes): GPL-2.0-or-later like the rest of ramsesbuild.
 *
 * ROM contract (BootWare TCP/IP boot method, "extended image"):
 *   - the ROM sees "ExTx" at +14, checks that the KB count at +12 fits in extended memory,
 *     loads the first HeadSize (+10) bytes at 1000:0000 and the rest of the file at linear
 *     0x110000, then does a far return to 1000:0000 with AX = ROM code segment,
 *     BX = offset of the BOOTP/DHCP reply in that segment, CX = 0, DX = API table,
 *     interrupts enabled;
 *   - no "BWAPI" at +2, so the ROM disengages itself (unhooks, shuts the NIC) before the
 *     hand-off: this header never has to tear down a PXE/UNDI stack.
 *
 * What this header does: make the payload at 0x110000 a 1.44 MB drive A: (80 x 2 x 18)
 * through an INT 13h hook kept in 2 KB taken from the top of base memory, then boot the
 * payload's sector 0 at 0000:7C00 with DL = 0, exactly like a floppy boot.
 *
 * INT 13h, drive 0 only (other drives go to the previous handler):
 *   00 reset, 16 change line: AH=0 CF=0      01 status: AX=0 CF=0
 *   02 read, 03 write, 04 verify: CHS range-checked (AH=04 CF=1 when outside the disk),
 *      write on a write-protected disk: AH=03 CF=1; success: AH=0 AL=count CF=0
 *   08 parameters (BL=4, 1.44 MB; ES:DI = INT 1Eh table)   15 disk type: AH=1
 *   FA installation check: CX='PC' AX=handler offset BX:DX -> copy of the BOOTP reply
 *   anything else: AH=01 CF=1
 *
 * Needs a 386 (32-bit registers for the linear arithmetic).
 *
 * Build (what `python -m ramsesbuild.imggen.assemble` runs; the result is _stub.py):
 *   as --32 -o stub.o mba_stub.S && ld -m elf_i386 -Ttext=0 --oformat=binary -o stub.bin stub.o
 */
        .code16
        .intel_syntax noprefix
        .text
        .globl  _start

        .equ    BOOTP_LEN, 548          /* max BOOTP/DHCP message without IP/UDP headers */
        .equ    RES_KB, 2               /* base memory taken for the resident part */

_start:
        jmp     short entry             /* 0x000 */

        .org    0x0a
hdr_headsize:   .word 0x1000            /* 0x00A: bytes the ROM puts at 1000:0000 */
hdr_extkb:      .word 1440              /* 0x00C: KB of extended memory the image needs */
hdr_extsig:     .ascii "ExTx"           /* 0x00E: extended-image signature */
hdr_name:       .asciz "ramsesbuild"    /* 0x012: description, NUL padded to 0x020 */

        .org    0x20                    /* our parameter block; Python patches p_flags */
p_magic:        .ascii "RBMB"           /* 0x020 */
p_version:      .byte 1                 /* 0x024 */
p_flags:        .byte 1                 /* 0x025: bit0 = write-protect the virtual floppy */
p_spt:          .word 18                /* 0x026: sectors per track */
p_heads:        .word 2                 /* 0x028 */
p_cyls:         .word 80                /* 0x02A */
p_total:        .word 2880              /* 0x02C: sectors on the virtual disk */
p_diskbase:     .long 0x110000          /* 0x02E: where the ROM put the payload */
p_resseg:       .word 0                 /* 0x032: run time: segment of the resident copy */
p_old13:        .long 0                 /* 0x034: run time: previous INT 13h vector */
p_romseg:       .word 0                 /* 0x038: run time: AX at entry */
p_rombootp:     .word 0                 /* 0x03A: run time: BX at entry */
p_bootp:        .word bootp_buf         /* 0x03C: offset of our copy of the BOOTP reply */
p_resbytes:     .word res_end           /* 0x03E: size of the resident part */
p_reskb:        .word RES_KB            /* 0x040: KB of base memory it takes */

        .org    0x48
entry:
        jmp     init

/* ---------------------------------------------------------------- resident part */

int13:
        sti
        cmp     dl, 0
        jne     chain
        cmp     ah, 0x02
        jb      i13_reset_status
        cmp     ah, 0x04
        jbe     i13_rw
        cmp     ah, 0x08
        je      i13_params
        cmp     ah, 0x15
        je      i13_type
        cmp     ah, 0x16
        je      i13_ok0
        cmp     ah, 0xfa
        je      i13_install
        mov     ah, 0x01                /* invalid function */
        jmp     i13_fail

chain:
        jmp     dword ptr cs:p_old13

i13_reset_status:                       /* 00 reset, 01 status */
        xor     al, al
i13_ok0:
        xor     ah, ah
i13_ok:                                 /* return with CF=0, AX as set */
        push    bp
        mov     bp, sp
        and     word ptr [bp+6], 0xfffe
        pop     bp
        iret

i13_fail:                               /* return with CF=1, AH = error code */
        push    bp
        mov     bp, sp
        or      word ptr [bp+6], 1
        pop     bp
        iret

i13_type:                               /* 15: diskette, no change-line support */
        mov     ah, 0x01
        jmp     i13_ok

i13_install:                            /* FA: who is there, and where is the BOOTP reply */
        mov     cx, 0x5043              /* 'PC' */
        mov     ax, offset int13
        mov     bx, cs
        mov     dx, cs:p_bootp
        jmp     i13_ok

i13_params:                             /* 08: geometry of the virtual 1.44 MB drive */
        mov     cx, cs:p_cyls
        dec     cx
        xchg    ch, cl                  /* CH = max cylinder (low 8 bits) */
        shl     cl, 6                   /* CL bits 6-7 = max cylinder bits 8-9 */
        or      cl, byte ptr cs:p_spt
        mov     dh, byte ptr cs:p_heads
        dec     dh
        mov     dl, 1                   /* one drive */
        mov     bl, 0x04                /* 1.44 MB */
        xor     ax, ax
        mov     es, ax
        les     di, es:[0x1e*4]         /* diskette parameter table */
        jmp     i13_ok

/* 02 read / 03 write / 04 verify: AL = count, CH = cyl, CL = sector | cyl bits 8-9,
 * DH = head, ES:BX = buffer. One sector per INT 15h AH=87h block move. */
i13_rw:
        pushad
        push    ds
        push    es
        push    cs
        pop     ds
        mov     bp, es                  /* buffer segment, kept for the linear address */
        mov     word ptr ret_ax, 0x0100 /* AH=01 AL=0 until proven otherwise */
        test    al, al
        jz      rw_out
        movzx   di, al                  /* DI = sectors left */
        mov     byte ptr cnt, al
        mov     byte ptr op, ah
        mov     word ptr ret_ax, 0x0400 /* sector not found */
        movzx   si, cl
        and     si, 0x3f                /* SI = sector (1-based) */
        jz      rw_out
        cmp     si, p_spt
        ja      rw_out
        movzx   ax, dh
        cmp     ax, p_heads
        jae     rw_out
        movzx   ax, cl
        shl     ax, 2
        mov     al, ch                  /* AX = cylinder (10 bits) */
        cmp     ax, p_cyls
        jae     rw_out
        movzx   cx, dh                  /* CX = head (MUL below clobbers DX) */
        mul     word ptr p_heads        /* DX:AX = cyl * heads (fits in AX) */
        add     ax, cx
        mul     word ptr p_spt
        add     ax, si
        dec     ax                      /* AX = LBA */
        mov     cx, ax
        add     cx, di
        cmp     cx, p_total
        ja      rw_out
        movzx   esi, ax                 /* ESI = LBA */
        cmp     byte ptr op, 0x03
        jne     rw_go
        test    byte ptr p_flags, 1
        jz      rw_go
        mov     word ptr ret_ax, 0x0300 /* write protected */
        jmp     rw_out
rw_go:
        cmp     byte ptr op, 0x04       /* verify: nothing to move */
        je      rw_done
        movzx   ebx, bx                 /* EBX = linear buffer address */
        movzx   eax, bp
        shl     eax, 4
        add     ebx, eax
rw_loop:
        mov     eax, esi
        shl     eax, 9
        add     eax, p_diskbase         /* EAX = linear disk address */
        cmp     byte ptr op, 0x03
        je      rw_write
        mov     edx, ebx                /* read: disk -> buffer */
        jmp     rw_move
rw_write:
        mov     edx, eax                /* write: buffer -> disk */
        mov     eax, ebx
rw_move:
        mov     word ptr gdt_src+2, ax
        shr     eax, 16
        mov     byte ptr gdt_src+4, al
        mov     byte ptr gdt_src+7, ah
        mov     word ptr gdt_dst+2, dx
        shr     edx, 16
        mov     byte ptr gdt_dst+4, dl
        mov     byte ptr gdt_dst+7, dh
        push    esi
        push    cs
        pop     es
        mov     si, offset gdt
        mov     cx, 256                 /* words */
        mov     ah, 0x87
        int     0x15
        pop     esi
        mov     word ptr ret_ax, 0x2000 /* controller failure */
        jc      rw_out
        inc     esi
        add     ebx, 512
        dec     di
        jnz     rw_loop
rw_done:
        movzx   ax, byte ptr cnt        /* AH = 0, AL = sectors done */
        mov     word ptr ret_ax, ax
rw_out:
        pop     es
        pop     ds
        popad
        mov     ax, cs:ret_ax
        test    ah, ah
        jnz     i13_fail
        jmp     i13_ok

ret_ax: .word 0
op:     .byte 0
cnt:    .byte 0
        .balign 8
gdt:    .fill   16, 1, 0                /* null + GDT alias, BIOS fills */
gdt_src:
        .word   0xffff, 0
        .byte   0, 0x93, 0, 0
gdt_dst:
        .word   0xffff, 0
        .byte   0, 0x93, 0, 0
        .fill   16, 1, 0                /* BIOS CS + SS */
bootp_buf:
        .fill   BOOTP_LEN, 1, 0
res_end:

/* ---------------------------------------------------------------- start-up (not kept) */

init:
        cli
        mov     cs:p_romseg, ax
        mov     cs:p_rombootp, bx
        xor     ax, ax
        mov     ss, ax
        mov     sp, 0x7c00
        push    cs
        pop     ds
        cld
        sti

        /* copy the ROM's BOOTP/DHCP reply before anything can overwrite it */
        push    ds
        push    cs
        pop     es
        mov     di, offset bootp_buf
        mov     si, p_rombootp
        mov     ds, p_romseg
        mov     cx, BOOTP_LEN / 2
        rep     movsw
        pop     ds

        /* take RES_KB of base memory; say a floppy drive is installed */
        push    0x40
        pop     es
        mov     ax, es:[0x13]
        sub     ax, RES_KB
        mov     es:[0x13], ax
        shl     ax, 6
        mov     p_resseg, ax
        or      byte ptr es:[0x10], 1

        /* remember the old INT 13h, copy the resident part, hook the vector */
        xor     ax, ax
        mov     es, ax
        mov     eax, es:[0x13*4]
        mov     p_old13, eax
        mov     es, p_resseg
        xor     si, si
        xor     di, di
        mov     cx, (res_end - _start + 1) / 2
        rep     movsw
        xor     ax, ax
        mov     es, ax
        mov     ax, p_resseg
        cli
        mov     word ptr es:[0x13*4], offset int13
        mov     word ptr es:[0x13*4+2], ax
        sti

        /* load the payload's boot sector through the new drive A: and start it */
        mov     bp, 3                   /* tries */
load:
        xor     ax, ax
        mov     es, ax
        mov     bx, 0x7c00
        mov     ax, 0x0201
        mov     cx, 0x0001
        xor     dx, dx
        int     0x13
        jnc     boot
        dec     bp
        jnz     load
        mov     si, offset msg_fail
        jmp     die
boot:
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        xor     dx, dx                  /* DL = 0: booted from drive A: */
        ljmp    0, 0x7c00

die:                                    /* print DS:SI with the BIOS, then stop */
        lodsb
        test    al, al
        jz      halt
        mov     ah, 0x0e
        mov     bx, 0x0007
        int     0x10
        jmp     die
halt:
        cli
        hlt
        jmp     halt

msg_fail:
        .asciz  "ramsesbuild MBA header: cannot read the payload's boot sector\r\n"

/* size limits (resident part <= RES_KB KB, whole header <= 4096) are checked by assemble.py */
