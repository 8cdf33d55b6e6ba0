; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_exp_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fcmp ogt float %arg.a0, 8.900000e+01
  br i1 %.10.i, label %common.ret, label %B116.i

B116.i:                                           ; preds = %B0
  %.31.i = fcmp olt float %arg.a0, -1.040000e+02
  br i1 %.31.i, label %common.ret, label %B134.i

B134.i:                                           ; preds = %B116.i
  br label %common.ret

common.ret:                                       ; preds = %B134.i, %B116.i, %B0
  %_make_exp__locals__exp_impl_v3__vphi66_0.2.0.i = phi float [ -1.040000e+02, %B116.i ], [ %arg.a0, %B134.i ], [ 8.900000e+01, %B0 ]
  %.48.i = fmul float %_make_exp__locals__exp_impl_v3__vphi66_0.2.0.i, 0x3FF7154760000000
  %.49.i = fadd float %.48.i, 0x4168000000000000
  %.50.i = fadd float %.49.i, 0xC168000000000000
  %.51.i = fmul float %.50.i, 0x3FE6300000000000
  %.52.i = fsub float %_make_exp__locals__exp_impl_v3__vphi66_0.2.0.i, %.51.i
  %.53.i = fmul float %.50.i, 0x3F2BD01060000000
  %0 = fadd float %.53.i, %.52.i
  %.55.i = fmul float %0, %0
  %.57.i = fmul float %0, 0x3F56D10FC0000000
  %.58.i = fadd float %.57.i, 0x3F8120B620000000
  %.59.i = fmul float %0, %.58.i
  %.60.i = fadd float %.59.i, 0x3FA55551A0000000
  %.61.i = fmul float %0, %.60.i
  %.62.i = fadd float %.61.i, 0x3FC5554DE0000000
  %.63.i = fmul float %0, %.62.i
  %.64.i = fadd float %.63.i, 5.000000e-01
  %.65.i = fmul float %.55.i, %.64.i
  %.66.i = fadd float %0, %.65.i
  %.67.i = fadd float %.66.i, 1.000000e+00
  %.68.i = bitcast float %.49.i to i32
  %.69.i = add i32 %.68.i, -1262485504
  %.70.i = ashr i32 %.69.i, 1
  %.71.i = sub i32 %.68.i, %.70.i
  %.72.i = shl i32 %.70.i, 23
  %.73.i = add i32 %.72.i, 1065353216
  %.74.i = bitcast i32 %.73.i to float
  %.75.i = fmul float %.67.i, %.74.i
  %.76.i = shl i32 %.71.i, 23
  %.77.i = add i32 %.76.i, 1065353216
  %.78.i = bitcast i32 %.77.i to float
  %.79.i = fmul float %.75.i, %.78.i
  store float %.79.i, ptr %retptr, align 4
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
