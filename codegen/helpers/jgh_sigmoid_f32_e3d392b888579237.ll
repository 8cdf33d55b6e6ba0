; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_sigmoid_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
common.ret:
  %.11.i = tail call float @llvm.fabs.f32(float %arg.a0)
  %.12.i = fneg float %.11.i
  %.38.i = fcmp ogt float %.11.i, 1.040000e+02
  %_impl__locals__sigmoid_impl_v47__make_exp__locals__exp_impl_v48__vphi66_0.2.0.i = select i1 %.38.i, float -1.040000e+02, float %.12.i
  %.55.i = fmul float %_impl__locals__sigmoid_impl_v47__make_exp__locals__exp_impl_v48__vphi66_0.2.0.i, 0x3FF7154760000000
  %.56.i = fadd float %.55.i, 0x4168000000000000
  %.57.i = fadd float %.56.i, 0xC168000000000000
  %.58.i = fmul float %.57.i, 0x3FE6300000000000
  %.59.i = fsub float %_impl__locals__sigmoid_impl_v47__make_exp__locals__exp_impl_v48__vphi66_0.2.0.i, %.58.i
  %.60.i = fmul float %.57.i, 0x3F2BD01060000000
  %0 = fadd float %.60.i, %.59.i
  %.62.i = fmul float %0, %0
  %.64.i = fmul float %0, 0x3F56D10FC0000000
  %.65.i = fadd float %.64.i, 0x3F8120B620000000
  %.66.i = fmul float %0, %.65.i
  %.67.i = fadd float %.66.i, 0x3FA55551A0000000
  %.68.i = fmul float %0, %.67.i
  %.69.i = fadd float %.68.i, 0x3FC5554DE0000000
  %.70.i = fmul float %0, %.69.i
  %.71.i = fadd float %.70.i, 5.000000e-01
  %.72.i = fmul float %.62.i, %.71.i
  %.73.i = fadd float %0, %.72.i
  %.74.i = fadd float %.73.i, 1.000000e+00
  %.75.i = bitcast float %.56.i to i32
  %.76.i = add i32 %.75.i, -1262485504
  %.77.i = ashr i32 %.76.i, 1
  %.78.i = sub i32 %.75.i, %.77.i
  %.79.i = shl i32 %.77.i, 23
  %.80.i = add i32 %.79.i, 1065353216
  %.81.i = bitcast i32 %.80.i to float
  %.82.i = fmul float %.74.i, %.81.i
  %.83.i = shl i32 %.78.i, 23
  %.84.i = add i32 %.83.i, 1065353216
  %.85.i = bitcast i32 %.84.i to float
  %.86.i = fmul float %.82.i, %.85.i
  %.91.i = fadd float %.86.i, 1.000000e+00
  %.95.i = fdiv float 1.000000e+00, %.91.i
  %.100.i = fcmp oge float %arg.a0, 0.000000e+00
  %.115.i = fmul float %.86.i, %.95.i
  %_impl__locals__sigmoid_impl_v47__vphi118_0.2.0.i = select i1 %.100.i, float %.95.i, float %.115.i
  store float %_impl__locals__sigmoid_impl_v47__vphi118_0.2.0.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.fabs.f32(float) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
