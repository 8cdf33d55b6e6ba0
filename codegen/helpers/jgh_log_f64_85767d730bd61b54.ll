; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_log_f64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %.108.i = fcmp oeq double %arg.a0, 0.000000e+00
  br i1 %.108.i, label %common.ret, label %B1196.i

B1196.i:                                          ; preds = %B0
  %.116.i = fcmp oeq double %arg.a0, 0x7FF0000000000000
  br i1 %.116.i, label %common.ret, label %B1212.i

B1212.i:                                          ; preds = %B1196.i
  br label %common.ret

common.ret:                                       ; preds = %B1212.i, %B1196.i, %B0
  %_make_log__locals__log_impl_v15__vphi258_0.3.0.i = phi double [ 0x7FF8000000000000, %B1212.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B1196.i ]
  %.10.i = fcmp olt double %arg.a0, 0x10000000000000
  %.17.i = fmul double %arg.a0, 0x4350000000000000
  %_make_log__locals__log_impl_v15__vphi56_0.2.0.i = select i1 %.10.i, double %.17.i, double %arg.a0
  %.29.i = bitcast double %_make_log__locals__log_impl_v15__vphi56_0.2.0.i to i64
  %.30.i = add i64 %.29.i, -4604544271217802189
  %.31.i = ashr i64 %.30.i, 52
  %0 = add nsw i64 %.31.i, -54
  %_make_log__locals__log_impl_v15__vphi110_0.2.0.v.i = select i1 %.10.i, i64 %0, i64 %.31.i
  %_make_log__locals__log_impl_v15__vphi110_0.2.0.i = sitofp i64 %_make_log__locals__log_impl_v15__vphi110_0.2.0.v.i to double
  %.100.i = fmul double %_make_log__locals__log_impl_v15__vphi110_0.2.0.i, 0x3FE62E42FEE00000
  %.32.i = and i64 %.30.i, 4503599627370495
  %.33.i = add nuw nsw i64 %.32.i, 4604544271217802189
  %.34.i = bitcast i64 %.33.i to double
  %.74.i = fadd double %.34.i, -1.000000e+00
  %.77.i = fadd double %.74.i, 2.000000e+00
  %.81.i = fdiv double %.74.i, %.77.i
  %.82.i = fmul double %.81.i, %.81.i
  %.84.i = fmul double %.82.i, 0x3FC2B584AAE78A57
  %.85.i = fadd double %.84.i, 0x3FC39FE606542DDE
  %.86.i = fmul double %.82.i, %.85.i
  %.87.i = fadd double %.86.i, 0x3FC7462B4AB2EF6B
  %.88.i = fmul double %.82.i, %.87.i
  %.89.i = fadd double %.88.i, 0x3FCC71C62E5800A1
  %.90.i = fmul double %.82.i, %.89.i
  %.91.i = fadd double %.90.i, 0x3FD2492492DF148D
  %.92.i = fmul double %.82.i, %.91.i
  %.93.i = fadd double %.92.i, 0x3FD99999999952E2
  %.94.i = fmul double %.82.i, %.93.i
  %.95.i = fadd double %.94.i, 0x3FE5555555555558
  %.96.i = fmul double %.82.i, %.95.i
  %.97.i = fsub double %.74.i, %.96.i
  %.98.i = fmul double %.81.i, %.97.i
  %.99.i = fsub double %.74.i, %.98.i
  %.101.i = fmul double %_make_log__locals__log_impl_v15__vphi110_0.2.0.i, 0x3DEA39EF35793C76
  %.102.i = fadd double %.101.i, %.99.i
  %.103.i = fadd double %.100.i, %.102.i
  %.137.i = tail call i1 @llvm.is.fpclass.f64(double %arg.a0, i32 384)
  %spec.select.i = select i1 %.137.i, double %.103.i, double %_make_log__locals__log_impl_v15__vphi258_0.3.0.i
  store double %spec.select.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f64(double, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nofree nosync nounwind speculatable willreturn memory(none) }
