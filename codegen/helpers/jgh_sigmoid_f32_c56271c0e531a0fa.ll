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
  %_make_sigmoid__locals__sigmoid_impl_v47__make_exp__locals__exp_impl_v48__vphi70_0.2.0.i = select i1 %.38.i, float 0.000000e+00, float %.12.i
  %.59.i = fmul float %_make_sigmoid__locals__sigmoid_impl_v47__make_exp__locals__exp_impl_v48__vphi70_0.2.0.i, 0x3FF7154760000000
  %.60.i = fadd float %.59.i, 0x4168000000000000
  %.61.i = fadd float %.60.i, 0xC168000000000000
  %.62.i = fmul float %.61.i, 0x3FE6300000000000
  %.63.i = fsub float %_make_sigmoid__locals__sigmoid_impl_v47__make_exp__locals__exp_impl_v48__vphi70_0.2.0.i, %.62.i
  %.64.i = fmul float %.61.i, 0x3F2BD01060000000
  %0 = fadd float %.64.i, %.63.i
  %.66.i = fmul float %0, %0
  %.68.i = fmul float %0, 0x3F56D10FC0000000
  %.69.i = fadd float %.68.i, 0x3F8120B620000000
  %.70.i = fmul float %0, %.69.i
  %.71.i = fadd float %.70.i, 0x3FA55551A0000000
  %.72.i = fmul float %0, %.71.i
  %.73.i = fadd float %.72.i, 0x3FC5554DE0000000
  %.74.i = fmul float %0, %.73.i
  %.75.i = fadd float %.74.i, 5.000000e-01
  %.76.i = fmul float %.66.i, %.75.i
  %.77.i = fadd float %0, %.76.i
  %.78.i = fadd float %.77.i, 1.000000e+00
  %.79.i = bitcast float %.60.i to i32
  %.80.i = add i32 %.79.i, -1262485504
  %.81.i = ashr i32 %.80.i, 1
  %.82.i = sub i32 %.79.i, %.81.i
  %.83.i = shl i32 %.81.i, 23
  %.84.i = add i32 %.83.i, 1065353216
  %.85.i = bitcast i32 %.84.i to float
  %.86.i = fmul float %.78.i, %.85.i
  %.87.i = shl i32 %.82.i, 23
  %.88.i = add i32 %.87.i, 1065353216
  %.89.i = bitcast i32 %.88.i to float
  %.90.i = fmul float %.86.i, %.89.i
  %spec.select.i = select i1 %.38.i, float 0.000000e+00, float %.90.i
  %.117.i = fadd float %spec.select.i, 1.000000e+00
  %.121.i = fdiv float 1.000000e+00, %.117.i
  %.126.i = fcmp oge float %arg.a0, 0.000000e+00
  %.141.i = fmul float %spec.select.i, %.121.i
  %_make_sigmoid__locals__sigmoid_impl_v47__vphi118_0.2.0.i = select i1 %.126.i, float %.121.i, float %.141.i
  store float %_make_sigmoid__locals__sigmoid_impl_v47__vphi118_0.2.0.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.fabs.f32(float) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
