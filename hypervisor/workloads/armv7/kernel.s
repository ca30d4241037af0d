; ARMv7-A kernel workload (docs/arm.md): exception vectors, a User-mode task, SVC calls and a
; timer IRQ, run bare from reset (SVC mode, IRQs masked, MMU off).
;
; The kernel sets the IRQ and SVC stacks, then enters the task in User mode with IRQs enabled
; by an exception return (MOVS pc, lr with SPSR = User). The task sums 1..200, reports the sum
; with SVC #1 and exits with SVC #2. The SVC handler reads the call number from the SVC word
; (LR - 4); the IRQ handler counts interrupts and returns with SUBS pc, lr, #4. The exit path
; ends on a permanently undefined word (UDF), where the machine stops.
;
; Memory: 0x000 vectors, 0x040 kernel, 0x200 task, 0x600 results (sum, calls, irqs, exits),
; 0x700 IRQ stack top, 0x800 SVC stack top.

.org 0x000
vectors: B reset
        B undef_h
        B svc_h
        B abort_h
        B abort_h
        NOP
        B irq_h
        NOP

.org 0x040
reset:  CPS #0x12               ; IRQ mode: its own SP
        MOV r13, #0x700
        CPS #0x13               ; back to SVC
        MOV r13, #0x800
        MSR spsr_fc, #0x10      ; the task runs in User mode with I = F = 0
        MOV r14, #0x200
        MOVS r15, r14           ; exception return into the task

svc_h:  STMDB r13!, {r11, r12}
        LDR r12, [r14, #-4]     ; the SVC instruction
        AND r12, r12, #0xff
        MOV r11, #0x600
        CMP r12, #2
        BEQ exit_h
        STR r0, [r11, #0]       ; SVC #1: the sum
        LDR r12, [r11, #4]
        ADD r12, r12, #1
        STR r12, [r11, #4]
        LDM r13!, {r11, r12}
        MOVS r15, r14

exit_h: LDR r12, [r11, #12]
        ADD r12, r12, #1
        STR r12, [r11, #12]
        .word 0xE7F000F0        ; UDF: stop

irq_h:  STMDB r13!, {r11, r12}
        MOV r11, #0x600
        LDR r12, [r11, #8]
        ADD r12, r12, #1
        STR r12, [r11, #8]
        LDM r13!, {r11, r12}
        SUBS pc, r14, #4

undef_h: .word 0xE7F000F0
abort_h: .word 0xE7F000F0

.org 0x200
task:   MOV r0, #0
        MOV r1, #1
loop:   ADD r0, r0, r1
        ADD r1, r1, #1
        CMP r1, #201
        BNE loop
        SVC #1
        SVC #2
