; pg3 compute workload: a kernel starts one user process that computes for a long time.
;
; The process runs a multiply-accumulate loop over a table in its own memory; the kernel
; only takes timer interrupts (every 500 instructions) and the final exit call. Nearly
; every instruction is innocuous, so under a trap-and-emulate monitor nearly all of it
; runs directly. Runs ~ 7.4 M instructions before it exits; benchmarks bound it with a
; step budget.

.org 0
        .word 0
        .word 0
        .word 0x10040           ; new PSW: M = s, P = handler
        .word 0x00000fff
        .word 0

.org 0x8
start:  LI r1, upsw
        LPSW r1

.org 0x10
upsw:   .word 0x20000           ; IE = 1, M = u, P = 0
        .word 0x02000180        ; l = 0x200, b = 0x180
ticks:  .word 0
save1:  .word 0
save2:  .word 0

.org 0x40
handler:
        ST r1, save1(r0)
        ST r2, save2(r0)
        LD r1, 0(r0)
        LI r2, 24
        SHR r1, r1, r2          ; cause
        LI r2, 5
        BEQ r1, r2, timer
        LI r2, 3
        BEQ r1, r2, exit
        HALT                    ; anything else is fatal
timer:  LD r1, ticks(r0)
        ADDI r1, r1, 1
        ST r1, ticks(r0)
        LD r1, save1(r0)
        LD r2, save2(r0)
        LPSW r0
exit:   LD r1, save1(r0)
        ST r1, 0x30(r0)
        HALT

; --- the process, relocated to 0x200 ------------------------------------------------------
.org 0x200
        LI r6, 0                ; accumulator
        LI r7, 0x4000           ; outer iterations
outer:  LI r2, 0x100            ; table base (virtual)
        LI r3, 0x140            ; table end
        LI r4, 3
inner:  LD r5, 0(r2)
        MUL r5, r5, r4
        ADD r6, r6, r5
        ADDI r5, r5, 7
        ST r5, 0(r2)
        ADDI r2, r2, 1
        BNE r2, r3, inner
        ADDI r7, r7, -1
        BNE r7, r0, outer
        ADD r1, r6, r0
        SVC 0
