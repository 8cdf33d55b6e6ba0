; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_log_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.100.i = fcmp oeq float %arg.a0, 0.000000e+00
  br i1 %.100.i, label %common.ret, label %B898.i

B898.i:                                           ; preds = %B0
  %.108.i = fcmp oeq float %arg.a0, 0x7FF0000000000000
  br i1 %.108.i, label %common.ret, label %B914.i

B914.i:                                           ; preds = %B898.i
  br label %common.ret

common.ret:                                       ; preds = %B914.i, %B898.i, %B0
  %_make_log__locals__log_impl_v11__vphi258_0.3.0.i = phi float [ 0x7FF8000000000000, %B914.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B898.i ]
  %.10.i = fcmp olt float %arg.a0, 0x3810000000000000
  %.17.i = fmul float %arg.a0, 0x4170000000000000
  %_make_log__locals__log_impl_v11__vphi56_0.2.0.i = select i1 %.10.i, float %.17.i, float %arg.a0
  %.29.i = bitcast float %_make_log__locals__log_impl_v11__vphi56_0.2.0.i to i32
  %.30.i = add i32 %.29.i, -1060439283
  %.31.i = ashr i32 %.30.i, 23
  %0 = add nsw i32 %.31.i, -24
  %_make_log__locals__log_impl_v11__vphi110_0.2.0.v.i = select i1 %.10.i, i32 %0, i32 %.31.i
  %_make_log__locals__log_impl_v11__vphi110_0.2.0.i = sitofp i32 %_make_log__locals__log_impl_v11__vphi110_0.2.0.v.i to float
  %.92.i = fmul float %_make_log__locals__log_impl_v11__vphi110_0.2.0.i, 0x3FE6300000000000
  %.32.i = and i32 %.30.i, 8388607
  %.33.i = add nuw nsw i32 %.32.i, 1060439283
  %.34.i = bitcast i32 %.33.i to float
  %.74.i = fadd float %.34.i, -1.000000e+00
  %.77.i = fadd float %.74.i, 2.000000e+00
  %.81.i = fdiv float %.74.i, %.77.i
  %.82.i = fmul float %.81.i, %.81.i
  %.84.i = fmul float %.82.i, 0x3FD2EE6100000000
  %.85.i = fadd float %.84.i, 0x3FD997C300000000
  %.86.i = fmul float %.82.i, %.85.i
  %.87.i = fadd float %.86.i, 0x3FE55555C0000000
  %.88.i = fmul float %.82.i, %.87.i
  %.89.i = fsub float %.74.i, %.88.i
  %.90.i = fmul float %.81.i, %.89.i
  %.91.i = fsub float %.74.i, %.90.i
  %.93.i = fmul float %_make_log__locals__log_impl_v11__vphi110_0.2.0.i, 0x3F2BD01060000000
  %1 = fsub float %.91.i, %.93.i
  %.95.i = fadd float %.92.i, %1
  %.129.i = tail call i1 @llvm.is.fpclass.f32(float %arg.a0, i32 384)
  %spec.select.i = select i1 %.129.i, float %.95.i, float %_make_log__locals__log_impl_v11__vphi258_0.3.0.i
  store float %spec.select.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f32(float, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
