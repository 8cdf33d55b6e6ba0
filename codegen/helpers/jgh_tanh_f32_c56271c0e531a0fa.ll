; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_tanh_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.11.i = tail call float @llvm.fabs.f32(float %arg.a0)
  %.12.i = fmul float %.11.i, -2.000000e+00
  %.17.i = fcmp ogt float %.12.i, 0x40562E4300000000
  br i1 %.17.i, label %common.ret, label %B15073.i

B15073.i:                                         ; preds = %B0
  %.38.i = fcmp olt float %.12.i, -1.800000e+01
  br i1 %.38.i, label %common.ret, label %B15091.i

B15091.i:                                         ; preds = %B15073.i
  br label %common.ret

common.ret:                                       ; preds = %B15091.i, %B15073.i, %B0
  %_make_tanh__locals__tanh_impl_v37__make_expm1__locals__expm1_impl_v38__vphi66_0.2.0.i = phi float [ -1.800000e+01, %B15073.i ], [ %.12.i, %B15091.i ], [ 0x40562E4300000000, %B0 ]
  %.55.i = fmul float %_make_tanh__locals__tanh_impl_v37__make_expm1__locals__expm1_impl_v38__vphi66_0.2.0.i, 0x3FF7154760000000
  %.56.i = fadd float %.55.i, 0x4168000000000000
  %.57.i = fadd float %.56.i, 0xC168000000000000
  %.58.i = fmul float %.57.i, 0x3FE6300000000000
  %.59.i = fsub float %_make_tanh__locals__tanh_impl_v37__make_expm1__locals__expm1_impl_v38__vphi66_0.2.0.i, %.58.i
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
  %.74.i = bitcast float %.56.i to i32
  %.76.i = shl i32 %.74.i, 23
  %.77.i = add i32 %.76.i, 1065353216
  %.78.i = bitcast i32 %.77.i to float
  %.79.i = fmul float %.73.i, %.78.i
  %.80.i = fadd float %.78.i, -1.000000e+00
  %.81.i = fadd float %.80.i, %.79.i
  %.82.i = fneg float %.81.i
  %.83.i = fadd float %.81.i, 2.000000e+00
  %.87.i = fdiv float %.82.i, %.83.i
  %.94.i = tail call float @llvm.copysign.f32(float %.87.i, float %arg.a0)
  store float %.94.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.fabs.f32(float) #1

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.copysign.f32(float, float) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
