/*
 * Test payload: the floppy boot sector an MBA header must start at 0000:7C00 with DL=0.
 * It reports to COM1 (one line each) and then leaves QEMU through isa-debug-exit (port 0xf4):
 *   P:DL=.. BASEKB=.... EQUIP=.... I13=seg:off
 *   T <tag> F<CF> A<AX> W<w0>.<w1>.<w2>   for each INT 13h call in the table
 *                                         (w0..w2 = first word of the 3 sectors at ES:A000)
 *   G C<CX> D<DX> B<BX>                   INT 13h AH=08 (drive parameters)
 *   Q C<CX> <16 bytes at BX:DX>           INT 13h AH=FA (installation check, BOOTP reply)
 *   S <s1>.<s2> F<errors>                 Fletcher-style sums over all 2880 sectors read
 *                                         track by track into 1000:0000 (like Linux's bootsect)
 *   P:done
 * Sector 0 loads sectors 1-2 (the rest of this program) through INT 13h itself.
 * The rest of the disk holds the test's pattern: sector n >= 3 starts with the word n.
 */
        .code16
        .intel_syntax noprefix
        .text
        .globl  _start
        .equ    PROG_SECTORS, 3                 /* sectors 0-2 are this program */
        .equ    BUF, 0xa000                     /* ES:BUF = read buffer, above the program */
_start:
        cli
        xor     ax, ax
        mov     ss, ax
        mov     sp, 0x7c00
        mov     ds, ax
        mov     es, ax
        sti
        cld
        mov     entry_dl, dl
        mov     ax, 0x0200 + PROG_SECTORS - 1   /* the rest of this program, from drive A: */
        mov     bx, 0x7e00
        mov     cx, 0x0002
        xor     dx, dx
        int     0x13
        jnc     main
        mov     si, offset m_load
        call    puts
        cli
        hlt
putc:   push    dx
        push    ax
        mov     dx, 0x3fd
1:      in      al, dx
        test    al, 0x20
        jz      1b
        mov     dx, 0x3f8
        pop     ax
        out     dx, al
        pop     dx
        ret
puts:   lodsb
        test    al, al
        jz      1f
        call    putc
        jmp     puts
1:      ret
entry_dl: .byte 0
m_load: .asciz "P:cannot load the rest of the test program\r\n"
        .org    0x1fe
        .word   0xaa55

main:
        mov     si, offset m_hello
        call    puts
        mov     al, entry_dl
        call    hex8
        mov     si, offset m_base
        call    puts
        mov     ax, ds:[0x413]
        call    hex16
        mov     si, offset m_equip
        call    puts
        mov     ax, ds:[0x410]
        call    hex16
        mov     si, offset m_i13
        call    puts
        mov     ax, ds:[0x13*4+2]
        call    hex16
        mov     al, ':'
        call    putc
        mov     ax, ds:[0x13*4]
        call    hex16
        call    crlf

        mov     si, offset tests
next:   cmp     byte ptr [si], 0
        je      params
        push    si
        mov     es, [si+2]
        mov     di, BUF
        mov     bx, di
        mov     ax, [si+10]                     /* fill the 3 sectors with the fill word */
        mov     cx, 3 * 256
        rep     stosw
        mov     ax, [si+4]
        mov     cx, [si+6]
        mov     dx, [si+8]
        int     0x13
        pop     si
        pushf
        push    ax
        mov     al, 'T'
        call    putc
        call    space
        mov     al, [si]
        call    putc
        mov     al, [si+1]
        call    putc
        call    space
        pop     bx                              /* AX after the call */
        pop     ax                              /* flags */
        call    flag
        mov     al, 'A'
        call    putc
        mov     ax, bx
        call    hex16
        call    space
        mov     al, 'W'
        call    putc
        mov     es, [si+2]
        mov     ax, es:[BUF]
        call    hex16
        call    dot
        mov     ax, es:[BUF+0x200]
        call    hex16
        call    dot
        mov     ax, es:[BUF+0x400]
        call    hex16
        call    crlf
        add     si, 12
        jmp     next

params:
        mov     ah, 0x08
        xor     dl, dl
        int     0x13
        push    bx
        push    dx
        push    cx
        mov     al, 'G'
        call    putc
        call    space
        mov     al, 'C'
        call    putc
        pop     ax
        call    hex16
        call    space
        mov     al, 'D'
        call    putc
        pop     ax
        call    hex16
        call    space
        mov     al, 'B'
        call    putc
        pop     ax
        call    hex16
        call    crlf

        mov     ah, 0xfa
        xor     dl, dl
        int     0x13
        push    cx
        mov     al, 'Q'
        call    putc
        call    space
        mov     al, 'C'
        call    putc
        pop     ax
        call    hex16
        call    space
        mov     es, bx
        mov     di, dx
        mov     cx, 16
1:      mov     al, es:[di]
        inc     di
        call    putc
        loop    1b
        call    crlf

        /* read the whole disk track by track; Fletcher-style sums of its words */
        xor     bp, bp                          /* BP = s1, DI = s2 (after the loop) */
        xor     di, di
        mov     word ptr errs, 0
        xor     ch, ch                          /* cylinder */
cyl:    xor     dh, dh                          /* head */
head:   push    cx
        push    dx
        push    0x1000
        pop     es
        xor     bx, bx
        mov     ax, 0x0212
        mov     cl, 1
        xor     dl, dl
        push    di
        int     0x13
        pop     di
        jnc     1f
        inc     word ptr errs
1:      xor     si, si
        mov     cx, 18 * 256
2:      add     bp, es:[si]
        add     di, bp
        add     si, 2
        loop    2b
        pop     dx
        pop     cx
        inc     dh
        cmp     dh, 2
        jb      head
        inc     ch
        cmp     ch, 80
        jb      cyl
        mov     al, 'S'
        call    putc
        call    space
        mov     ax, bp
        call    hex16
        call    dot
        mov     ax, di
        call    hex16
        call    space
        mov     al, 'F'
        call    putc
        mov     ax, errs
        call    hex16
        call    crlf
        mov     si, offset m_done
        call    puts
        mov     al, 0x01
        out     0xf4, al                        /* isa-debug-exit: QEMU exits with 3 */
3:      cli
        hlt
        jmp     3b

flag:   and     al, 1                           /* "F0 " / "F1 " from FLAGS in AX */
        add     al, '0'
        push    ax
        mov     al, 'F'
        call    putc
        pop     ax
        call    putc
space:  mov     al, ' '
        jmp     putc
dot:    mov     al, '.'
        jmp     putc
crlf:   mov     al, 13
        call    putc
        mov     al, 10
        jmp     putc
hex16:  push    ax
        mov     al, ah
        call    hex8
        pop     ax
hex8:   push    ax
        shr     al, 4
        call    hex4
        pop     ax
hex4:   and     al, 0x0f
        add     al, '0'
        cmp     al, '9'
        jbe     putc
        add     al, 'A' - '9' - 1
        jmp     putc

errs:   .word 0
m_hello: .asciz "P:DL="
m_base:  .asciz " BASEKB="
m_equip: .asciz " EQUIP="
m_i13:   .asciz " I13="
m_done:  .asciz "P:done\r\n"
        /* tag(2), ES, AX, CX, DX, fill: INT 13h calls on drive A: (and one on drive 80h) */
tests:
        .ascii "RS"; .word 0, 0x0000, 0x0000, 0x0000, 0xffff  /* reset */
        .ascii "RA"; .word 0, 0x0201, 0x0001, 0x0100, 0xffff  /* C0 H1 S1  = LBA 18 */
        .ascii "RB"; .word 0, 0x0201, 0x0103, 0x0000, 0xffff  /* C1 H0 S3  = LBA 38 */
        .ascii "RC"; .word 0, 0x0203, 0x0004, 0x0000, 0xffff  /* 3 sectors from LBA 3 */
        .ascii "RL"; .word 0, 0x0201, 0x4f12, 0x0100, 0xffff  /* C79 H1 S18 = LBA 2879 */
        .ascii "RH"; .word 0x1800, 0x0201, 0x0207, 0x0100, 0xffff  /* C2 H1 S7 = LBA 96 to 1800:A000 */
        .ascii "ES"; .word 0, 0x0201, 0x0013, 0x0000, 0xffff  /* sector 19: AH=04 */
        .ascii "EC"; .word 0, 0x0201, 0x5001, 0x0000, 0xffff  /* cylinder 80: AH=04 */
        .ascii "WR"; .word 0, 0x0301, 0x3703, 0x0100, 0xbeef  /* write C55 H1 S3 = LBA 2000 */
        .ascii "RW"; .word 0, 0x0201, 0x3703, 0x0100, 0xffff  /* read LBA 2000 back */
        .ascii "VF"; .word 0, 0x0401, 0x0001, 0x0000, 0xffff  /* verify */
        .ascii "HD"; .word 0, 0x0201, 0x0001, 0x0080, 0xffff  /* drive 80h: chained to the BIOS */
        .byte  0
        .org    PROG_SECTORS * 512
